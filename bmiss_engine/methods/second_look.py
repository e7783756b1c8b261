"""The FastICA method's second look, once every unit is peeled.

A unit found late was separated from a signal with only the units before it peeled, and an
early one from a signal with none: either can carry spikes of a unit found later. Each unit's
own template is put back into the fully peeled ``z`` (n_samples, d) and its filter refined
there, against the residual of all the others. Then the near misses (sources with SIL ≥ 0.8
that failed acceptance, often two units' mixture) get the same second look, in a signal now
free of the units they were mixed with.
"""

from __future__ import annotations

import logging

import torch

from bmiss_engine.config import DecomposerConfig
from bmiss_engine.methods.units import aligned, completes, detection_unit
from bmiss_engine.results import MotorUnit
from bmiss_engine.separation.acceptance import AcceptanceRule
from bmiss_engine.separation.duplicates import rate_of_agreement, shared_fraction
from bmiss_engine.separation.fastica import contrast_by_name, fixed_point
from bmiss_engine.separation.peel import Peel, peel_off, restore
from bmiss_engine.separation.spikes import SpikeDetection, refine_by_cov

log = logging.getLogger(__name__)

# fixed-point steps of the second look: each is one pass of one vector over z (cheap next to
# the main loop's batches), and they pull a filter off the mixture it started in
_FIXED_POINT_ITER = 5
# units this clean skip the second look (on MyoGen D_15dB those it helped had SIL 0.93–0.95)
_CLEAN_SIL = 0.95
_SAME_UNIT_ROA = 0.5
# a candidate sharing more than this fraction of its discharges with a unit is part of it
_FRAGMENT_SHARE = 0.5


class SecondLook:
    """The second look on the peeled whitened data ``z`` (n_samples, d) and the preprocessed
    EMG ``x`` (n_channels, n_samples)."""

    def __init__(self, z: torch.Tensor, x: torch.Tensor, fs: float, half_window: int, config: DecomposerConfig,
                 rule: AcceptanceRule) -> None:
        self.z, self.x, self.fs, self.half_window = z, x, fs, half_window
        self.config, self.rule = config, rule

    def run(self, units: list[MotorUnit], filters: list[torch.Tensor], peels: list[Peel | None],
            near_misses: list[torch.Tensor]) -> int:
        """Refine every unit, then try the near misses; edits the lists in place and returns the
        number of units added."""
        self._refine_units(units, filters, peels)
        found = 0
        z, fs = self.z, self.fs
        # the near misses side by side: one pass over z per step serves them all
        if near_misses:
            retried_w, retried = self._refined(torch.stack(near_misses, dim=1))
        else:
            retried_w, retried = z.new_zeros((z.shape[1], 0)), []
        for j, det in enumerate(retried):
            if not self._new_unit(det, units):
                continue
            det, lag = aligned(det, self.x, self.half_window)
            log.info("second look adds a unit of %d discharges (SIL %.3f)", det.discharge_samples.size, det.sil)
            units.append(detection_unit(len(units), det, fs, lag))
            filters.append(retried_w[:, j].clone())
            peels.append(peel_off(z, torch.as_tensor(det.discharge_samples, device=z.device), self.half_window))
            found += 1
        if found:
            self._refine_units(units, filters, peels)  # the units the new ones were mixed into, once more without them
        return found

    def _new_unit(self, det: SpikeDetection, units: list[MotorUnit]) -> bool:
        """Whether a retried near miss is a unit not found yet: acceptable, no duplicate, and
        neither part of a unit found nor the discharges one misses."""
        fs = self.fs
        if not self.rule.accepts(det, fs):
            return False
        if self.rule.duplicate_of(det.discharge_samples, [u.discharge_samples for u in units], fs) is not None:
            return False
        return not any(shared_fraction(u.discharge_samples, det.discharge_samples, fs) > _FRAGMENT_SHARE
                       or completes(u, det.discharge_samples) for u in units)

    def _refine_units(self, units: list[MotorUnit], filters: list[torch.Tensor], peels: list[Peel | None]) -> None:
        z, fs = self.z, self.fs
        for j in range(len(units)):
            peel = peels[j]
            if peel is None or units[j].sil >= _CLEAN_SIL:
                continue  # a clean source has nothing of the others in it to lose
            restore(z, peel)
            w, (det,) = self._refined(filters[j][:, None])
            # the same unit, cleaner: not a neighbour the fixed-point steps drifted to
            same = rate_of_agreement(units[j].discharge_samples, det.discharge_samples, fs) >= _SAME_UNIT_ROA
            if same and self.rule.accepts(det, fs) and det.cov_isi < units[j].cov_isi:
                det, lag = aligned(det, self.x, self.half_window)
                units[j] = detection_unit(units[j].unit_id, det, fs, lag)
                filters[j] = w[:, 0].clone()
            # peeled where the main loop peels: at the aligned discharges (the window covers the lag)
            peels[j] = peel_off(z, torch.as_tensor(units[j].discharge_samples.copy(), device=z.device), self.half_window)

    def _refined(self, w: torch.Tensor) -> tuple[torch.Tensor, list[SpikeDetection]]:
        """Fixed-point steps then CoV refinement from vectors (d, K) on ``z``."""
        sep = self.config.separation
        # a view: the peel-offs made on z show in it
        stride = sep.fixed_point_stride(self.z.shape[0], self.fs)
        w1, _ = fixed_point(self.z[::stride], w.clone(), contrast_by_name(sep.contrast), None, _FIXED_POINT_ITER,
                            sep.tolerance)
        return refine_by_cov(self.z, w1, self.fs, sep.refine_steps)
