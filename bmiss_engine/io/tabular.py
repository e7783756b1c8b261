"""Bare EMG matrices: NumPy ``.npy`` and CSV. They carry no sampling rate nor grid, so the
caller gives them (``open_recording(path, grid=..., sampling_rate_hz=...)``; on the command line
``--fs-hz --grid-rows --grid-cols --ied-mm``).

``.npy``: a 2-D numeric array, (n_channels, n_samples). CSV (comma, semicolon or tab
separated, an optional header line): one row per sample, one column per channel. Either
orientation is accepted when only the other matches the grid's channel count. Channel k sits at
``grid.channel_rc[k]``. Values are in ``emg_unit`` (µV unless told).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.errors import RecordingFormatError
from bmiss_engine.io.npz import numpy_file_problem
from bmiss_engine.recording import VOLTS_PER_UNIT, ElectrodeGrid, Recording

log = logging.getLogger(__name__)

HOW_TO_DESCRIBE = (
    "give the grid and rate: open_recording(path, grid=ElectrodeGrid.full(rows, cols, ied_mm), "
    "sampling_rate_hz=...) or --grid-rows --grid-cols --ied-mm --fs-hz"
)


def read_tabular(
    path: Path, kind: str, grid: ElectrodeGrid | None, sampling_rate_hz: float | None, emg_unit: str = "uV"
) -> Recording:
    """Read a ``.npy`` (``kind="npy"``) or CSV (``kind="csv"``) matrix described by the caller."""
    if grid is None or sampling_rate_hz is None:
        raise RecordingFormatError(f"{path}: a bare {kind} matrix has no grid nor sampling rate; {HOW_TO_DESCRIBE}")
    if emg_unit not in VOLTS_PER_UNIT:
        raise RecordingFormatError(f"{path}: unknown unit {emg_unit!r}; use V, mV or uV")
    values = _load_npy(path) if kind == "npy" else _load_csv(path)
    if values.ndim != 2:
        raise RecordingFormatError(f"{path}: expected a 2-D matrix, got shape {values.shape}")
    n = grid.n_channels
    if kind == "csv":
        values = values.T  # rows are samples
    if values.shape[0] != n and values.shape[1] == n:
        values = values.T  # the other orientation after all
    if values.shape[0] != n:
        raise RecordingFormatError(
            f"{path}: {values.shape[0]} channels × {values.shape[1]} samples do not match the {n} channels of the "
            f"{grid.n_rows}×{grid.n_columns} grid"
        )
    try:
        emg_v = (values * VOLTS_PER_UNIT[emg_unit]).astype(np.float32)
        return Recording(emg_v, sampling_rate_hz, grid, {}, str(path), kind)
    except RecordingFormatError as exc:
        raise RecordingFormatError(f"{path}: {exc}") from None


def _load_npy(path: Path) -> NDArray[np.float64]:
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise RecordingFormatError(f"{path}: not a readable .npy file ({numpy_file_problem(exc)})") from None
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise RecordingFormatError(f"{path}: the array must hold real numbers, got dtype {arr.dtype}")
    return np.asarray(arr, dtype=np.float64)


def _load_csv(path: Path) -> NDArray[np.float64]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordingFormatError(f"{path}: cannot read as text ({exc})") from None
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise RecordingFormatError(f"{path}: the file holds no rows")
    best = max((",", ";", "\t"), key=lines[0].count)
    sep = best if best in lines[0] else None  # one column: split on whitespace
    first = lines[0].split(sep)
    if not _numeric(first):
        lines = lines[1:]  # a header
    try:
        rows = [[float(x) for x in ln.split(sep)] for ln in lines]
        return np.asarray(rows, dtype=np.float64)
    except ValueError as exc:
        raise RecordingFormatError(f"{path}: non-numeric or ragged rows ({exc})") from None


def _numeric(tokens: list[str]) -> bool:
    try:
        [float(t) for t in tokens]
    except ValueError:
        return False
    return True
