"""Describing a bare EMG matrix (``.csv``, ``.txt``, ``.npy``): the grid it was recorded with and
its sampling rate, which the file itself does not hold.

:func:`peek_matrix` reads only the matrix's size; :class:`ImportDialog` asks for the rest with
defaults guessed from the channel count and says why OK is disabled while rows × columns do not
match; :class:`TabularDescription` is the answer, kept in the session so the file reopens the
same way.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from bmiss_engine import ElectrodeGrid
from bmiss_engine.errors import RecordingFormatError
from bmiss_engine.io.grids import KNOWN_GRIDS, otb_grid

TABULAR_SUFFIXES = (".csv", ".txt", ".npy")
CUSTOM = ""  # grid combo data of the plain row-major grid
_UNITS = (("µV", "uV"), ("mV", "mV"), ("V", "V"))
_PREFERRED_CODES = ("GR08MM1305", "HD10MM0804")  # the most common grid of each channel count


@dataclass(frozen=True)
class MatrixShape:
    """What :func:`peek_matrix` learnt: channels and samples, and how the file lays them out."""

    n_channels: int
    n_samples: int
    rows_are_samples: bool


@dataclass(frozen=True)
class TabularDescription:
    """How to read a bare matrix. ``grid_code``: an OT Bioelettronica grid (its shape, spacing
    and channel order), or ``CUSTOM`` for ``rows`` × ``columns`` electrodes at ``ied_mm``, channel
    k at row k // columns, column k % columns."""

    grid_code: str
    rows: int
    columns: int
    ied_mm: float
    sampling_rate_hz: float
    emg_unit: str = "uV"

    def grid(self, n_channels: int) -> ElectrodeGrid:
        if self.grid_code:
            return otb_grid(self.grid_code, n_channels)
        if self.rows * self.columns != n_channels:
            raise RecordingFormatError(
                f"a {self.rows}×{self.columns} grid has {self.rows * self.columns} electrodes; "
                f"the file has {n_channels} channels"
            )
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
    return Path(path).suffix.lower() in TABULAR_SUFFIXES


def peek_matrix(path: str | Path) -> MatrixShape:
    """Channels and samples of a bare matrix, without reading its values: a ``.npy`` header, or
    the first data line and the line count of a CSV. The longer side is taken as samples."""
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
        raise RecordingFormatError(f"{path}: cannot read ({exc})") from None
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


class ImportDialog(QDialog):
    """Asks how to read a bare matrix of ``shape``; ``description()`` is the answer."""

    def __init__(self, path: str | Path, shape: MatrixShape, previous: TabularDescription | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import EMG matrix")
        self.setObjectName("import_dialog")
        self.shape = shape
        layout_of = "one row per sample" if shape.rows_are_samples else "one row per channel"
        about = QLabel(
            f"<b>{Path(path).name}</b> holds {shape.n_channels} channels × {shape.n_samples} samples "
            f"({layout_of}) but no grid nor sampling rate. Describe the recording:"
        )
        about.setWordWrap(True)

        self.grid_code = QComboBox()
        self.grid_code.addItem("Custom grid (channels row by row)", CUSTOM)
        for code in grid_codes_for(shape.n_channels):
            rows, columns, ied, _, _ = KNOWN_GRIDS[code]
            self.grid_code.addItem(f"{code} — OT Bioelettronica {rows}×{columns}, {ied:g} mm", code)
        self.grid_code.setToolTip("A known grid also fixes the channel order (which electrode each channel is)")
        self.rows = QSpinBox()
        self.columns = QSpinBox()
        for box in (self.rows, self.columns):
            box.setRange(1, 512)
        self.ied = QDoubleSpinBox()
        self.ied.setRange(0.1, 100.0)
        self.ied.setDecimals(1)
        self.ied.setSuffix(" mm")
        self.fs = QDoubleSpinBox()
        self.fs.setRange(1.0, 1_000_000.0)
        self.fs.setDecimals(1)
        self.fs.setSuffix(" Hz")
        self.unit = QComboBox()
        for title, key in _UNITS:
            self.unit.addItem(title, key)
        self.problem = QLabel("")
        self.problem.setObjectName("import_problem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #C0392B;")

        form = QFormLayout()
        form.addRow("Electrode grid", self.grid_code)
        form.addRow("Rows", self.rows)
        form.addRow("Columns", self.columns)
        form.addRow("Inter-electrode distance", self.ied)
        form.addRow("Sampling rate", self.fs)
        form.addRow("Values in", self.unit)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Open")
        self.ok_button.setObjectName("primary")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(about)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)

        self._set_defaults(previous)
        self.grid_code.currentIndexChanged.connect(self._on_code)
        for box in (self.rows, self.columns):
            box.valueChanged.connect(self._validate)
        self._on_code()

    def _set_defaults(self, previous: TabularDescription | None) -> None:
        rows, columns = guess_shape(self.shape.n_channels)
        self.rows.setValue(previous.rows if previous else rows)
        self.columns.setValue(previous.columns if previous else columns)
        self.ied.setValue(previous.ied_mm if previous else 8.0)
        self.fs.setValue(previous.sampling_rate_hz if previous else 2048.0)
        self.unit.setCurrentIndex(max(0, self.unit.findData(previous.emg_unit if previous else "uV")))
        code = previous.grid_code if previous else (self.grid_code.itemData(1) or CUSTOM)
        self.grid_code.setCurrentIndex(max(0, self.grid_code.findData(code)))

    def _on_code(self) -> None:
        code = self.grid_code.currentData()
        known = bool(code)
        if known:
            rows, columns, ied, _, _ = KNOWN_GRIDS[code]
            self.rows.setValue(rows)
            self.columns.setValue(columns)
            self.ied.setValue(ied)
        for w in (self.rows, self.columns, self.ied):
            w.setEnabled(not known)
        self._validate()

    def problem_text(self) -> str:
        """Why the description cannot be used yet, or ""."""
        if self.grid_code.currentData():
            return ""
        n = self.shape.n_channels
        electrodes = self.rows.value() * self.columns.value()
        if electrodes != n:
            return (f"{self.rows.value()} × {self.columns.value()} = {electrodes} electrodes, but the file has "
                    f"{n} channels: rows × columns must equal {n}.")
        return ""

    def _validate(self) -> None:
        text = self.problem_text()
        self.problem.setText(text)
        self.problem.setVisible(bool(text))
        self.ok_button.setEnabled(not text)

    def description(self) -> TabularDescription:
        return TabularDescription(
            str(self.grid_code.currentData() or CUSTOM), self.rows.value(), self.columns.value(),
            round(self.ied.value(), 3), round(self.fs.value(), 3), str(self.unit.currentData()),
        )
