"""Build a :class:`DecompositionResult` from what other tools store: discharge sample indices and,
where they keep them, pulse trains."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.errors import RecordingFormatError
from bmiss_engine.results import DecompositionResult, MotorUnit


def imported_result(
    path: Path,
    discharges: Sequence[NDArray[Any]],
    sampling_rate_hz: float,
    n_samples: int,
    pulse_trains: NDArray[Any] | None = None,
    unit_ids: Sequence[int] | None = None,
    file_format: str = "",
) -> DecompositionResult:
    """A result of imported units.

    Parameters
    ----------
    discharges:
        One int array per unit of 0-based sample indices (1-based files are shifted by the caller).
    n_samples:
        Length of the decomposed recording in samples.
    pulse_trains:
        float array (n_units, n_samples), or None when the file keeps none (they are then zeros,
        and SIL/PNR are not meaningful).
    unit_ids:
        Identifiers to keep; 0..n_units-1 when None.
    """
    n_units = len(discharges)
    if not (np.isfinite(sampling_rate_hz) and sampling_rate_hz > 0):
        raise RecordingFormatError(f"{path}: sampling rate must be > 0 Hz, got {sampling_rate_hz}")
    ids = list(range(n_units)) if unit_ids is None else [int(i) for i in unit_ids]
    if len(ids) != n_units or len(set(ids)) != n_units:
        raise RecordingFormatError(f"{path}: {len(ids)} unit ids for {n_units} units, or duplicate ids")
    if pulse_trains is not None:
        pulse_trains = np.asarray(pulse_trains, dtype=np.float32)
        if pulse_trains.ndim == 1:
            pulse_trains = pulse_trains[None, :]
        if pulse_trains.shape != (n_units, n_samples) and pulse_trains.T.shape == (n_units, n_samples):
            pulse_trains = pulse_trains.T
        if pulse_trains.shape != (n_units, n_samples):
            raise RecordingFormatError(
                f"{path}: pulse trains have shape {pulse_trains.shape}, expected ({n_units}, {n_samples})"
            )
    units = []
    for i, (uid, d) in enumerate(zip(ids, discharges, strict=True)):
        samples = np.asarray(d, dtype=np.float64).ravel()
        if samples.size and (not np.isfinite(samples).all() or samples.min() < 0 or samples.max() >= n_samples):
            raise RecordingFormatError(
                f"{path}: unit {uid} has discharges outside the recording (0..{n_samples - 1} samples)"
            )
        train = pulse_trains[i] if pulse_trains is not None else np.zeros(n_samples, dtype=np.float32)
        units.append(MotorUnit(uid, np.rint(samples).astype(np.int64), train, sampling_rate_hz))
    provenance = {"source": str(path), "format": file_format}
    return DecompositionResult(tuple(units), sampling_rate_hz, n_samples, None, {}, provenance)
