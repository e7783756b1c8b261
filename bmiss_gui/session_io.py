"""Files of the window's work: opening recordings (any format; bare matrices through the import
dialog) and sessions (``.bmiss``), saving sessions, and knowing whether there is unsaved work.

A session written here is the engine's :class:`bmiss_engine.io.Session`: the recording by path
and fingerprint, the current result, the decomposition's output with the edit log and the
redo branch (so undo and redo work after reopening), the decomposer settings, and the GUI's
view state (selected units, where the result starts in the recording, how a bare matrix was
described). Reading and writing run off the GUI thread (:mod:`bmiss_gui.background`).

"Unsaved" means: the result shown is not the one last saved or opened, or the MRI or the grid's
placement on it is not the one last saved or opened. Undoing back to the saved result (or
placing the grid back where it was) makes the session clean again; selecting units does not
make it dirty.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox

from bmiss_engine import BmissError, DecomposerConfig, DecompositionResult, Recording
from bmiss_engine.editing import EditHistory
from bmiss_engine.io import (
    MatrixShape,
    TabularDescription,
    is_tabular,
    load_session,
    open_recording,
    peek_matrix,
    read_result_npz,
    save_session,
)
from bmiss_engine.io import Session as SessionFile
from bmiss_engine.io.session import SESSION_SUFFIX, file_fingerprint
from bmiss_engine.review import filtered_emg
from bmiss_gui.background import run_blocking
from bmiss_gui.dialogs.import_dialog import ImportDialog

if TYPE_CHECKING:
    from bmiss_engine.anatomy import GridPlacement
    from bmiss_gui.main_window import MainWindow

log = logging.getLogger(__name__)

OPEN_FILTER = (
    "Recordings and sessions (*.bmiss *.npz *.otb+ *.otb4 *.mat *.json *.edf *.bdf *.poly5 *.rhd *.csv *.txt *.npy);;"
    "BMISS sessions (*.bmiss);;Bare matrices (*.csv *.txt *.npy);;All files (*)"
)
SESSION_FILTER = "BMISS session (*.bmiss)"
UnsavedChoice = Literal["save", "discard", "cancel"]


@dataclass(frozen=True)
class Loaded:
    """A recording read off the GUI thread, with its band-passed EMG."""

    recording: Recording
    filtered: np.ndarray


def read_recording(path: Path, options: dict[str, Any]) -> Loaded:
    """Read and band-pass a recording (runs in a worker thread)."""
    recording = open_recording(path, **options)
    return Loaded(recording, filtered_emg(recording))


def session_to_file(window: MainWindow, recording_sha256: str, session_path: str | None) -> SessionFile:
    """The engine session describing the window's work now (immutable: safe to write from
    another thread)."""
    s = window.session
    if s.recording is None or s.history is None or s.is_live:
        raise BmissError("there is no result to save yet")
    h = s.history
    files = window.files
    view_state: dict[str, Any] = {
        "application": "bmiss-gui",
        "selected_units": list(s.selected_ids),
        "offset_samples": s.offset_samples,
        "session_path": session_path,
    }
    if files.recording_description is not None:
        view_state["tabular"] = files.recording_description.as_dict()
    if window.anatomy is not None:
        view_state["mri_path"] = str(window.anatomy.source.resolve())
        view_state["grid_placement"] = window.anatomy.placed.placement.as_dict()
    return SessionFile(
        recording_path=str(Path(s.recording.source).resolve()),
        recording_sha256=recording_sha256,
        result=h.current,
        edit_log=tuple(h.log),
        settings=window.config.as_dict(),
        view_state=view_state,
        initial_result=h.initial,
        redo_log=tuple(h.redo_log),
    )


class SessionFiles(QObject):
    """Opens and saves for one main window; tracks the session's path and unsaved changes."""

    dirty_changed = Signal(bool)

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.path: Path | None = None  # the .bmiss file the work was last saved to or opened from
        self.recording_description: TabularDescription | None = None  # how a bare matrix was read
        self._saved: DecompositionResult | None = None  # the result as last saved or opened
        self._saved_anatomy: tuple[str, GridPlacement] | None = None  # the MRI and placement, likewise
        self._fingerprints: dict[tuple[str, int, int], str] = {}
        self._dirty = False
        # injectable for tests: a modal box would block them
        self.ask_unsaved: Callable[[], UnsavedChoice] = self._ask_unsaved
        self.ask_import: Callable[[Path, MatrixShape], TabularDescription | None] = self._ask_import
        s = window.session
        for signal in (s.history_changed, s.result_changed, s.live_changed, s.recording_changed):
            signal.connect(self.update_state)

    # -- state ------------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return self._dirty

    def _compute_dirty(self) -> bool:
        s = self._window.session
        if s.is_live or s.history is None:
            return False
        return s.history.current is not self._saved or self._anatomy_state() != self._saved_anatomy

    def _anatomy_state(self) -> tuple[str, GridPlacement] | None:
        """What a session saves of the MRI: its path and the grid's placement on it."""
        anatomy = self._window.anatomy
        return None if anatomy is None else (str(anatomy.source.resolve()), anatomy.placed.placement)

    def update_state(self) -> None:
        dirty = self._compute_dirty()
        changed = dirty != self._dirty
        self._dirty = dirty
        self.update_title()
        if changed:
            self.dirty_changed.emit(dirty)

    def mark_saved(self, path: Path | None) -> None:
        s = self._window.session
        self.path = path
        self._saved = s.history.current if s.history is not None else None
        self._saved_anatomy = self._anatomy_state()
        self.update_state()

    def display_name(self) -> str:
        if self.path is not None:
            return self.path.name
        rec = self._window.session.recording
        if rec is not None:
            return Path(rec.source).name or rec.source
        return ""

    def update_title(self) -> None:
        name = self.display_name()
        # Qt shows "*" at the placeholder [*] while the window is marked modified
        self._window.setWindowTitle(f"{name}[*] — BMISS" if name else "BMISS[*]")
        self._window.setWindowModified(self._dirty)

    def recording_fingerprint(self, recording: Recording) -> str:
        """SHA-256 of the recording's file, hashed once per file version (runs in a worker)."""
        path = Path(recording.source).resolve()
        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size)
        if key not in self._fingerprints:
            self._fingerprints[key] = file_fingerprint(path)
        return self._fingerprints[key]

    # -- opening ----------------------------------------------------------------------------
    def open(self, path: str | Path) -> bool:
        """Open a session (``.bmiss``) or a recording, whatever its format. Unsaved work is
        offered for saving first. On failure: a message box, and what was open stays open."""
        w = self._window
        if w.runner.is_running:
            w.show_error("Cannot open a file now", "A decomposition is running; cancel it first.")
            return False
        path = Path(path)
        if not self.confirm_discard():
            return False
        if path.suffix.lower() == SESSION_SUFFIX:
            return self.open_session(path)
        return self.open_recording(path)

    def open_session_dialog(self) -> None:
        w = self._window
        start = str(w.settings.value("last_folder", str(Path.home())))
        path, _ = QFileDialog.getOpenFileName(w, "Open session", start, SESSION_FILTER)
        if path:
            self.open(path)

    def open_recording(self, path: Path, description: TabularDescription | None = None) -> bool:
        w = self._window
        options: dict[str, Any] = {}
        if is_tabular(path):
            try:
                shape = peek_matrix(path)
            except BmissError as exc:
                w.show_error("Cannot open the recording", str(exc))
                return False
            if description is None:
                description = self.ask_import(path, shape)
                if description is None:
                    return False
            try:
                options = description.open_options(shape.n_channels)
            except (BmissError, ValueError) as exc:
                w.show_error("Cannot open the recording", f"{path}: {exc}")
                return False
        loaded = self._read(path, options)
        if loaded is None:
            return False
        self.recording_description = description if is_tabular(path) else None
        w.session.set_recording(loaded.recording, loaded.filtered)
        self.mark_saved(None)
        w._remember_recent(path)
        return True

    def open_result(self, recording_path: Path, result_path: Path) -> bool:
        """Show a result file (the engine's ``.npz``, e.g. a batch's) on its recording, as a
        fresh result to review (undo starts there) with the settings it was made with. The
        caller has offered unsaved work for saving. On failure: a message, and what was open stays."""
        w = self._window
        try:
            result = run_blocking(lambda: read_result_npz(result_path), w, f"Reading {result_path.name}…")
        except (BmissError, OSError, ValueError) as exc:
            w.show_error("Cannot open the result", str(exc))
            return False
        if not isinstance(result, DecompositionResult):  # pragma: no cover - read_result_npz's contract
            return False
        loaded = self._read(recording_path, {})
        if loaded is None:
            return False
        config = None
        try:
            config = DecomposerConfig.from_dict(dict(result.config)) if result.config else None
        except (BmissError, TypeError, ValueError):
            log.info("%s: its settings are not this version's; keeping the current ones", result_path)
        rec = loaded.recording
        # a result of a time window counts its samples from the window's start (Recording.crop)
        window = config.window_s if config is not None else None
        offset = max(0, round(window[0] * rec.sampling_rate_hz)) if window else 0
        if offset + result.n_samples > rec.n_samples:
            w.show_error("Cannot open the result", f"{result_path}: made from {result.n_samples} samples, "
                         f"but {recording_path.name} has {rec.n_samples}: not this recording's result")
            return False
        if config is not None:
            w.config = config
        self.recording_description = None
        w.session.restore(rec, EditHistory(result), offset, (), loaded.filtered)
        self.mark_saved(None)
        w.live_redraw.flush()
        w.statusBar().showMessage(f"{result.n_units} motor units from {result_path.name}", 8000)
        return True

    def _read(self, path: Path, options: dict[str, Any]) -> Loaded | None:
        w = self._window
        try:
            return run_blocking(lambda: read_recording(path, options), w, f"Reading {path.name}…")
        except BmissError as exc:
            w.show_error("Cannot open the recording", str(exc))
        except (OSError, ValueError, MemoryError) as exc:
            w.show_error("Cannot open the recording", f"{path}: {exc}")
        return None

    def open_session(self, path: Path, recovered: bool = False) -> bool:
        """Resume the work saved in ``path``. ``recovered``: an autosave after a crash, which
        stays unsaved work (its original session path, if any, becomes the current one)."""
        w = self._window
        try:
            saved = run_blocking(lambda: load_session(path), w, f"Reading {path.name}…")
        except (BmissError, OSError, ValueError) as exc:
            w.show_error("Cannot open the session", str(exc))
            return False
        recording_path = saved.locate_recording(None if recovered else path)
        if recording_path is None:
            w.show_error("Cannot open the session",
                         f"{path}: its recording {saved.recording_path} is missing or has changed since the "
                         "session was saved. Put the original file back (or beside the session file).")
            return False
        view = saved.view_state
        description = None
        options: dict[str, Any] = {}
        try:
            if isinstance(view.get("tabular"), dict):
                description = TabularDescription.from_dict(view["tabular"])
                options = description.open_options(peek_matrix(recording_path).n_channels)
            history = (EditHistory.from_log(saved.initial_result, saved.edit_log, saved.redo_log)
                       if saved.initial_result is not None else EditHistory(saved.result))
            config = DecomposerConfig.from_dict(saved.settings) if saved.settings else None
        except (BmissError, KeyError, TypeError, ValueError) as exc:
            w.show_error("Cannot open the session", f"{path}: damaged session ({exc})")
            return False
        if not _same_units(history.current, saved.result):
            # the log does not lead to the saved result (should not happen): keep the result
            log.warning("%s: the edit log does not reproduce the saved result; undo starts here", path)
            history = EditHistory(saved.result)
        loaded = self._read(recording_path, options)
        if loaded is None:
            return False
        self.recording_description = description
        if config is not None:
            w.config = config
        w.session.restore(loaded.recording, history, int(view.get("offset_samples", 0)),
                          tuple(int(i) for i in view.get("selected_units", [])), loaded.filtered)
        mri = view.get("mri_path")
        placement = _placement(view.get("grid_placement"), path)
        if isinstance(mri, str) and (w.anatomy is None or str(w.anatomy.source.resolve()) != mri
                                     or (placement is not None and w.anatomy.placed.placement != placement)):
            if Path(mri).exists():
                w.open_mri(mri, placement)
            else:
                w.statusBar().showMessage(f"The session's MRI {mri} is missing; the 3D view shows the planar model", 10000)
        # marked after the MRI: the session's own placement is not a change
        if recovered:
            original = view.get("session_path")
            self.path = Path(original) if original else None
            self._saved = None  # recovered work is unsaved until the user saves it
            self.update_state()
        else:
            self.mark_saved(path)
            w._remember_recent(path)
        w.live_redraw.flush()
        return True

    # -- saving -----------------------------------------------------------------------------
    @property
    def can_save(self) -> bool:
        s = self._window.session
        return s.recording is not None and s.history is not None and not s.is_live

    def save(self) -> bool:
        """Save to the session's file, or ask where when it has none."""
        if self.path is None:
            return self.save_as()
        return self.save_to(self.path)

    def save_as(self) -> bool:
        w = self._window
        if not self.can_save:
            return False
        folder = str(w.settings.value("last_folder", str(Path.home())))
        rec = w.session.recording
        stem = self.path.stem if self.path else (Path(rec.source).stem if rec else "session")
        path, _ = QFileDialog.getSaveFileName(w, "Save session", str(Path(folder) / f"{stem}{SESSION_SUFFIX}"),
                                              SESSION_FILTER)
        if not path:
            return False
        if not path.lower().endswith(SESSION_SUFFIX):
            path += SESSION_SUFFIX
        return self.save_to(path)

    def save_to(self, path: str | Path) -> bool:
        w = self._window
        if not self.can_save:
            return False
        path = Path(path).resolve()
        rec = w.session.recording
        assert rec is not None
        try:
            snapshot = self.snapshot(str(path), fingerprint=None)
            run_blocking(lambda: save_session(self._with_fingerprint(snapshot, rec), path), w,
                         f"Saving {path.name}…")
        except (BmissError, OSError, ValueError) as exc:
            w.show_error("Cannot save the session", f"{path}: {exc}")
            return False
        self.mark_saved(path)
        w._remember_recent(path)
        w.statusBar().showMessage(f"Saved session {path}", 5000)
        return True

    def snapshot(self, session_path: str | None, fingerprint: str | None) -> SessionFile:
        """The work now as an engine session (fingerprint "" until :meth:`_with_fingerprint`)."""
        return session_to_file(self._window, fingerprint or "", session_path)

    def _with_fingerprint(self, snapshot: SessionFile, recording: Recording) -> SessionFile:
        return replace(snapshot, recording_sha256=self.recording_fingerprint(recording))

    # -- unsaved work -----------------------------------------------------------------------
    def confirm_discard(self) -> bool:
        """True when the work may be replaced or closed: clean, saved now, or discarded."""
        if not self._dirty:
            return True
        choice = self.ask_unsaved()
        if choice == "save":
            return self.save()
        return choice == "discard"

    def _ask_unsaved(self) -> UnsavedChoice:
        box = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self._window, "Unsaved changes",
            f"Save the changes to {self.display_name() or 'this session'} before closing it?",
            box.Save | box.Discard | box.Cancel, box.Save,
        )
        return {box.Save: "save", box.Discard: "discard"}.get(answer, "cancel")  # type: ignore[return-value]

    def _ask_import(self, path: Path, shape: MatrixShape) -> TabularDescription | None:
        dialog = ImportDialog(path, shape, self.recording_description, self._window)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.description()


def _placement(value: object, path: Path) -> GridPlacement | None:
    """The grid placement a session saved (None when it saved none, or an unreadable one)."""
    if not isinstance(value, dict):
        return None
    # imported here: the anatomy package brings nibabel and scikit-image, which the window's
    # start must not wait for
    from bmiss_engine.anatomy import GridPlacement

    try:
        return GridPlacement.from_dict(value)
    except (BmissError, TypeError, ValueError) as exc:
        log.warning("%s: ignoring the saved grid placement (%s)", path, exc)
        return None


def _same_units(a: DecompositionResult, b: DecompositionResult) -> bool:
    if [u.unit_id for u in a.units] != [u.unit_id for u in b.units]:
        return False
    return all(u.status == v.status and np.array_equal(u.discharge_samples, v.discharge_samples)
               for u, v in zip(a.units, b.units, strict=True))

