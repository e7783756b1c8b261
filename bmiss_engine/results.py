"""Immutable decomposition results. Derived values (rate, CoV ISI, SIL, PNR) are properties."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.separation import quality

UnitStatus = Literal["accepted", "flagged", "rejected"]
# "blind": found by blind source separation (FastICA); "model": found through the forward
# model (the BMISS inversion, the hybrid's residual restarts, the joint method's discovery)
UnitOrigin = Literal["blind", "model"]

_MAX_ISI_S = 0.4  # intervals longer than this are pauses, not rate


def _frozen(a: NDArray[Any] | None, dtype: Any) -> Any:
    if a is None:
        return None
    arr = np.ascontiguousarray(a, dtype=dtype)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class MotorUnit:
    """One decomposed motor unit.

    Attributes
    ----------
    unit_id:
        Stable identifier within a result (not an index).
    discharge_samples:
        int64 array (n_discharges,), sorted sample indices of the discharges.
    pulse_train:
        float32 array (n_samples,), the estimated source (``s·|s|``, scaled so the mean
        discharge peak is 1).
    sampling_rate_hz:
        Sample rate of the recording it came from.
    separation_filter:
        float32 array (n_channels_used · extension_factor,), the filter that maps the
        extended, preprocessed recording to this unit's source (see ``SeparationModel``);
        None for units imported from elsewhere.
    status:
        "accepted", "flagged" or "rejected".
    source_lag_samples:
        Delay applied to the filter's output so that discharges mark the MUAP peak:
        ``pulse_train[t]`` comes from the source at ``t - source_lag_samples``.
    theta:
        Forward-model parameters of the unit (``MotorUnitParameters`` field → value in
        physical units) when the BMISS inversion estimated them, else None.
    theta_sd:
        Their uncertainty (field → standard deviation in the [0, 1] parameter scale; nan where
        not measured), or None.
    origin:
        "blind" for a unit blind source separation found, "model" for one found through the
        forward model, beyond what blind separation finds.
    """

    unit_id: int
    discharge_samples: NDArray[np.int64]
    pulse_train: NDArray[np.float32]
    sampling_rate_hz: float
    separation_filter: NDArray[np.float32] | None = None
    status: UnitStatus = "accepted"
    source_lag_samples: int = 0
    theta: dict[str, float] | None = None
    theta_sd: dict[str, float] | None = None
    origin: UnitOrigin = "blind"

    def __post_init__(self) -> None:
        d = np.unique(np.asarray(self.discharge_samples, dtype=np.int64))
        object.__setattr__(self, "discharge_samples", _frozen(d, np.int64))
        object.__setattr__(self, "pulse_train", _frozen(self.pulse_train, np.float32))
        object.__setattr__(self, "separation_filter", _frozen(self.separation_filter, np.float32))

    @property
    def n_discharges(self) -> int:
        return int(self.discharge_samples.size)

    @property
    def discharge_times_s(self) -> NDArray[np.float64]:
        return self.discharge_samples / self.sampling_rate_hz

    @cached_property
    def mean_rate_hz(self) -> float:
        return quality.mean_discharge_rate_hz(self.discharge_samples, self.sampling_rate_hz, _MAX_ISI_S)

    @cached_property
    def cov_isi(self) -> float:
        return quality.cov_isi(self.discharge_samples, int(_MAX_ISI_S * self.sampling_rate_hz))

    @cached_property
    def sil(self) -> float:
        return quality.silhouette(self.pulse_train, self.discharge_samples, self.sampling_rate_hz)

    @cached_property
    def pnr_db(self) -> float:
        return quality.pnr_db(self.pulse_train, self.discharge_samples)

    def replace(self, **changes: Any) -> MotorUnit:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, eq=False)
class SeparationModel:
    """What a fitted decomposition needs to apply its filters to another recording of the
    same grid: preprocessing settings, the channels used and the extension factor.

    A unit's source on new data is ``filter @ extended(preprocess(emg[channels]))``.
    """

    channels: tuple[int, ...]
    extension_factor: int
    band_hz: tuple[float, float]
    notch_hz: float | None
    sampling_rate_hz: float


@dataclass(frozen=True, eq=False)
class DecompositionResult:
    """All units of one decomposition, plus how it was made.

    Attributes
    ----------
    units:
        The motor units, in the order found.
    sampling_rate_hz, n_samples:
        Of the decomposed recording.
    model:
        The fitted separation model (None for imported results).
    config:
        The settings used, as plain data.
    provenance:
        Source file, device, wall time, engine version.
    """

    units: tuple[MotorUnit, ...]
    sampling_rate_hz: float
    n_samples: int
    model: SeparationModel | None = None
    config: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "units", tuple(self.units))
        ids = [u.unit_id for u in self.units]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate unit ids in result: {ids}")

    @property
    def n_units(self) -> int:
        return len(self.units)

    @property
    def accepted_units(self) -> tuple[MotorUnit, ...]:
        return tuple(u for u in self.units if u.status == "accepted")

    def unit(self, unit_id: int) -> MotorUnit:
        for u in self.units:
            if u.unit_id == unit_id:
                return u
        raise KeyError(f"no unit {unit_id}")

    def with_units(self, units: tuple[MotorUnit, ...] | list[MotorUnit]) -> DecompositionResult:
        return dataclasses.replace(self, units=tuple(units))

    def next_unit_id(self) -> int:
        return max((u.unit_id for u in self.units), default=-1) + 1
