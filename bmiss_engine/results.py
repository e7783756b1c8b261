"""Immutable decomposition results. Derived values (rate, CoV ISI, SIL, PNR) are properties."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.separation import quality

# a decomposition's units start "unreviewed"; the reviewer accepts, flags (to look at again)
# or rejects each. Result files keep the status, so files written before "unreviewed" existed
# read as they were (every unit then started "accepted").
UnitStatus = Literal["unreviewed", "accepted", "flagged", "rejected"]
UNIT_STATUSES: tuple[UnitStatus, ...] = ("unreviewed", "accepted", "flagged", "rejected")
# "blind": found by blind source separation (FastICA); "model": found through the forward
# model (the BMISS inversion, the hybrid's residual restarts); "joint": found by the joint
# method on what the jointly decoded units leave (beyond what blind separation finds)
UnitOrigin = Literal["blind", "model", "joint"]

_MAX_ISI_S = 0.4  # intervals longer than this are pauses, not rate


@dataclass(frozen=True)
class ThetaField:
    """One forward-model parameter of a unit as a reader sees it: its key in ``theta``, a
    label and unit, and the bounds of the optimiser's [0, 1] scale that ``theta_sd`` is given
    in (``forward.parameters.MotorUnitParameters.BOUNDS``; a test keeps the two equal)."""

    name: str
    label: str
    unit: str
    low: float
    high: float
    log: bool = False

    def physical_sd(self, value: float, sd_unit: float) -> float:
        """``sd_unit`` (in the [0, 1] scale) in this field's unit around ``value``: the span
        times ``sd_unit``; on a logarithmic scale the first-order value · ln(high/low) · sd."""
        if self.log:
            return float(value * math.log(self.high / self.low) * sd_unit)
        return float((self.high - self.low) * sd_unit)


THETA_FIELDS: tuple[ThetaField, ...] = (
    ThetaField("depth_mm", "Depth below the muscle surface", "mm", 0.0, 30.0),
    ThetaField("ml_mm", "Medio-lateral position from the grid centre", "mm", -40.0, 40.0),
    ThetaField("iz_mm", "Innervation zone along the fibres from the grid centre", "mm", -60.0, 60.0),
    ThetaField("cv_m_s", "Conduction velocity", "m/s", 2.5, 6.0),
    ThetaField("semi_length_neg_mm", "Fibre length towards −z", "mm", 20.0, 120.0),
    ThetaField("semi_length_pos_mm", "Fibre length towards +z", "mm", 20.0, 120.0),
    ThetaField("territory_radius_mm", "Territory radius", "mm", 0.5, 10.0),
    ThetaField("n_fibres", "Number of fibres (size)", "", 10.0, 2000.0, log=True),
)


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
        "unreviewed" (as found), "accepted", "flagged" or "rejected".
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
        forward model and "joint" for one the joint method found on the residual its decoded
        units leave: both beyond what blind separation finds.
    """

    unit_id: int
    discharge_samples: NDArray[np.int64]
    pulse_train: NDArray[np.float32]
    sampling_rate_hz: float
    separation_filter: NDArray[np.float32] | None = None
    status: UnitStatus = "unreviewed"
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

    @cached_property
    def theta_uncertainty(self) -> dict[str, float]:
        """The standard deviation of each θ value in its physical unit (field → sd; nan where
        not measured), from ``theta_sd`` (which is in the [0, 1] parameter scale); empty for
        units without θ. See :data:`THETA_FIELDS`."""
        if not self.theta or not self.theta_sd:
            return {}
        out = {}
        for f in THETA_FIELDS:
            if f.name in self.theta and f.name in self.theta_sd:
                out[f.name] = f.physical_sd(self.theta[f.name], self.theta_sd[f.name])
        return out

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
