"""The main window: docks, menus, status bar, and the wiring between them. It owns no
science: the session holds the data and makes the edits, the runner runs the engine."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QWidget,
)

from bmiss_engine import BmissError, DecomposerConfig, DecompositionResult, ElectrodeGrid, IterationState
from bmiss_engine.device import describe_device, pick_device
from bmiss_engine.io import write_result
from bmiss_gui.actions import ACTIONS, apply_icon_theme, build_actions
from bmiss_gui.autosave import Autosave
from bmiss_gui.background import run_blocking
from bmiss_gui.dialogs.decompose import DecomposeDialog
from bmiss_gui.help import AboutDialog, UserGuideDialog
from bmiss_gui.paths import demo_mri, demo_recording
from bmiss_gui.redraw import LiveView, StaggeredRedraw
from bmiss_gui.scene import planar_scene
from bmiss_gui.session import Session
from bmiss_gui.session_io import OPEN_FILTER, SessionFiles
from bmiss_gui.theme import THEMES, Theme, apply_theme
from bmiss_gui.views.anatomy3d import Anatomy3DView
from bmiss_gui.views.emg import EmgView
from bmiss_gui.views.muap_grid import MuapGridView
from bmiss_gui.views.pulse_train import PulseTrainView
from bmiss_gui.views.rates import DischargeRateView
from bmiss_gui.views.rms_map import RmsMapView
from bmiss_gui.views.units_table import UnitsTableView
from bmiss_gui.warmup import EngineWarmup
from bmiss_gui.welcome import install_welcome
from bmiss_gui.worker import DecompositionRunner

if TYPE_CHECKING:
    from bmiss_engine.anatomy import GridPlacement, PlacedGrid
    from bmiss_gui.dialogs.batch import BatchDialog
    from bmiss_gui.dialogs.grid_placement import GridPlacementDialog
    from bmiss_gui.mri import LoadedAnatomy

log = logging.getLogger(__name__)

MAX_RECENT = 8
_LAYOUT_VERSION = 2  # bump when docks are added or renamed, so old saved layouts are ignored


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        self.settings = settings if settings is not None else QSettings("BMISS", "BMISS")
        self.session = Session(self)
        self.runner = DecompositionRunner(self)
        self.config = DecomposerConfig()
        self.anatomy: LoadedAnatomy | None = None
        self.placement_dialog: GridPlacementDialog | None = None
        self.batch: BatchDialog | None = None  # made on first use; a batch runs on while it is closed
        self.files = SessionFiles(self)  # opening and saving; the title's name and unsaved mark
        self.theme: Theme = THEMES.get(str(self.settings.value("theme", "light")), THEMES["light"])
        self._run_started = 0.0
        self._device_text = ""
        self.setWindowTitle("BMISS")
        self.setObjectName("bmiss_main_window")
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self.resize(1440, 900)

        # typed handles for the views the window talks to; ``views`` names every dock's widget
        self.units_view = UnitsTableView(self.session)
        self.pulse_train_view = PulseTrainView(self.session)
        self.rates_view = DischargeRateView(self.session)
        self.muap_view = MuapGridView(self.session)
        self.anatomy_view = Anatomy3DView(self.session)
        self.views: dict[str, QWidget] = {
            "emg": EmgView(self.session),
            "rms": RmsMapView(self.session),
            "units": self.units_view,
            "pulse_train": self.pulse_train_view,
            "rates": self.rates_view,
            "muap": self.muap_view,
            "anatomy": self.anatomy_view,
        }
        self.docks = self._make_docks()
        self.action_by_name = build_actions(self, {
            "open": self.open_dialog, "open_mri": self.open_mri_dialog,
            "grid_placement": self.grid_placement_dialog, "export": self.export_dialog,
            "batch": self.batch_dialog, "quit": self.close,
            "open_session": self.files.open_session_dialog, "save_session": self.files.save,
            "save_session_as": self.files.save_as,
            "decompose": self.decompose_dialog, "cancel": self.cancel_decomposition,
            "undo": self.session.undo, "redo": self.session.redo,
            "accept": self.accept_selected, "flag": self.flag_selected,
            "reject": self.reject_selected, "delete": self.session.delete_selected,
            "merge": self.session.merge_selected,
            "theme_light": self.use_light_theme, "theme_dark": self.use_dark_theme,
            "reset_layout": self.reset_layout,
            "user_guide": self.show_user_guide, "about": self.show_about,
        })
        self._make_menus()
        self._make_status_bar()
        self._default_state = self.saveState(_LAYOUT_VERSION)
        self._restore_layout()

        self.live_redraw = StaggeredRedraw([
            LiveView(self.units_view, self.units_view.redraw),
            LiveView(self.pulse_train_view, self.pulse_train_view.redraw),
            LiveView(self.muap_view, self.muap_view.redraw),
            # all units' rates: the costliest view to redraw, and twice a second is plenty
            LiveView(self.rates_view, self.rates_view.redraw, min_interval_s=0.5),
            LiveView(self.anatomy_view, self.anatomy_view.redraw, min_interval_s=0.5),
        ], self)
        self.session.live_changed.connect(self.live_redraw.request)
        self.session.recording_changed.connect(self._on_recording)
        self.session.history_changed.connect(self.update_actions)
        self.session.selection_changed.connect(self.update_actions)
        self.session.result_changed.connect(self.update_actions)
        self.runner.snapshot.connect(self._on_snapshot)
        self.runner.finished.connect(self._on_finished)
        self.runner.cancelled.connect(self._on_cancelled)
        self.runner.failed.connect(self._on_failed)
        self.runner.running_changed.connect(self._on_running_changed)
        self._apply_theme(self.theme.name)
        self.autosave = Autosave(self)  # after the connections above: it saves what they update
        self.update_actions()
        self.welcome = install_welcome(self)  # first-run panel while no recording is open

    # -- layout ---------------------------------------------------------------------------
    def _make_docks(self) -> dict[str, QDockWidget]:
        titles = {
            "emg": "EMG channels", "rms": "RMS on the grid", "units": "Motor units",
            "pulse_train": "Pulse train", "rates": "Discharge rates", "muap": "MUAP grid",
            "anatomy": "3D anatomy",
        }
        docks = {}
        for key, title in titles.items():
            dock = QDockWidget(title, self)
            dock.setObjectName(f"dock_{key}")  # saveState finds docks by object name
            dock.setWidget(self.views[key])
            dock.setFeatures(
                QDockWidget.DockWidgetFeature.DockWidgetMovable
                | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                | QDockWidget.DockWidgetFeature.DockWidgetClosable
            )
            docks[key] = dock
        # no central widget: every view is a dock the user can move, stack or float
        placeholder = QWidget()
        placeholder.setMaximumSize(0, 0)
        self.setCentralWidget(placeholder)
        area = Qt.DockWidgetArea
        self.addDockWidget(area.LeftDockWidgetArea, docks["units"])
        self.splitDockWidget(docks["units"], docks["pulse_train"], Qt.Orientation.Horizontal)
        self.splitDockWidget(docks["pulse_train"], docks["muap"], Qt.Orientation.Horizontal)
        self.splitDockWidget(docks["units"], docks["rms"], Qt.Orientation.Vertical)
        self.splitDockWidget(docks["pulse_train"], docks["rates"], Qt.Orientation.Vertical)
        self.splitDockWidget(docks["muap"], docks["anatomy"], Qt.Orientation.Vertical)
        self.tabifyDockWidget(docks["rates"], docks["emg"])
        docks["rates"].raise_()
        self.resizeDocks([docks["units"], docks["pulse_train"], docks["muap"]], [600, 510, 330], Qt.Orientation.Horizontal)
        self.resizeDocks([docks["units"], docks["rms"]], [520, 300], Qt.Orientation.Vertical)
        self.resizeDocks([docks["muap"], docks["anatomy"]], [440, 400], Qt.Orientation.Vertical)
        return docks

    def _make_menus(self) -> None:
        a = self.action_by_name
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(a["open"])
        file_menu.addAction(a["open_mri"])
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        for key in ("open_session", "save_session", "save_session_as"):
            file_menu.addAction(a[key])
        file_menu.addAction(a["export"])
        file_menu.addSeparator()
        file_menu.addAction(a["batch"])
        file_menu.addSeparator()
        file_menu.addAction(a["quit"])
        edit_menu = self.menuBar().addMenu("&Edit")
        for item in ("undo", "redo", None, "accept", "flag", "reject", None, "merge", "delete"):
            edit_menu.addSeparator() if item is None else edit_menu.addAction(a[item])
        run_menu = self.menuBar().addMenu("&Decomposition")
        run_menu.addAction(a["decompose"])
        run_menu.addAction(a["cancel"])
        view_menu = self.menuBar().addMenu("&View")
        for dock in self.docks.values():
            view_menu.addAction(dock.toggleViewAction())
        view_menu.addSeparator()
        view_menu.addAction(a["grid_placement"])
        view_menu.addSeparator()
        for key in ("theme_light", "theme_dark"):
            a[key].setCheckable(True)
            view_menu.addAction(a[key])
        view_menu.addAction(a["reset_layout"])
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(a["user_guide"])
        help_menu.addAction(a["about"])

        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("toolbar_main")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for item in ("open", "decompose", "export", None, "undo", "redo", None, "accept", "flag", "reject"):
            toolbar.addSeparator() if item is None else toolbar.addAction(a[item])

    def _make_status_bar(self) -> None:
        bar = self.statusBar()
        self.file_label = QLabel("No recording")
        self.device_label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setFixedWidth(220)
        self.progress.setFormat("%v / %m")
        self.eta_label = QLabel("")
        self.eta_label.setFixedWidth(230)  # changing text must not re-layout the window
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_decomposition)
        for w in (self.progress, self.eta_label, self.cancel_button):
            w.ensurePolished()  # style-sheet work now, not when the first run starts
            w.hide()
        # room for the Cancel button from the start: a status bar that grows when a run
        # starts would re-layout, and repaint, every view
        bar.setMinimumHeight(self.cancel_button.sizeHint().height() + 8)
        # permanent widgets: a temporary message ("15 units in 21 s") must not hide the file
        bar.addPermanentWidget(self.file_label)
        bar.addPermanentWidget(self.eta_label)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)
        bar.addPermanentWidget(self.device_label)
        # named once the decomposer is loaded in the background (bmiss_gui/warmup.py)
        self.device_label.setText("Device: …")
        self.warmup = EngineWarmup(self)
        self.warmup.device_ready.connect(lambda _name: self._show_device(self.config.device))
        QTimer.singleShot(300, self.warmup.start)  # after the first paint

    def _restore_layout(self) -> None:
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state, _LAYOUT_VERSION)

    def save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState(_LAYOUT_VERSION))
        self.settings.sync()

    @Slot()
    def reset_layout(self) -> None:
        self.restoreState(self._default_state, _LAYOUT_VERSION)
        for dock in self.docks.values():
            dock.show()

    # -- enabling -------------------------------------------------------------------------
    @property
    def conditions(self) -> dict[str, bool]:
        s = self.session
        running = self.runner.is_running
        return {
            "always": True,
            "running": running,
            "can_decompose": s.recording is not None and not running,
            "has_recording": s.recording is not None and not running,
            "has_mri": self.anatomy is not None and not running,
            "has_result": s.result is not None and bool(s.result.units) and not running,
            "can_save": self.files.can_save and not running,
            "can_undo": s.can_edit and s.history is not None and s.history.can_undo,
            "can_redo": s.can_edit and s.history is not None and s.history.can_redo,
            "has_selection": s.can_edit and bool(s.selected_ids),
            "has_several_selected": s.can_edit and len(s.selected_ids) >= 2,
        }

    @Slot()
    def update_actions(self) -> None:
        c = self.conditions
        for spec in ACTIONS:
            self.action_by_name[spec.id].setEnabled(c[spec.enabled_when])
        h = self.session.history
        # the menu names the edit; the toolbar keeps its short label
        self.action_by_name["undo"].setText(f"&Undo {h.undo_label}" if h and h.undo_label else "&Undo")
        self.action_by_name["redo"].setText(f"&Redo {h.redo_label}" if h and h.redo_label else "&Redo")
        self.action_by_name["undo"].setIconText("Undo")
        self.action_by_name["redo"].setIconText("Redo")

    # -- files ----------------------------------------------------------------------------
    @Slot()
    def open_dialog(self) -> None:
        start = str(self.settings.value("last_folder", str(Path.home())))
        path, _ = QFileDialog.getOpenFileName(self, "Open recording or session", start, OPEN_FILTER)
        if path:
            self.open_file(path)

    def open_file(self, path: str | Path) -> bool:
        """Open a recording or a session (``.bmiss``); on failure show the engine's message and
        keep what was open. Reading runs off the GUI thread (see ``SessionFiles.open``)."""
        return self.files.open(path)

    def _remember_recent(self, path: Path) -> None:
        recent = [str(path.resolve())] + [p for p in self.recent_files() if p != str(path.resolve())]
        self.settings.setValue("recent_files", recent[:MAX_RECENT])
        self.settings.setValue("last_folder", str(path.resolve().parent))

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent_files", [])
        if isinstance(value, str):  # QSettings returns a lone string for a one-item list
            return [value]
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else []

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.recent_files():
            action = self.recent_menu.addAction(path)
            action.setData(path)
            action.triggered.connect(self._open_recent)
        if not self.recent_files():
            self.recent_menu.addAction("(none)").setEnabled(False)

    @Slot()
    def _open_recent(self) -> None:
        action = self.sender()
        if isinstance(action, QAction):
            self.open_file(str(action.data()))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            event.acceptProposedAction()
            # one recording at a time: the first file dropped is opened, once the drop is over
            # (opening runs an event loop while it reads, which a drop handler must not)
            QTimer.singleShot(0, self, lambda: self.open_file(files[0]))

    def _on_recording(self) -> None:
        rec = self.session.recording
        if rec is None:
            return
        name = Path(rec.source).name or rec.source
        self.show_scene()
        self.file_label.setText(
            f"{name}  ·  {rec.n_channels} channels on {rec.grid.n_rows}×{rec.grid.n_columns}  ·  "
            f"{rec.duration_s:.1f} s at {rec.sampling_rate_hz:g} Hz"
        )
        self.update_actions()

    def show_scene(self) -> None:
        """The 3D view's scene for the open recording: the subject's MRI with the grid placed on
        it when one is open for this grid, else the planar layers of the forward model (skin and
        fat of the decomposition settings) under the grid."""
        rec = self.session.recording
        if rec is None:
            return
        anatomy = self.anatomy
        if anatomy is not None and not _same_grid(anatomy.placed.grid, rec.grid):
            self.anatomy = None
            self.statusBar().showMessage(f"{anatomy.source.name} closed: this recording has another electrode grid", 8000)
            anatomy = None
            self.update_actions()
        if anatomy is not None:
            self.anatomy_view.set_scene(anatomy.scene())
        else:
            self.anatomy_view.set_scene(planar_scene(rec.grid, self.config.skin_mm, self.config.fat_mm))

    @Slot()
    def open_mri_dialog(self) -> None:
        start = str(self.settings.value("last_mri_folder", self.settings.value("last_folder", str(Path.home()))))
        path, _ = QFileDialog.getOpenFileName(
            self, "Open MRI (label map or T1 image; for DICOM pick one file of the series)", start,
            "MRI (*.nii *.nii.gz *.dcm);;All files (*)")
        if path:
            self.open_mri(path)

    def open_mri(self, path: str | Path, placement: GridPlacement | None = None) -> bool:
        """Read an MRI, place the open recording's grid on its skin (``placement``, else the one
        saved beside the MRI, else the default), show it in 3D and give its skin and fat under
        the grid to the forward model (hybrid and bmiss methods). On failure a message names
        the problem and what was shown stays."""
        rec = self.session.recording
        if rec is None:
            self.show_error("Open a recording first", "The MRI is placed under the recording's electrode grid.")
            return False
        if self.runner.is_running:
            self.show_error("Cannot open an MRI now", "A decomposition is running; cancel it first.")
            return False
        grid = rec.grid
        try:
            # imported here: the anatomy package brings nibabel, scikit-image and torch, which the
            # window's first paint must not wait for
            from bmiss_gui.mri import load_anatomy

            anatomy: LoadedAnatomy = run_blocking(lambda: load_anatomy(path, grid, placement), self,
                                                  f"Reading {Path(path).name} and placing the grid…")
        except BmissError as exc:
            self.show_error("Cannot use the MRI", str(exc))
            return False
        except (OSError, ValueError, MemoryError) as exc:
            self.show_error("Cannot use the MRI", f"{path}: {exc}")
            return False
        self.anatomy = anatomy
        self.config = self.config.with_layers(anatomy.skin_mm, anatomy.fat_mm)
        self.settings.setValue("last_mri_folder", str(Path(path).resolve().parent))
        self.show_scene()
        self.update_actions()
        self.files.update_state()  # a session saves the MRI: another one is unsaved work
        self.statusBar().showMessage(
            f"MRI {anatomy.source.name}: skin {anatomy.skin_mm:.1f} mm, fat {anatomy.fat_mm:.1f} mm under the grid "
            "(used by the hybrid and bmiss methods)", 10000)
        return True

    @Slot()
    def grid_placement_dialog(self) -> GridPlacementDialog | None:
        """Show the Grid placement dialog (window-modal) for the open MRI; None without one."""
        if self.anatomy is None or self.runner.is_running:
            return None
        from bmiss_gui.dialogs.grid_placement import GridPlacementDialog

        dialog = GridPlacementDialog(self.anatomy, self)
        dialog.placed_changed.connect(self.apply_placement)
        dialog.finished.connect(dialog.deleteLater)
        self.placement_dialog = dialog
        dialog.open()
        return dialog

    @Slot(object)
    def apply_placement(self, placed: PlacedGrid) -> None:
        """The grid placed elsewhere on the open MRI: the 3D view and the forward model's
        layers follow, and the session has unsaved work until it is saved (or the grid is
        placed back). Not an undo step: the undo history is the engine's log of edits to
        the result, saved with the session, and a placement is no edit of the result."""
        if self.anatomy is None or placed.grid is not self.anatomy.placed.grid:
            return  # another MRI or recording since
        self.anatomy = dataclasses.replace(self.anatomy, placed=placed)
        self.config = self.config.with_layers(self.anatomy.skin_mm, self.anatomy.fat_mm)
        self.show_scene()
        self.files.update_state()  # a session saves the placement: a new one is unsaved work
        self.statusBar().showMessage(
            f"Grid at {placed.placement.angle_deg:.0f}° around the limb, {placed.placement.axial_mm:.0f} mm along it: "
            f"skin {self.anatomy.skin_mm:.1f} mm, fat {self.anatomy.fat_mm:.1f} mm under the grid", 8000)

    # -- decomposition ----------------------------------------------------------------------
    @Slot()
    def decompose_dialog(self) -> None:
        rec = self.session.recording
        if rec is None or self.runner.is_running:
            return
        dialog = DecomposeDialog(self.config, rec.duration_s, self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        try:
            config = dialog.config()
        except BmissError as exc:
            self.show_error("Invalid settings", str(exc))
            return
        self.decompose(config)

    def decompose(self, config: DecomposerConfig) -> bool:
        """Start a decomposition of the open recording with ``config``."""
        rec = self.session.recording
        if rec is None or self.runner.is_running:
            return False
        self.config = config
        self.session.begin_decomposition(config.window_s)
        self._run_started = time.perf_counter()
        self.progress.setRange(0, config.n_iterations)
        self.progress.setValue(0)
        self.eta_label.setText("preparing…")
        self._show_device(config.device)
        self.runner.start(config, rec)
        return True

    @Slot()
    def cancel_decomposition(self) -> None:
        if self.runner.is_running:
            self.eta_label.setText("cancelling…")
            self.runner.cancel()

    @Slot(object)
    def _on_snapshot(self, state: IterationState) -> None:
        self.progress.setMaximum(state.total)
        self.progress.setValue(state.iteration)
        self.eta_label.setText(self._eta_text(state))
        self.session.show_progress(state)

    def _eta_text(self, state: IterationState) -> str:
        units = f"{len(state.units)} units"
        if state.phase != "separating" or state.iteration == 0:
            return f"{state.message or state.phase} · {units}"
        # the search may stop early (no new units), so this is an upper bound
        rate = state.elapsed_s / state.iteration
        remaining = rate * (state.total - state.iteration)
        return f"{units} · ≤ {remaining:.0f} s left"

    @Slot(object)
    def _on_finished(self, result: DecompositionResult) -> None:
        self.session.finish_decomposition(result)
        device = result.provenance.get("device", "")
        if device:
            self.device_label.setText(f"Device: {device}")
        self.statusBar().showMessage(
            f"{result.n_units} motor units in {result.provenance.get('wall_time_s', 0):.1f} s", 8000)

    @Slot(object)
    def _on_cancelled(self, state: IterationState | None) -> None:
        self.session.keep_partial(state)
        n = self.session.result.n_units if self.session.result is not None else 0
        self.statusBar().showMessage(f"Cancelled: kept the {n} units found so far", 8000)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.session.abandon_decomposition()
        self.show_error("The decomposition failed", message)

    @Slot(bool)
    def _on_running_changed(self, running: bool) -> None:
        for w in (self.progress, self.eta_label, self.cancel_button):
            w.setVisible(running)
        self.update_actions()

    def _show_device(self, requested: str) -> None:
        """The device a run with this setting will use ("auto" resolved), named as the engine does."""
        try:
            name = describe_device(pick_device(requested))
        except BmissError:
            name = f"{requested} (not available)"
        self.device_label.setText(f"Device: {name}")

    # -- batch ----------------------------------------------------------------------------
    @Slot()
    def batch_dialog(self) -> BatchDialog:
        """Show the Batch dialog (the same one each time: a batch runs on while it is closed)."""
        if self.batch is None:
            from bmiss_gui.dialogs.batch import BatchDialog

            self.batch = BatchDialog(self.config, self)
            self.batch.open_result_requested.connect(self.open_result)
        self.batch.show()
        self.batch.raise_()
        return self.batch

    @Slot(object, object)
    def open_result(self, recording_path: str | Path, result_path: str | Path) -> bool:
        """Show a decomposition saved as an engine result file (a batch's ``_result.npz``) on
        its recording, ready to review, with the settings it was made with. Unsaved work is
        offered for saving first; on failure a message names the problem and what was open stays."""
        if self.runner.is_running:
            self.show_error("Cannot open a result now", "A decomposition is running; cancel it first.")
            return False
        if not self.files.confirm_discard():
            return False
        return self.files.open_result(Path(recording_path), Path(result_path))

    # -- review ---------------------------------------------------------------------------
    @Slot()
    def accept_selected(self) -> None:
        self.session.set_status("accepted")

    @Slot()
    def flag_selected(self) -> None:
        self.session.set_status("flagged")

    @Slot()
    def reject_selected(self) -> None:
        self.session.set_status("rejected")

    # -- export ---------------------------------------------------------------------------
    @Slot()
    def export_dialog(self) -> None:
        r = self.session.result
        if r is None or self.runner.is_running:
            return
        rec = self.session.recording
        stem = Path(rec.source).stem if rec is not None else "result"
        folder = str(self.settings.value("last_folder", str(Path.home())))
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export discharges (units not rejected)", str(Path(folder) / f"{stem}_units.csv"),
            "CSV, one row per discharge (*.csv);;MATLAB, DEMUSE fields (*.mat)",
        )
        if not path:
            return
        if not Path(path).suffix:
            path += ".mat" if "mat" in chosen else ".csv"
        self.export_to(path)

    def export_to(self, path: str | Path, include_flagged: bool = True) -> bool:
        """Write the units not rejected (optionally without the flagged) to ``path``. Discharge
        samples count from the recording's start, also after a windowed decomposition."""
        r = self.session.result
        if r is None:
            return False
        keep = ("accepted", "flagged") if include_flagged else ("accepted",)
        offset = self.session.offset_samples
        units = [u.replace(discharge_samples=u.discharge_samples + offset) if offset else u
                 for u in r.units if u.status in keep]
        result = r.with_units(units)
        try:
            write_result(result, path)
        except (BmissError, OSError) as exc:
            self.show_error("Cannot export", str(exc))
            return False
        self.statusBar().showMessage(f"Wrote {len(units)} units to {path}", 8000)
        return True

    # -- look -----------------------------------------------------------------------------
    @Slot()
    def use_light_theme(self) -> None:
        self._apply_theme("light")

    @Slot()
    def use_dark_theme(self) -> None:
        self._apply_theme("dark")

    def _apply_theme(self, name: str) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            self.theme = apply_theme(app, name)
        else:
            self.theme = THEMES[name]
        for view in self.views.values():
            if hasattr(view, "apply_theme"):
                view.apply_theme(self.theme)
        apply_icon_theme(self.action_by_name, self.style(), self.theme.name == "dark", self.theme.text)
        self.action_by_name["theme_light"].setChecked(name == "light")
        self.action_by_name["theme_dark"].setChecked(name == "dark")
        self.settings.setValue("theme", name)

    # -- help -----------------------------------------------------------------------------
    def open_demo(self) -> bool:
        """The demo recording and the MRI of the limb it was simulated on."""
        if not self.open_file(demo_recording()):
            return False
        if demo_mri().is_file():
            self.open_mri(demo_mri())
        return True

    @Slot()
    def show_about(self) -> None:
        self.about_dialog = AboutDialog(self)
        self.about_dialog.show()

    @Slot()
    def show_user_guide(self) -> None:
        self.user_guide_dialog = UserGuideDialog(self)
        self.user_guide_dialog.show()

    # -- errors and closing ------------------------------------------------------------------
    def show_error(self, title: str, message: str) -> None:
        """The one place errors reach the user: a message box, never a traceback."""
        log.warning("%s: %s", title, message)
        QMessageBox.critical(self, title, message)

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.files.confirm_discard():  # Save / Discard / Cancel for unsaved work
            event.ignore()
            return
        self.runner.shutdown()
        if self.batch is not None:
            self.batch.shutdown()
        self.autosave.clean_exit()
        self.save_layout()
        self.anatomy_view.close_plotter()  # the VTK window goes before its Qt widget
        super().closeEvent(event)


def _same_grid(a: ElectrodeGrid, b: ElectrodeGrid) -> bool:
    return (a.shape == b.shape and a.ied_mm == b.ied_mm and a.fibre_axis == b.fibre_axis
            and np.array_equal(a.channel_rc, b.channel_rc))

