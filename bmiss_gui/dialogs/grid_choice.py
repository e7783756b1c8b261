"""The grid dialog of a file holding several electrode grids (``.otb+``, ``.otb4``, MUedit and
OTBioLab+ ``.mat``, BIDS EMG with several electrode groups): one row per grid with its name,
rows × columns, channel count and sampling rate; the first is chosen unless the user picks
another. The engine reads every grid (:func:`bmiss_engine.io.open_recordings`); the window
keeps the one chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtWidgets import QDialog, QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from bmiss_engine import Recording
from bmiss_gui.dialogs.buttons import ok_cancel_buttons


def grid_label(index: int, recording: Recording) -> str:
    """How a row names a grid: "Grid 2: GR10MM0808 · 8×8 · 64 channels · 2048 Hz"."""
    grid = recording.grid
    name = grid.name or "unnamed grid"
    return (f"Grid {index + 1}: {name} · {grid.n_rows}×{grid.n_columns} · {recording.n_channels} channels · "
            f"{recording.sampling_rate_hz:g} Hz")


class GridChoiceDialog(QDialog):
    """Asks which grid of ``recordings`` (those of ``path``, in the file's order) to open;
    ``grid_index()`` is the answer (from 0)."""

    def __init__(self, path: str | Path, recordings: Sequence[Recording], selected: int = 0,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose a grid")
        self.setObjectName("grid_choice_dialog")
        about = QLabel(f"<b>{Path(path).name}</b> holds {len(recordings)} electrode grids. "
                       "BMISS decomposes one grid at a time: which one?")
        about.setWordWrap(True)
        self.grids = QListWidget()
        self.grids.setObjectName("grid_list")
        for i, recording in enumerate(recordings):
            item = QListWidgetItem(grid_label(i, recording))
            item.setToolTip(f"{recording.n_samples} samples, {recording.duration_s:.1f} s")
            self.grids.addItem(item)
        self.grids.setCurrentRow(min(max(selected, 0), len(recordings) - 1))
        self.grids.itemDoubleClicked.connect(lambda _item: self.accept())
        self.buttons, self.ok_button = ok_cancel_buttons(self, "Open")
        layout = QVBoxLayout(self)
        layout.addWidget(about)
        layout.addWidget(self.grids)
        layout.addWidget(self.buttons)
        self.resize(480, 120 + 24 * min(len(recordings), 8))

    def grid_index(self) -> int:
        """The grid chosen, counted from 0."""
        return max(0, self.grids.currentRow())
