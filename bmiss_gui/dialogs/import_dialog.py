"""The import dialog of a bare EMG matrix (``.csv``, ``.txt``, ``.npy``): it asks for the grid
the matrix was recorded with and its sampling rate, which the file itself does not hold, with
defaults guessed from the channel count, and says why Open is disabled while rows × columns do
not match. What a matrix is and how a description reads it live in the engine
(:mod:`bmiss_engine.io.matrix_import`).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from bmiss_engine.io import MatrixShape, TabularDescription
from bmiss_engine.io.grids import KNOWN_GRIDS
from bmiss_engine.io.matrix_import import CUSTOM_GRID, grid_codes_for, guess_shape
from bmiss_gui.dialogs.buttons import ok_cancel_buttons

_UNITS = (("µV", "uV"), ("mV", "mV"), ("V", "V"))


def _grid_code_box(n_channels: int) -> QComboBox:
    """The custom grid, then the known grids of ``n_channels`` electrodes."""
    box = QComboBox()
    box.addItem("Custom grid (channels row by row)", CUSTOM_GRID)
    for code in grid_codes_for(n_channels):
        rows, columns, ied, _, _ = KNOWN_GRIDS[code]
        box.addItem(f"{code} — OT Bioelettronica {rows}×{columns}, {ied:g} mm", code)
    box.setToolTip("A known grid also fixes the channel order (which electrode each channel is)")
    return box


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

        self.grid_code = _grid_code_box(shape.n_channels)
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
        self.buttons, self.ok_button = ok_cancel_buttons(self, "Open")
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
        code = previous.grid_code if previous else (self.grid_code.itemData(1) or CUSTOM_GRID)
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
        return self.description().problem(self.shape.n_channels)

    def _validate(self) -> None:
        text = self.problem_text()
        self.problem.setText(text)
        self.problem.setVisible(bool(text))
        self.ok_button.setEnabled(not text)

    def description(self) -> TabularDescription:
        return TabularDescription(
            str(self.grid_code.currentData() or CUSTOM_GRID), self.rows.value(), self.columns.value(),
            round(self.ied.value(), 3), round(self.fs.value(), 3), str(self.unit.currentData()),
        )
