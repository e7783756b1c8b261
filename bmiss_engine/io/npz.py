"""The plain NumPy recording layout (``.npz``), which ``bmiss simulate`` writes and every
command reads.

Keys: ``emg`` float (n_channels, n_samples); ``fs_hz`` scalar; ``grid_shape`` (rows, cols);
``ied_mm`` scalar; optional ``channel_rc`` int (n_channels, 2), row-major order when absent;
optional ``unit`` "V", "mV" or "uV" (volts when absent); optional ``bad_channels`` int (k,);
optional ``fibre_axis`` "rows" or "columns"; any other 1-D array of n_samples is kept as an
auxiliary channel (e.g. ``force``).
"""

from __future__ import annotations

import os
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from bmiss_engine.errors import RecordingFormatError
from bmiss_engine.io.atomic import write_atomic
from bmiss_engine.recording import VOLTS_PER_UNIT, ElectrodeGrid, Recording

# what np.load raises on a damaged .npz: zip, zlib and .npy-header errors share no base class
# (NotImplementedError onwards found by damaging files: tests/engine/test_io_damaged.py)
NPZ_DAMAGE_ERRORS = (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError, SyntaxError,
                     RuntimeError,  # zipfile: "encrypted, password required"
                     tokenize.TokenError)

_LAYOUT_KEYS = {"emg", "fs_hz", "grid_shape", "ied_mm", "channel_rc", "unit", "bad_channels", "fibre_axis"}


def read_npz(path: str | os.PathLike[str]) -> Recording:
    """Read a recording in the plain layout; EMG is converted to volts."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise RecordingFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise RecordingFormatError(f"{path}: is a folder, not a recording file") from None
    except NPZ_DAMAGE_ERRORS as exc:
        raise RecordingFormatError(f"{path}: not a readable .npz file ({numpy_file_problem(exc)})") from None
    return _recording_from_arrays(data, path)


def numpy_file_problem(exc: BaseException) -> str:
    """What ``np.load`` found wrong with a file, in the user's words and on one line.

    numpy answers a file that is neither a NumPy archive nor an array (damaged, or another kind
    of file) with advice to load it "unsafely" as pickled Python objects: no advice for a user,
    since such data may run code. Object arrays get the same treatment."""
    text = " ".join(str(exc).split())
    if "pickled" in text:
        return "neither a NumPy archive nor a NumPy array: the file is damaged or of another kind"
    if "allow_pickle" in text:
        return "it holds Python objects where numbers belong; BMISS does not load those, since they could run code"
    return text or type(exc).__name__


def _scalar(data: dict[str, Any], key: str, path: Path) -> float:
    try:
        return float(np.asarray(data[key]).reshape(()))
    except KeyError:
        raise RecordingFormatError(f"{path}: missing '{key}'") from None
    except (TypeError, ValueError):
        raise RecordingFormatError(f"{path}: '{key}' must be a single number") from None


def _recording_from_arrays(data: dict[str, Any], path: Path) -> Recording:
    if "emg" not in data:
        raise RecordingFormatError(f"{path}: missing 'emg' (expected the plain .npz layout)")
    emg = np.asarray(data["emg"])
    if emg.ndim != 2:
        raise RecordingFormatError(f"{path}: 'emg' must be 2-D (channels, samples), got shape {emg.shape}")
    fs = _scalar(data, "fs_hz", path)
    ied = _scalar(data, "ied_mm", path)
    if "grid_shape" not in data:
        raise RecordingFormatError(f"{path}: missing 'grid_shape'")
    shape = np.asarray(data["grid_shape"]).ravel()
    if shape.size != 2:
        raise RecordingFormatError(f"{path}: 'grid_shape' must be (rows, columns)")
    rows, cols = int(shape[0]), int(shape[1])
    if "channel_rc" in data:
        rc = np.asarray(data["channel_rc"])
        if rc.ndim != 2 or rc.shape[1] != 2:
            raise RecordingFormatError(f"{path}: 'channel_rc' must have shape (n_channels, 2), got {rc.shape}")
    else:
        if emg.shape[0] > rows * cols:
            raise RecordingFormatError(f"{path}: {emg.shape[0]} channels do not fit a {rows}×{cols} grid")
        rc = np.stack(np.divmod(np.arange(emg.shape[0]), cols), axis=1)
    unit = str(np.asarray(data.get("unit", "V")))
    if unit not in VOLTS_PER_UNIT:
        raise RecordingFormatError(f"{path}: unknown unit {unit!r}; use V, mV or uV")
    bad = tuple(int(b) for b in np.asarray(data.get("bad_channels", []), dtype=np.int64).ravel())
    fibre_axis = str(np.asarray(data.get("fibre_axis", "rows")))
    grid = ElectrodeGrid(rows, cols, ied, rc, bad, fibre_axis, "")  # type: ignore[arg-type]
    if not np.issubdtype(emg.dtype, np.number):
        raise RecordingFormatError(f"{path}: 'emg' must hold numbers, got dtype {emg.dtype}")
    emg_v = emg.astype(np.float64) * VOLTS_PER_UNIT[unit]
    aux = {
        k: np.asarray(v, dtype=np.float32)
        for k, v in data.items()
        if k not in _LAYOUT_KEYS and np.asarray(v).ndim == 1 and np.asarray(v).shape[0] == emg.shape[1]
        and np.issubdtype(np.asarray(v).dtype, np.number)
    }
    try:
        return Recording(emg_v.astype(np.float32), fs, grid, aux, str(path), "npz")
    except RecordingFormatError as exc:
        raise RecordingFormatError(f"{path}: {exc}") from None


def write_npz(
    recording: Recording, path: str | os.PathLike[str], unit: str = "uV", dtype: type = np.float32
) -> None:
    """Write ``recording`` in the plain layout (EMG in ``unit``, as ``dtype``), atomically.

    ``dtype=np.float16`` halves the file; in µV its rounding (< 0.1 % of the value) stays
    far below the noise of any EMG amplifier.
    """
    scale = 1.0 / VOLTS_PER_UNIT[unit]
    arrays: dict[str, Any] = {
        "emg": (recording.emg_v * scale).astype(dtype),
        "fs_hz": np.float64(recording.sampling_rate_hz),
        "grid_shape": np.asarray(recording.grid.shape, dtype=np.int64),
        "ied_mm": np.float64(recording.grid.ied_mm),
        "channel_rc": recording.grid.channel_rc,
        "unit": np.asarray(unit),
        "bad_channels": np.asarray(recording.grid.bad_channels, dtype=np.int64),
        "fibre_axis": np.asarray(recording.grid.fibre_axis),
    }
    for name, values in recording.aux.items():
        if name not in arrays:
            arrays[name] = values
    save_npz_atomic(path, arrays)


def save_npz_atomic(path: str | os.PathLike[str], arrays: dict[str, Any]) -> None:
    """``np.savez_compressed`` to a temporary file in the same folder, then rename: a crash
    mid-write never leaves a half-written file under ``path``."""
    write_atomic(path, lambda fh: np.savez_compressed(fh, **arrays))
