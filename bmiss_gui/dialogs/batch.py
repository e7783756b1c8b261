"""File → Batch decompose: every recording of a study (folders, files) decomposed with one set
of settings into an output folder, by :func:`bmiss_engine.batch.run_batch` off the GUI thread.

One row per recording (status, units, wall time, error) is filled live from the engine's
progress snapshots. Cancel stops the run between snapshots: finished recordings keep their
results, and a rerun into the same folder skips them (the engine checks each result's content
hash of input and settings). A finished row's result opens in the main window.
"""

from __future__ import annotations

import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from bmiss_engine import BmissError, DecomposerConfig
from bmiss_engine.batch import (
    BatchProgress,
    BatchSummary,
    OpenOptions,
    RecordingOutcome,
    StudyEntry,
    discover_recordings,
)
from bmiss_engine.batch.summary import SUMMARY_CSV
from bmiss_gui.batch_runner import BatchRequest, BatchRunner
from bmiss_gui.dialogs.decompose import DecomposeSettings

COLUMNS = ("Recording", "Status", "Units", "Wall time (s)", "Error")
# export format → check box label (the result .npz is always written: reruns check it)
_FORMATS = (
    ("csv", "Discharges CSV"),
    ("summary", "Units summary CSV"),
    ("mat", "MATLAB .mat"),
    ("tsv", "BIDS events .tsv"),
    ("json", "openhdemg .json"),
)
_STATUS_TEXT = {"ok": "done", "skipped": "skipped", "failed": "failed", "cancelled": "cancelled"}


class BatchDialog(QDialog):
    """The Batch dialog. ``open_result_requested(recording_path, result_path, grid_index)`` asks
    the main window to show a finished recording's result on the grid the batch decomposed.
    ``run_options``: further keyword arguments of ``run_batch`` (e.g. ``scheduler``: a running
    Dask scheduler's address); the grid box sets the grid of ``options``."""

    open_result_requested = Signal(object, object, int)  # Path, Path, grid index

    def __init__(self, config: DecomposerConfig, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch decompose")
        self.setObjectName("batch_dialog")
        self.resize(820, 720)
        self.runner = BatchRunner(self)
        self.run_options: dict[str, Any] = {}
        self.entries: list[StudyEntry] = []
        self.outcomes: dict[str, RecordingOutcome] = {}
        self.summary: BatchSummary | None = None
        self.out_dir: Path | None = None
        self.grid_index = 0  # the grid the run shown decomposed, in files of several (from 0)

        files_form = self._files_form()
        self.settings = DecomposeSettings(config, None)
        settings_box = QGroupBox("Decomposition settings (every recording)")
        QVBoxLayout(settings_box).addWidget(self.settings)
        self._make_table()
        buttons = self._run_widgets()
        layout = QVBoxLayout(self)
        layout.addLayout(files_form)
        layout.addWidget(settings_box)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)

        self.runner.progress.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.running_changed.connect(self._on_running_changed)
        self._sync_buttons()

    def _files_form(self) -> QFormLayout:
        """Inputs, output folder, workers and the formats to write."""
        self.inputs = QListWidget()
        self.inputs.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.inputs.setToolTip("Folders (walked whole; a BIDS dataset by its layout) and files to decompose")
        # a few lines: folders are walked whole, so the list stays short; the table gets the room
        self.inputs.setMaximumHeight(5 * self.inputs.fontMetrics().lineSpacing() + 12)
        self.add_folder_button = QPushButton("Add folder…")
        self.add_files_button = QPushButton("Add files…")
        self.remove_button = QPushButton("Remove")
        self.add_folder_button.clicked.connect(self._add_folder)
        self.add_files_button.clicked.connect(self._add_files)
        self.remove_button.clicked.connect(self._remove_selected)
        input_buttons = QVBoxLayout()
        for b in (self.add_folder_button, self.add_files_button, self.remove_button):
            input_buttons.addWidget(b)
        input_buttons.addStretch(1)
        input_row = QHBoxLayout()
        input_row.addWidget(self.inputs, 1)
        input_row.addLayout(input_buttons)
        self.output = QLineEdit()
        self.output.setPlaceholderText("folder for the results and batch_summary.csv")
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self._choose_output)
        output_row = QHBoxLayout()
        output_row.addWidget(self.output, 1)
        output_row.addWidget(self.browse_button)
        self.workers = QSpinBox()
        self.workers.setRange(1, max(1, os.cpu_count() or 1))
        self.workers.setValue(max(1, (os.cpu_count() or 2) // 2))
        self.workers.setToolTip("Recordings decomposed at once, one worker process each (one per GPU where there are GPUs)")
        self.grid = QSpinBox()
        self.grid.setRange(1, 64)
        self.grid.setPrefix("Grid ")
        self.grid.setToolTip("Which grid to decompose in files that hold several (.otb+, .otb4, MUedit .mat, BIDS "
                             "EMG of several electrode groups); files with fewer grids fail")
        self.format_boxes: dict[str, QCheckBox] = {}
        formats_row = QHBoxLayout()
        for key, label in _FORMATS:
            box = QCheckBox(label)
            box.setChecked(key == "csv")
            self.format_boxes[key] = box
            formats_row.addWidget(box)
        formats_row.addStretch(1)
        files_form = QFormLayout()
        files_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        files_form.addRow("Recordings", input_row)
        files_form.addRow("Output folder", output_row)
        files_form.addRow("Workers", self.workers)
        files_form.addRow("Files of several grids", self.grid)
        files_form.addRow("Also write", formats_row)
        return files_form

    def _make_table(self) -> None:
        """One row per recording: status, units, wall time, error."""
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        for col in (1, 2, 3):  # status, units, wall time: as wide as their header or longest entry
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._sync_buttons)
        self.table.cellDoubleClicked.connect(self._open_row)

    def _run_widgets(self) -> QHBoxLayout:
        """The progress bar, the status line and the run's buttons (returned as a row)."""
        self.progress_bar = QProgressBar()
        self.progress_bar.setFormat("%v / %m recordings")
        self.progress_bar.setValue(0)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("primary")
        self.cancel_button = QPushButton("Cancel")
        self.open_button = QPushButton("Open result")
        self.open_button.setToolTip("Show the selected recording's result in the main window")
        self.close_button = QPushButton("Close")
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.open_button.clicked.connect(self.open_selected)
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        for b in (self.start_button, self.cancel_button, self.close_button):
            buttons.addWidget(b)
        return buttons

    # -- choosing -------------------------------------------------------------------------
    def input_paths(self) -> list[Path]:
        return [Path(self.inputs.item(i).text()) for i in range(self.inputs.count())]

    def add_inputs(self, paths: list[str | Path]) -> None:
        """Add folders or files to decompose (once each); the output folder defaults to
        ``<first input>_bmiss`` beside the first one."""
        have = {str(p) for p in self.input_paths()}
        for p in paths:
            text = str(Path(p))
            if text not in have:
                self.inputs.addItem(text)
                have.add(text)
        if not self.output.text().strip() and self.inputs.count():
            first = Path(self.inputs.item(0).text())
            base = first if first.is_dir() else first.parent
            self.output.setText(str(base.with_name(base.name + "_bmiss")))
        self._sync_buttons()

    def set_output(self, path: str | Path) -> None:
        self.output.setText(str(path))

    @Slot()
    def _add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of recordings")
        if folder:
            self.add_inputs([folder])

    @Slot()
    def _add_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add recordings")
        if files:
            self.add_inputs(list(files))

    @Slot()
    def _remove_selected(self) -> None:
        for item in self.inputs.selectedItems():
            self.inputs.takeItem(self.inputs.row(item))
        self._sync_buttons()

    @Slot()
    def _choose_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", self.output.text())
        if folder:
            self.output.setText(folder)

    def formats(self) -> tuple[str, ...]:
        return tuple(k for k, box in self.format_boxes.items() if box.isChecked())

    # -- running --------------------------------------------------------------------------
    @Slot()
    def start(self) -> bool:
        """Find the recordings, show one row each and start the run; False (and the reason
        under the table) when the choices are unusable."""
        if self.runner.is_running:
            return False
        inputs, out_text = self.input_paths(), self.output.text().strip()
        if not inputs:
            self._say("Add folders or files to decompose.", error=True)
            return False
        if not out_text:
            self._say("Choose an output folder.", error=True)
            return False
        out = Path(out_text)
        try:
            config = self.settings.config()
            entries = discover_recordings(inputs, exclude=[out])
        except BmissError as exc:
            self._say(str(exc), error=True)
            return False
        if not entries:
            self._say("No recordings found there.", error=True)
            return False
        extra = dict(self.run_options)
        given = extra.get("options")
        options = replace(given if isinstance(given, OpenOptions) else OpenOptions(), grid_index=self.grid.value() - 1)
        extra["options"] = options
        self.entries, self.outcomes, self.summary, self.out_dir = entries, {}, None, out
        self.grid_index = options.grid_index
        self.table.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            for col, text in enumerate((entry.name, "waiting", "", "", "")):
                item = QTableWidgetItem(text)
                if col in (2, 3):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if col == 0:
                    item.setToolTip(str(entry.path))
                self.table.setItem(row, col, item)
        self.progress_bar.setRange(0, len(entries))
        self.progress_bar.setValue(0)
        self._say(f"Starting {len(entries)} recordings…")
        self.runner.start(BatchRequest(tuple(inputs), out, config, self.formats(), self.workers.value(), extra))
        return True

    @Slot()
    def cancel(self) -> None:
        """Stop the run: recordings finished so far keep their results."""
        if self.runner.is_running:
            self.runner.cancel()
            self._say("Cancelling… (finished recordings keep their results)")
            self._sync_buttons()

    def shutdown(self) -> None:
        """Cancel and wait for the run to end (the main window closing)."""
        self.runner.shutdown()

    @Slot(object)
    def _on_progress(self, progress: BatchProgress) -> None:
        running = {r.recording: r for r in progress.running}
        finished = {o.recording: o for o in progress.outcomes}
        for row, entry in enumerate(self.entries):
            outcome = finished.get(entry.name)
            if outcome is not None:
                if self.outcomes.get(entry.name) != outcome:
                    self._show_outcome(row, outcome)
            elif entry.name in running:
                r = running[entry.name]
                self._set(row, 1, f"running {r.iteration}/{r.total}" if r.total else "running")
        self.progress_bar.setMaximum(progress.total)
        self.progress_bar.setValue(progress.done)
        if not self.runner.cancelling:
            cluster = f" on {progress.cluster}" if progress.cluster else ""
            self._say(f"{progress.done} of {progress.total} recordings finished{cluster}")
        self._sync_buttons()

    @Slot(object)
    def _on_finished(self, summary: BatchSummary) -> None:
        self.summary = summary
        for row, entry in enumerate(self.entries):
            try:
                self._show_outcome(row, summary.outcome(entry.name))
            except KeyError:
                continue
        self.progress_bar.setValue(sum(o.status != "cancelled" for o in summary.outcomes))
        self._say(f"{summary.totals()}. Summary: {summary.out_dir / SUMMARY_CSV}")

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._say(f"The batch failed: {message}", error=True)

    @Slot(bool)
    def _on_running_changed(self, _running: bool) -> None:
        self._sync_buttons()

    def _show_outcome(self, row: int, outcome: RecordingOutcome) -> None:
        self.outcomes[outcome.recording] = outcome
        self._set(row, 1, _STATUS_TEXT.get(outcome.status, outcome.status))
        self._set(row, 2, "" if outcome.units is None else str(outcome.units))
        wall = outcome.wall_time_s
        self._set(row, 3, "" if wall is None or math.isnan(wall) else f"{wall:.1f}")
        self._set(row, 4, outcome.error)
        error = self.table.item(row, 4)
        if error is not None:
            error.setToolTip(outcome.error)

    def _set(self, row: int, col: int, text: str) -> None:
        item = self.table.item(row, col)
        if item is not None and item.text() != text:
            item.setText(text)

    def row_texts(self, row: int) -> tuple[str, ...]:
        """The texts of a row, column by column (what the user reads)."""
        items = (self.table.item(row, c) for c in range(len(COLUMNS)))
        return tuple(item.text() if item is not None else "" for item in items)

    # -- results --------------------------------------------------------------------------
    def result_of_row(self, row: int) -> tuple[Path, Path] | None:
        """(recording, result file) of a finished row, else None."""
        if not 0 <= row < len(self.entries):
            return None
        entry = self.entries[row]
        outcome = self.outcomes.get(entry.name)
        if outcome is None or outcome.status not in ("ok", "skipped") or outcome.result is None:
            return None
        return entry.path, outcome.result

    @Slot()
    def open_selected(self) -> bool:
        return self._open_row(self.table.currentRow())

    @Slot(int, int)
    def _open_row(self, row: int, _col: int = 0) -> bool:
        found = self.result_of_row(row)
        if found is None:
            return False
        self.open_result_requested.emit(*found, self.grid_index)
        return True

    # -- look -----------------------------------------------------------------------------
    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setProperty("error", error)
        self.status.setStyleSheet("color: #c62828;" if error else "")

    @Slot()
    def _sync_buttons(self) -> None:
        running = self.runner.is_running
        for w in (self.inputs, self.add_folder_button, self.add_files_button, self.remove_button, self.output,
                  self.browse_button, self.workers, self.grid, self.settings, *self.format_boxes.values()):
            w.setEnabled(not running)
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running and not self.runner.cancelling)
        self.open_button.setEnabled(self.result_of_row(self.table.currentRow()) is not None)
