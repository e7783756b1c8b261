"""The main window: docks, menus, status bar, and the wiring between the parts. It owns no
science and little logic of its own:

- the session (:mod:`bmiss_gui.session`) holds the data and makes every edit;
- the presenter (:mod:`bmiss_gui.presenter`) feeds the passive views and routes their intents
  to the session;
- :mod:`bmiss_gui.session_io` opens and saves files, :mod:`bmiss_gui.autosave` guards unsaved
  work, :mod:`bmiss_gui.run_control` runs decompositions, :mod:`bmiss_gui.anatomy_control`
  holds the MRI, :mod:`bmiss_gui.export` writes the units out;
- :mod:`bmiss_gui.window_layout` builds the docks, menus and toolbar from
  :mod:`bmiss_gui.actions`' table.

Each part is given the few things it needs of the window (a small protocol), never the window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QSettings, QTimer, Slot
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QMessageBox

from bmiss_engine import DEFAULT_METHOD, BmissError, DecomposerConfig
from bmiss_gui.actions import ACTIONS, apply_icon_theme, build_actions, review_handlers
from bmiss_gui.anatomy_control import AnatomyControl
from bmiss_gui.autosave import Autosave
from bmiss_gui.export import ask_export_path, export_units
from bmiss_gui.help import AboutDialog, UserGuideDialog
from bmiss_gui.paths import demo_mri, demo_recording
from bmiss_gui.presenter import Presenter, Views
from bmiss_gui.recent import RecentFiles
from bmiss_gui.run_control import RunControl
from bmiss_gui.session import Session
from bmiss_gui.session_io import OPEN_FILTER, SessionFiles
from bmiss_gui.theme import THEMES, Theme, apply_theme
from bmiss_gui.welcome import install_welcome
from bmiss_gui.window_layout import make_docks, make_menus
from bmiss_gui.wording import plain
from bmiss_gui.worker import DecompositionRunner

if TYPE_CHECKING:
    from bmiss_engine.anatomy import GridPlacement
    from bmiss_gui.dialogs.batch import BatchDialog
    from bmiss_gui.dialogs.grid_placement import GridPlacementDialog
    from bmiss_gui.mri import LoadedAnatomy

log = logging.getLogger(__name__)

# closing mid-run cancels and waits this long at most for the engine to stop
CLOSE_WAIT_MS = 1500
_LAYOUT_VERSION = 3  # bump when docks are added or renamed, so old saved layouts are ignored


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        self.settings = settings if settings is not None else QSettings("BMISS", "BMISS")
        self.config = DecomposerConfig(method=DEFAULT_METHOD)
        self.session = Session(self)
        self.runner = DecompositionRunner(self)
        self.recent = RecentFiles(self.settings)
        self.batch: BatchDialog | None = None  # made on first use; a batch runs on while it is closed
        self.files = SessionFiles(self, self.session, self.recent, self)  # opening, saving, the title
        self.theme: Theme = THEMES.get(str(self.settings.value("theme", "light")), THEMES["light"])
        self.setWindowTitle("BMISS")
        self.setObjectName("bmiss_main_window")
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self.resize(1440, 900)

        # typed handles for the views the window talks to; ``views`` names every dock's widget
        views = Views.create(self.session.colors)
        self.units_view, self.pulse_train_view, self.rates_view = views.units, views.pulse_train, views.rates
        self.muap_view, self.anatomy_view = views.muap, views.anatomy
        self.views = views.by_name()
        self.presenter = Presenter(self.session, views, self)
        self.live_redraw = self.presenter.live_redraw
        self.mri = AnatomyControl(self, self.session, self.anatomy_view, self.settings, self)
        self.docks = make_docks(self, self.views)
        self.action_by_name = build_actions(self, self._handlers())
        self.recent_menu = make_menus(self, self.action_by_name, self.docks)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._make_status_bar()
        self._default_state = self.saveState(_LAYOUT_VERSION)
        self._restore_layout()
        self._connect()
        self._apply_theme(self.theme.name)
        # after the connections above: it saves what they update
        self.autosave = Autosave(self.files, self.session.history_changed, self.settings, self)
        self.autosave.failed.connect(lambda text: self.show_message(text, 30_000))
        self.update_actions()
        self.welcome = install_welcome(self, self, self.session)  # first-run panel while no recording is open

    def _handlers(self) -> dict[str, Callable[..., object]]:
        s, f = self.session, self.files
        return {
            "open": self.open_dialog, "open_mri": self.mri.open_dialog,
            "grid_placement": self.grid_placement_dialog, "export": self.export_dialog,
            "batch": self.batch_dialog, "quit": self.close,
            "open_session": f.open_session_dialog, "save_session": f.save, "save_session_as": f.save_as,
            "decompose": self.decompose_dialog, "cancel": self.cancel_decomposition,
            "undo": s.undo, "redo": s.redo, **review_handlers(s),
            "theme_light": lambda: self._apply_theme("light"), "theme_dark": lambda: self._apply_theme("dark"),
            "reset_layout": self.reset_layout, "user_guide": self.show_user_guide, "about": self.show_about,
        }

    def _make_status_bar(self) -> None:
        bar = self.statusBar()
        self.file_label = QLabel("No recording")
        # permanent widgets: a temporary message ("15 units in 21 s") must not hide the file
        bar.addPermanentWidget(self.file_label)
        self.run = RunControl(self, self.session, self.runner, self, bar)
        self.warmup = self.run.warmup
        self.device_label, self.progress = self.run.device_label, self.run.progress
        self.eta_label, self.cancel_button = self.run.eta_label, self.run.cancel_button

    def _connect(self) -> None:
        s = self.session
        s.recording_changed.connect(self._on_recording)
        for signal in (s.history_changed, s.selection_changed, s.result_changed, self.runner.running_changed,
                       self.mri.changed, s.busy_changed):
            signal.connect(self.update_actions)
        s.notice.connect(lambda text: self.show_message(text, 8000))
        self.mri.changed.connect(self.files.update_state)
        self.files.opened.connect(self.live_redraw.flush)

    # -- what the parts need of the window ---------------------------------------------------
    @property
    def busy(self) -> bool:
        """A decomposition is running."""
        return self.runner.is_running

    @property
    def anatomy(self) -> LoadedAnatomy | None:
        """The MRI open for the recording, None without one."""
        return self.mri.anatomy

    @anatomy.setter
    def anatomy(self, value: LoadedAnatomy | None) -> None:
        self.mri.anatomy = value

    @property
    def placement_dialog(self) -> GridPlacementDialog | None:
        return self.mri.placement_dialog

    def show_error(self, title: str, message: str) -> None:
        """The one place errors reach the user: a message box in plain words, never a traceback."""
        log.warning("%s: %s", title, message)
        QMessageBox.critical(self, title, plain(message))

    def show_message(self, text: str, timeout_ms: int) -> None:
        self.statusBar().showMessage(text, timeout_ms)

    # -- layout ---------------------------------------------------------------------------
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
            "can_update_filter": s.can_update_filter,
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
        self.files.open_dialog("Open recording, decomposition or session", OPEN_FILTER)

    def open_file(self, path: str | Path) -> bool:
        """Open a recording or a session (``.bmiss``); on failure show the engine's message and
        keep what was open. Reading runs off the GUI thread (see ``SessionFiles.open``)."""
        return self.files.open(path)

    def recent_files(self) -> list[str]:
        return self.recent.paths()

    def _fill_recent_menu(self) -> None:
        self.recent.fill_menu(self.recent_menu, self.open_file)

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
        if self.files.grid_index:  # a file of several grids: which one
            name += f" (grid {self.files.grid_index + 1}{': ' + rec.grid.name if rec.grid.name else ''})"
        self.mri.show_scene()
        self.file_label.setText(
            f"{name}  ·  {rec.n_channels} channels on {rec.grid.n_rows}×{rec.grid.n_columns}  ·  "
            f"{rec.duration_s:.1f} s at {rec.sampling_rate_hz:g} Hz"
        )
        self.update_actions()

    # -- MRI ------------------------------------------------------------------------------
    def open_mri(self, path: str | Path, placement: GridPlacement | None = None) -> bool:
        """Read an MRI and place the recording's grid on it (see ``AnatomyControl.open``)."""
        return self.mri.open(path, placement)

    @Slot()
    def grid_placement_dialog(self) -> GridPlacementDialog | None:
        """Show the Grid placement dialog (window-modal) for the open MRI; None without one."""
        return self.mri.placement_dialog_for_mri()

    # -- decomposition ----------------------------------------------------------------------
    @Slot()
    def decompose_dialog(self) -> None:
        config = self.run.ask_settings()
        if config is not None:
            self.decompose(config)

    def decompose(self, config: DecomposerConfig) -> bool:
        """Start a decomposition of the open recording with ``config``. Its result replaces the
        one shown and its undo history: unsaved work is offered for saving first."""
        if not self.runner.is_running and not self.files.confirm_discard(
                "before decomposing again? The new result replaces it and its undo history."):
            return False
        return self.run.start(config)

    @Slot()
    def cancel_decomposition(self) -> None:
        self.run.cancel()

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

    @Slot(object, object, int)
    def open_result(self, recording_path: str | Path, result_path: str | Path, grid_index: int = 0) -> bool:
        """Show a decomposition saved as an engine result file (a batch's ``_result.npz``) on
        grid ``grid_index`` of its recording, ready to review, with the settings it was made
        with. Unsaved work is offered for saving first; on failure a message names the problem
        and what was open stays."""
        if self.runner.is_running:
            self.show_error("Cannot open a result now", "A decomposition is running; cancel it first.")
            return False
        if not self.files.confirm_discard("before opening another file?"):
            return False
        return self.files.open_result(Path(recording_path), Path(result_path), grid_index)

    # -- export ---------------------------------------------------------------------------
    @Slot()
    def export_dialog(self) -> None:
        if self.session.result is None or self.runner.is_running:
            return
        path = ask_export_path(self, self.session.recording, self.recent.last_folder())
        if path:
            self.export_to(path)

    def export_to(self, path: str | Path, include_flagged: bool = True) -> bool:
        """Write the units not rejected (optionally without the flagged) to ``path``. Discharge
        samples count from the recording's start, also after a windowed decomposition."""
        try:
            n_units = export_units(self.session, path, include_flagged)
        except (BmissError, OSError) as exc:
            self.show_error("Cannot export", str(exc))
            return False
        if n_units is None:
            return False
        self.show_message(f"Wrote {n_units} units to {path}", 8000)
        return True

    # -- look -----------------------------------------------------------------------------
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

    # -- closing --------------------------------------------------------------------------
    @Slot(bool)
    def _close_after_run(self, running: bool) -> None:
        if not running:
            self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.files.confirm_discard():  # Save / Discard / Cancel for unsaved work
            event.ignore()
            return
        if not self.runner.shutdown(wait_ms=CLOSE_WAIT_MS):
            # the run is inside a step it cannot leave (an import, one long library call): the
            # window goes now and closes for good, releasing the thread, once the step ends
            event.ignore()
            self.hide()
            self.runner.running_changed.connect(self._close_after_run)
            return
        self.session.wait_for_filter()
        if self.batch is not None:
            self.batch.shutdown()
        self.autosave.clean_exit()
        self.save_layout()
        self.anatomy_view.close_plotter()  # the VTK window goes before its Qt widget
        super().closeEvent(event)
