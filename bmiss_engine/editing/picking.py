"""Which discharges or pulse-train peaks a box or a click on the pulse-train plot means."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.results import MotorUnit


def discharges_in_box(
    unit: MotorUnit, start_sample: float, stop_sample: float, low: float, high: float
) -> NDArray[np.int64]:
    """The unit's discharges between two samples whose pulse-train height lies in [low, high]
    (what a box drawn over the pulse-train plot encloses)."""
    d = unit.discharge_samples
    heights = unit.pulse_train[np.clip(d, 0, unit.pulse_train.size - 1)]
    inside = (d >= start_sample) & (d <= stop_sample) & (heights >= low) & (heights <= high)
    return np.asarray(d[inside], dtype=np.int64)


def largest_peak(unit: MotorUnit, start_sample: float, stop_sample: float) -> int | None:
    """The sample of the highest pulse-train value between two samples that is not already a
    discharge of the unit; None when the range holds no sample."""
    n = unit.pulse_train.size
    a, b = max(0, int(np.ceil(start_sample))), min(n, int(np.floor(stop_sample)) + 1)
    if b <= a:
        return None
    segment = np.array(unit.pulse_train[a:b], dtype=np.float64)
    taken = unit.discharge_samples[(unit.discharge_samples >= a) & (unit.discharge_samples < b)] - a
    segment[taken] = -np.inf
    if not np.isfinite(segment).any():
        return None
    return a + int(np.argmax(segment))


def discharge_near(
    unit: MotorUnit, sample: float, height: float, sample_radius: float, height_radius: float
) -> int | None:
    """The unit's discharge nearest to a point (``sample``, pulse-train ``height``) of the plot,
    if one lies within the ellipse of half-axes ``sample_radius`` and ``height_radius`` around
    it (a click's reach, in samples and pulse-train units); None when none does."""
    d = unit.discharge_samples
    if d.size == 0 or sample_radius <= 0 or height_radius <= 0:
        return None
    heights = unit.pulse_train[np.clip(d, 0, unit.pulse_train.size - 1)].astype(np.float64)
    distance = ((d - sample) / sample_radius) ** 2 + ((heights - height) / height_radius) ** 2
    nearest = int(np.argmin(distance))
    return int(d[nearest]) if distance[nearest] <= 1.0 else None
