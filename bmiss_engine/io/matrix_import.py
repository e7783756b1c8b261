"""Describing a bare EMG matrix (``.csv``, ``.txt``, ``.npy``): the grid it was recorded with and
its sampling rate, which the file itself does not hold.

:func:`peek_matrix` reads only the matrix's size (a :class:`MatrixShape`); :func:`guess_shape`
and :func:`grid_codes_for` propose a grid for its channel count; a :class:`TabularDescription`
is the answer (the desktop application's import dialog asks for it), turned into the keyword
arguments of :func:`bmiss_engine.io.open_recording` by :meth:`TabularDescription.open_options`
and kept in a session (:meth:`~TabularDescription.as_dict`) so the file reopens the same way.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bmiss_engine.errors import RecordingFormatError
from bmiss_engine.io.grids import KNOWN_GRIDS, otb_grid
from bmiss_engine.io.npz import numpy_file_problem
from bmiss_engine.recording import ElectrodeGrid

TABULAR_SUFFIXES = (".csv", ".txt", ".npy")
CUSTOM_GRID = ""  # TabularDescription.grid_code of a plain row-major grid
_PREFERRED_CODES = ("GR08MM1305", "HD10MM0804")  # the most common grid of each channel count


@dataclass(frozen=True)
class MatrixShape:
    """What :func:`peek_matrix` learnt: ``n_channels`` and ``n_samples``, and whether the file
    holds one row per sample (``rows_are_samples``) or one row per channel."""

    n_channels: int
    n_samples: int
    rows_are_samples: bool


@dataclass(frozen=True)
class TabularDescription:
    """How to read a bare matrix. ``grid_code``: an OT Bioelettronica grid (its shape, spacing
    and channel order), or :data:`CUSTOM_GRID` for ``rows`` × ``columns`` electrodes at
    ``ied_mm``, channel k at row k // columns, column k % columns. ``emg_unit``: "uV", "mV" or
    "V", what the file's values are in."""

    grid_code: str
    rows: int
    columns: int
    ied_mm: float
    sampling_rate_hz: float
    emg_unit: str = "uV"

    def problem(self, n_channels: int) -> str:
        """Why this description cannot read a matrix of ``n_channels`` channels, or ""."""
        if self.grid_code:
            return ""
        electrodes = self.rows * self.columns
        if electrodes != n_channels:
            return (f"{self.rows} × {self.columns} = {electrodes} electrodes, but the file has "
                    f"{n_channels} channels: rows × columns must equal {n_channels}.")
        return ""

    def grid(self, n_channels: int) -> ElectrodeGrid:
        """The electrode grid of a matrix of ``n_channels`` channels; raises
        :class:`RecordingFormatError` when they do not fit."""
        if self.grid_code:
            return otb_grid(self.grid_code, n_channels)
        problem = self.problem(n_channels)
        if problem:
            raise RecordingFormatError(problem)
        return ElectrodeGrid.full(self.rows, self.columns, self.ied_mm)

    def open_options(self, n_channels: int) -> dict[str, Any]:
        """Keyword arguments of ``open_recording`` for this description."""
        return {"grid": self.grid(n_channels), "sampling_rate_hz": self.sampling_rate_hz, "emg_unit": self.emg_unit}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TabularDescription:
        return cls(str(values["grid_code"]), int(values["rows"]), int(values["columns"]), float(values["ied_mm"]),
                   float(values["sampling_rate_hz"]), str(values.get("emg_unit", "uV")))


def is_tabular(path: str | Path) -> bool:
    """Whether ``path`` names a bare matrix (which needs a :class:`TabularDescription`)."""
    return Path(path).suffix.lower() in TABULAR_SUFFIXES


def peek_matrix(path: str | Path) -> MatrixShape:
    """Channels and samples of a bare matrix, without reading its values: a ``.npy`` header, or
    the first data line and the line count of a CSV. The longer side is taken as samples.
    Raises :class:`RecordingFormatError` for a file it cannot read or a ``.npy`` that is not 2-D."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".npy":
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
            if arr.ndim != 2:
                raise RecordingFormatError(f"{path}: expected a 2-D matrix, got shape {arr.shape}")
            a, b = (int(n) for n in arr.shape)
            # .npy is (channels, samples) unless the first side is clearly the longer
            return MatrixShape(b, a, True) if a > b else MatrixShape(a, b, False)
        n_columns, n_lines = _csv_size(path)
    except (OSError, ValueError) as exc:
        raise RecordingFormatError(f"{path}: cannot read ({numpy_file_problem(exc)})") from None
    if n_columns > n_lines:  # a CSV written one channel per row
        return MatrixShape(n_lines, n_columns, False)
    return MatrixShape(n_columns, n_lines, True)


def _csv_size(path: Path) -> tuple[int, int]:
    """(columns of the first line, data lines) of a text matrix; a header line is not counted."""
    n_lines, first, header = 0, "", False
    with path.open("rb") as fh:
        for raw in fh:
            if not raw.strip():
                continue
            if not first:
                first = raw.decode("utf-8-sig", errors="replace").strip()
                sep = max((",", ";", "\t"), key=first.count)
                tokens = first.split(sep if sep in first else None)
                try:
                    [float(t) for t in tokens]
                except ValueError:
                    header = True
            n_lines += 1
    if not first:
        raise ValueError("the file holds no rows")
    return len(tokens), n_lines - int(header)


def guess_shape(n_channels: int) -> tuple[int, int]:
    """Rows × columns of a grid of ``n_channels`` electrodes: the most nearly square factors,
    rows ≥ columns (64 → 8×8, 32 → 8×4, 65 → 13×5)."""
    for columns in range(math.isqrt(max(1, n_channels)), 0, -1):
        if n_channels % columns == 0:
            return n_channels // columns, columns
    return n_channels, 1


def grid_codes_for(n_channels: int) -> list[str]:
    """OT Bioelettronica grids with exactly ``n_channels`` electrodes, the most common first."""
    codes = [code for code, spec in KNOWN_GRIDS.items() if spec[3] == n_channels]
    return sorted(codes, key=lambda c: (c not in _PREFERRED_CODES, c))


__all__ = [
    "CUSTOM_GRID", "TABULAR_SUFFIXES", "MatrixShape", "TabularDescription", "grid_codes_for", "guess_shape",
    "is_tabular", "peek_matrix",
]
