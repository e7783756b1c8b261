"""DEMUSE .mat variables (Holobar's DEMUSE tool and its readers).

Recording: ``SIG``, a rows×columns cell array where ``SIG{r,c}`` is the 1×n signal of the
electrode in row r, column c (an empty cell for a missing electrode), in mV as DEMUSE's OTB
readers store it; ``fsamp`` (Hz); ``IED`` (mm); optional ``ref_signal`` (1×n, e.g. force), kept
as the auxiliary channel "ref_signal". Channels are numbered in MATLAB's column-major order of
``SIG``.

Decomposition: ``MUPulses``, a 1×n_units cell of 1-based discharge samples; ``IPTs``, the
n_units×n pulse trains. BMISS adds ``unit_id`` when it writes the file (kept on reading).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.errors import RecordingFormatError
from bmiss_engine.io.imported import imported_result
from bmiss_engine.io.matlab import MatValue, cells, scalar, vector
from bmiss_engine.io.reference import percent_of_mvc, reference_channel
from bmiss_engine.recording import ElectrodeGrid, Recording
from bmiss_engine.results import DecompositionResult

VOLTS_PER_MV = 1e-3


def has_demuse_signal(data: dict[str, MatValue]) -> bool:
    return "SIG" in data


def has_demuse_result(data: dict[str, MatValue]) -> bool:
    return "MUPulses" in data


def demuse_recording(data: dict[str, MatValue], path: Path) -> Recording:
    """The recording held in DEMUSE's ``SIG``/``fsamp``/``IED``."""
    sig = data["SIG"]
    if not (isinstance(sig, np.ndarray) and sig.dtype == object and sig.ndim == 2):
        raise RecordingFormatError(f"{path}: 'SIG' must be a cell array of rows × columns")
    rows, cols = sig.shape
    fs = scalar(data.get("fsamp"), "fsamp", path)
    if "IED" not in data:
        raise RecordingFormatError(f"{path}: DEMUSE file without 'IED' (inter-electrode distance in mm)")
    ied = scalar(data["IED"], "IED", path)
    signals, rc = [], []
    for c in range(cols):  # MATLAB's linear order: down each column
        for r in range(rows):
            values = vector(sig[r, c], f"SIG{{{r + 1},{c + 1}}}", path)
            if values.size:
                signals.append(values)
                rc.append((r, c))
    if not signals:
        raise RecordingFormatError(f"{path}: every cell of 'SIG' is empty")
    lengths = {s.size for s in signals}
    if len(lengths) != 1:
        raise RecordingFormatError(f"{path}: the channels of 'SIG' differ in length ({sorted(lengths)})")
    emg_v = np.stack(signals) * VOLTS_PER_MV
    aux = {}
    if "ref_signal" in data:
        ref = vector(data["ref_signal"], "ref_signal", path)
        if ref.size == emg_v.shape[1]:
            aux["ref_signal"] = ref.astype(np.float32)
    try:
        grid = ElectrodeGrid(rows, cols, ied, np.asarray(rc, dtype=np.int64))
        return Recording(emg_v.astype(np.float32), fs, grid, aux, str(path), "demuse")
    except RecordingFormatError as exc:
        raise RecordingFormatError(f"{path}: {exc}") from None


def demuse_result(data: dict[str, MatValue], path: Path, n_samples_hint: int | None = None) -> DecompositionResult:
    """The decomposition held in ``MUPulses`` (and ``IPTs`` when present)."""
    fs = scalar(data.get("fsamp"), "fsamp", path)
    items = cells(data["MUPulses"]) if np.asarray(data["MUPulses"]).size else []  # [] : no units
    pulses = [vector(p, "MUPulses", path) - 1 for p in items]
    ipts = None
    if "IPTs" in data and np.asarray(data["IPTs"]).size:
        ipts = np.asarray(data["IPTs"], dtype=np.float64)
    n_samples = _n_samples(data, ipts, pulses, n_samples_hint)
    ids = None
    if "unit_id" in data:
        ids = [int(i) for i in vector(data["unit_id"], "unit_id", path)]
    return imported_result(path, pulses, fs, n_samples, ipts, ids, "demuse")


def _n_samples(
    data: dict[str, MatValue], ipts: NDArray[np.float64] | None, pulses: list[NDArray[Any]], hint: int | None
) -> int:
    if ipts is not None and ipts.ndim == 2:
        n_units = len(pulses)
        return int(ipts.shape[1] if ipts.shape[0] == n_units or ipts.shape[1] != n_units else ipts.shape[0])
    if hint is not None:
        return hint
    if "SIG" in data:
        for c in cells(data["SIG"]):
            if np.asarray(c).size:
                return int(np.asarray(c).size)
    return int(max((p.max() for p in pulses if p.size), default=0)) + 1


def demuse_variables(
    result: DecompositionResult, recording: Recording | None = None, ref_mvc: float | None = None
) -> dict[str, Any]:
    """DEMUSE's variables for ``scipy.io.savemat``: ``MUPulses``, ``IPTs``, ``fsamp`` and, with a
    recording, ``SIG``, ``IED`` and ``ref_signal``: its reference channel
    (:func:`~bmiss_engine.io.reference.reference_channel`) in % MVC, as openhdemg's DEMUSE loader
    takes it (:func:`~bmiss_engine.io.reference.percent_of_mvc`; ``ref_mvc`` in the channel's
    unit, else % of the channel's peak). DEMUSE draws it rescaled, whatever its unit."""
    n = len(result.units)
    pulses = np.empty((1, n), dtype=object)
    for i, u in enumerate(result.units):
        pulses[0, i] = (u.discharge_samples + 1).astype(np.float64)[None, :]
    ipts = np.stack([u.pulse_train for u in result.units]) if n else np.zeros((0, result.n_samples))
    out: dict[str, Any] = {
        "MUPulses": pulses,
        "IPTs": ipts.astype(np.float64),
        "fsamp": float(result.sampling_rate_hz),
        "unit_id": np.asarray([u.unit_id for u in result.units], dtype=np.float64),
    }
    if recording is not None:
        g = recording.grid
        sig = np.empty(g.shape, dtype=object)
        for idx in np.ndindex(g.shape):
            sig[idx] = np.zeros((0, 0))
        for k, (r, c) in enumerate(g.channel_rc):
            sig[r, c] = (recording.emg_v[k].astype(np.float64) / VOLTS_PER_MV)[None, :]
        out["SIG"] = sig
        out["IED"] = float(g.ied_mm)
        reference = reference_channel(recording)
        if reference is not None:
            out["ref_signal"] = percent_of_mvc(reference[1], ref_mvc)[None, :]
    return out
