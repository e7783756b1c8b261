"""The one acceptance rule of every decomposition method: when a detected source is a motor
unit, and when it is a unit already found."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.separation.duplicates import rate_of_agreement
from bmiss_engine.separation.spikes import SpikeDetection, meets_acceptance


@dataclass(frozen=True)
class AcceptanceRule:
    """sil_threshold, min_discharges, max_cov_isi: what a unit must meet
    (:func:`~bmiss_engine.separation.spikes.meets_acceptance`); duplicate_roa: the rate of
    agreement above which two discharge trains are one unit."""

    sil_threshold: float
    min_discharges: int
    max_cov_isi: float | None
    duplicate_roa: float

    def accepts(self, det: SpikeDetection, sampling_rate_hz: float) -> bool:
        """Whether ``det`` is a motor unit."""
        return meets_acceptance(det, self.sil_threshold, self.min_discharges, self.max_cov_isi, sampling_rate_hz)

    def duplicate_of(
        self, discharge_samples: NDArray[np.int64], trains: Sequence[NDArray[np.int64]], sampling_rate_hz: float,
        max_lag_s: float = 0.010,
    ) -> int | None:
        """Index of the first of ``trains`` that ``discharge_samples`` repeat (RoA above
        ``duplicate_roa`` after the best lag within ``max_lag_s``), or None."""
        for i, train in enumerate(trains):
            if rate_of_agreement(train, discharge_samples, sampling_rate_hz, max_lag_s=max_lag_s) > self.duplicate_roa:
                return i
        return None
