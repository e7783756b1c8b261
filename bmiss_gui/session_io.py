"""Files of the window's work: opening recordings (any format; bare matrices through the import
dialog, files of several grids through the grid dialog), results (ours, and other tools'
decompositions: with their EMG, or on a recording when they hold only discharges) and sessions
(``.bmiss``), saving sessions, and knowing whether there is unsaved work.

A session written here is the engine's :class:`bmiss_engine.io.Session`: the recording by path
and fingerprint, the current result, the decomposition's output with the edit log and the
redo branch (so undo and redo work after reopening), the decomposer settings, and the GUI's
view state (selected units, where the result starts in the recording, how a bare matrix was
described, which grid of its file, the MRI and the grid's placement on it). Reading and writing run off the GUI thread
(:mod:`bmiss_gui.background`).

"Unsaved" means: the result shown is not the one last saved or opened, or the MRI or the grid's
placement on it is not the one last saved or opened. Undoing back to the saved result (or
placing the grid back where it was) makes the session clean again; selecting units does not
make it dirty. Unsaved work is offered for saving before anything replaces it, and a save over
a session file that another window wrote since this one opened it asks first
(:mod:`bmiss_gui.file_guard`).

:class:`SessionFiles` talks to the window through :class:`FilesHost`, the few things it needs
of it; the session (the controller) and the recent-files list are given to it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QDialog, QFileDialog, QWidget

from bmiss_engine import BmissError, DecomposerConfig, DecompositionResult, Recording
from bmiss_engine.editing import EditHistory
from bmiss_engine.io import (
    MatrixShape,
    TabularDescription,
    discharges_beside,
    is_result_npz,
    is_tabular,
    is_unit_summary,
    load_session,
    open_recording,
    open_recordings,
    open_recordings_with_units,
    open_result,
    peek_matrix,
    save_session,
    table_columns,
)
from bmiss_engine.io import Session as SessionFile
from bmiss_engine.io.registry import pick_grid
from bmiss_engine.io.session import SESSION_SUFFIX, file_fingerprint
from bmiss_engine.review import filtered_emg
from bmiss_gui.background import run_blocking
from bmiss_gui.dialogs.grid_choice import GridChoiceDialog
from bmiss_gui.dialogs.import_dialog import ImportDialog
from bmiss_gui.file_guard import DiskStamp, OverwriteChoice, UnsavedChoice, ask_overwrite, ask_unsaved
from bmiss_gui.recent import RecentFiles
from bmiss_gui.session import Session
from bmiss_gui.session_file import SavedWork, saved_placement, session_to_file

if TYPE_CHECKING:
    from bmiss_engine.anatomy import GridPlacement
    from bmiss_gui.mri import LoadedAnatomy

log = logging.getLogger(__name__)

OPEN_FILTER = (
    "Recordings, decompositions and sessions (*.bmiss *.npz *.otb+ *.otb4 *.mat *.json *.edf *.bdf *.poly5 *.rhd "
    "*.csv *.tsv *.txt *.npy);;"
    "BMISS sessions (*.bmiss);;BMISS results (*.npz *_summary.csv);;"
    "Decompositions of other tools (*.mat *.json *.csv *.tsv);;"
    "Bare matrices (*.csv *.txt *.npy);;All files (*)"
)
# recordings that can hold another tool's units beside the EMG: DEMUSE, MUedit, OTBioLab+ .mat; openhdemg .json
WITH_DECOMPOSITION = (".mat", ".json")
# the discharge tables: BMISS's discharge CSV, BIDS events (no EMG: the recording is asked for)
DISCHARGE_TABLES = (".csv", ".tsv")
SESSION_FILTER = "BMISS session (*.bmiss)"
BEFORE_CLOSING = "before closing it?"
T = TypeVar("T")


class FilesHost(Protocol):
    """What opening and saving need of the window: the decomposition settings (saved with the
    work, restored with it), the MRI (likewise), whether a run is going on, and a way to tell
    the user."""

    config: DecomposerConfig

    @property
    def anatomy(self) -> LoadedAnatomy | None: ...

    @property
    def busy(self) -> bool: ...

    def open_mri(self, path: str | Path, placement: GridPlacement | None = None) -> bool: ...

    def show_error(self, title: str, message: str) -> None: ...

    def show_message(self, text: str, timeout_ms: int) -> None: ...


@dataclass(frozen=True)
class Loaded:
    """A recording read off the GUI thread, with its band-passed EMG: grid ``grid_index`` of its
    file and, when the file also holds another tool's decomposition, that ``result``."""

    recording: Recording
    filtered: np.ndarray
    grid_index: int = 0
    result: DecompositionResult | None = None


def read_recording(path: Path, options: dict[str, Any]) -> Loaded:
    """Read and band-pass a recording (runs in a worker thread); ``options`` are those of
    ``open_recording`` (``grid_index`` among them)."""
    recording = open_recording(path, **options)
    return Loaded(recording, filtered_emg(recording), int(options.get("grid_index", 0)))


def prepare(recording: Recording, grid_index: int, result: DecompositionResult | None) -> Loaded:
    """Grid ``grid_index`` of a file, band-passed, with the units its file keeps beside it
    (``result``; one without units counts as none). Runs in a worker thread."""
    return Loaded(recording, filtered_emg(recording), grid_index, result if result is not None and result.units else None)


def is_discharge_table(path: Path) -> bool:
    """Whether ``path`` is a table of discharges (a ``.csv`` or ``.tsv`` whose header names
    ``unit_id`` and ``sample``: BMISS's discharge CSV, BIDS events), not an EMG matrix."""
    return path.suffix.lower() in DISCHARGE_TABLES and {"unit_id", "sample"} <= table_columns(path)


def result_config(result: DecompositionResult, source: Path) -> DecomposerConfig | None:
    """The settings a result was made with, when they are this version's (imported units have none)."""
    try:
        return DecomposerConfig.from_dict(dict(result.config)) if result.config else None
    except (BmissError, TypeError, ValueError):
        log.info("%s: its settings are not this version's; keeping the current ones", source)
        return None


def place_result(result: DecompositionResult, recording: Recording, source: Path,
                 config: DecomposerConfig | None) -> tuple[DecompositionResult, int]:
    """``result`` on ``recording``, and where it starts there (a decomposed time window counts
    its samples from the window's start). Imported units that end before the recording (a table
    keeps no length: it ends at the last discharge) are lengthened to it, their pulse trains with
    zeros. Raises BmissError, one line, when the units cannot be this recording's."""
    fs, name = recording.sampling_rate_hz, Path(recording.source).name or recording.source
    if abs(result.sampling_rate_hz - fs) > 1e-3 * fs:
        raise BmissError(f"{source.name}: the units are sampled at {result.sampling_rate_hz:g} Hz, {name} at "
                         f"{fs:g} Hz: not this recording's decomposition")
    window = config.window_s if config is not None else None
    offset = max(0, round(window[0] * fs)) if window else 0
    if offset + result.n_samples > recording.n_samples:
        raise BmissError(f"{source.name}: its units span {result.n_samples} samples, but {name} has "
                         f"{recording.n_samples}: not this recording's decomposition")
    if offset == 0 and result.model is None and result.n_samples < recording.n_samples:
        result = _lengthened(result, recording.n_samples)
    return result, offset


def _lengthened(result: DecompositionResult, n_samples: int) -> DecompositionResult:
    pad = n_samples - result.n_samples
    units = tuple(replace(u, pulse_train=np.concatenate([u.pulse_train, np.zeros(pad, np.float32)]))
                  for u in result.units)
    return replace(result, units=units, n_samples=n_samples)


class SessionFiles(QObject):
    """Opens and saves for one window; tracks the session's path and unsaved changes, and
    shows both in ``parent``'s title. ``opened`` follows work opened from a session or a
    result file."""

    dirty_changed = Signal(bool)
    opened = Signal()

    def __init__(self, host: FilesHost, session: Session, recent: RecentFiles, parent: QWidget) -> None:
        super().__init__(parent)
        self._host, self._session, self._recent, self._parent = host, session, recent, parent
        self.path: Path | None = None  # the .bmiss file the work was last saved to or opened from
        self.recording_description: TabularDescription | None = None  # how a bare matrix was read
        self.grid_index = 0  # which grid of the recording's file is open
        self._saved: DecompositionResult | None = None  # the result as last saved or opened
        self._saved_anatomy: tuple[str, GridPlacement] | None = None  # the MRI and placement, likewise
        self._on_disk: DiskStamp | None = None  # ``path`` as this window last opened or saved it
        self._question = BEFORE_CLOSING
        self._fingerprints: dict[tuple[str, int, int], str] = {}
        self._dirty = False
        # injectable for tests: a modal box would block them
        self.ask_unsaved: Callable[[], UnsavedChoice] = self._ask_unsaved
        self.ask_overwrite: Callable[[Path], OverwriteChoice] = lambda path: ask_overwrite(self._parent, path)
        self.ask_import: Callable[[Path, MatrixShape], TabularDescription | None] = self._ask_import
        self.ask_grid: Callable[[Path, tuple[Recording, ...]], int | None] = self._ask_grid
        self.ask_recording_for: Callable[[Path], Path | None] = self._ask_recording_for
        for signal in (session.history_changed, session.result_changed, session.live_changed,
                       session.recording_changed):
            signal.connect(self.update_state)

    # -- state ------------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return self._dirty

    @property
    def live(self) -> bool:
        """A decomposition is running."""
        return self._session.is_live

    @property
    def current_result(self) -> DecompositionResult | None:
        """The result a save writes now (None before there is one)."""
        h = self._session.history
        return h.current if h is not None else None

    def _compute_dirty(self) -> bool:
        s = self._session
        if s.is_live or s.history is None:
            return False
        return s.history.current is not self._saved or self._anatomy_state() != self._saved_anatomy

    def _anatomy_state(self) -> tuple[str, GridPlacement] | None:
        """What a session saves of the MRI: its path and the grid's placement on it."""
        anatomy = self._host.anatomy
        return None if anatomy is None else (str(anatomy.source.resolve()), anatomy.placed.placement)

    def update_state(self) -> None:
        dirty = self._compute_dirty()
        changed = dirty != self._dirty
        self._dirty = dirty
        self.update_title()
        if changed:
            self.dirty_changed.emit(dirty)

    def mark_saved(self, path: Path | None) -> None:
        self.path = path
        self._on_disk = DiskStamp.of(path) if path is not None else None
        self._saved = self.current_result
        self._saved_anatomy = self._anatomy_state()
        self.update_state()

    def display_name(self) -> str:
        if self.path is not None:
            return self.path.name
        rec = self._session.recording
        if rec is not None:
            return Path(rec.source).name or rec.source
        return ""

    def update_title(self) -> None:
        name = self.display_name()
        # Qt shows "*" at the placeholder [*] while the window is marked modified
        self._parent.setWindowTitle(f"{name}[*] — BMISS" if name else "BMISS[*]")
        self._parent.setWindowModified(self._dirty)

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
        """Open a session (``.bmiss``), a recording whatever its format, a BMISS result (the
        engine's ``.npz``, on the recording it names; a ``*_summary.csv`` through the discharge
        CSV beside it), or another tool's decomposition: with its EMG when the file holds it
        (DEMUSE, MUedit, openhdemg), on its recording when it holds only discharges (CSV, BIDS
        events). A file of several grids asks which. Unsaved work is offered for saving first.
        On failure: a message box, and what was open stays open."""
        if self._host.busy:
            self._host.show_error("Cannot open a file now", "A decomposition is running; cancel it first.")
            return False
        path = Path(path)
        if not self.confirm_discard("before opening another file?"):
            return False
        if path.suffix.lower() == SESSION_SUFFIX:
            return self.open_session(path)
        if path.suffix.lower() == ".npz" and is_result_npz(path):
            opened = self.open_result(None, path, None)
            if opened:
                self._recent.remember(path)
            return opened
        if is_unit_summary(path):
            return self.open_summary(path)
        if is_discharge_table(path):
            return self.open_discharges(path)
        return self.open_recording(path)

    def open_dialog(self, title: str = "Open session", file_filter: str = SESSION_FILTER) -> None:
        path, _ = QFileDialog.getOpenFileName(self._parent, title, self._recent.last_folder(), file_filter)
        if path:
            self.open(path)

    def open_session_dialog(self) -> None:
        self.open_dialog()

    def open_recording(self, path: Path, description: TabularDescription | None = None) -> bool:
        """Open a recording; with the units the file holds beside it (another tool's), if any."""
        chosen = self._load(path, description, with_units=True)
        if chosen is None:
            return False
        loaded, description = chosen
        if loaded.result is not None:
            try:
                placed = place_result(loaded.result, loaded.recording, path, None)
            except BmissError as exc:
                self._host.show_message(f"Opened the recording alone: {exc}", 15000)
            else:
                self._set_recording(loaded, description, path)
                return self._show_result(loaded, placed, path, None)
        self._set_recording(loaded, description, path)
        self._session.set_recording(loaded.recording, loaded.filtered)
        self.mark_saved(None)
        return True

    def _set_recording(self, loaded: Loaded, description: TabularDescription | None, path: Path | None) -> None:
        """What the window keeps of how the recording was read (a session saves it); ``path``
        goes to the recent files."""
        self.recording_description = description
        self.grid_index = loaded.grid_index
        if path is not None:
            self._recent.remember(path)

    def _load(self, path: Path, description: TabularDescription | None, grid_index: int | None = None,
              with_units: bool = False) -> tuple[Loaded, TabularDescription | None] | None:
        """Read one grid of ``path`` (which one is asked when the file holds several and
        ``grid_index`` is None; a bare matrix is described first), with the units the file
        holds when ``with_units``. None when the user cancels or it cannot be read (said)."""
        options: dict[str, Any] = {}
        if is_tabular(path):
            described = self._describe(path, description)
            if described is None:
                return None
            description, options = described
        else:
            description = None
        # a file with the EMG and another tool's units is read once for both
        with_units = with_units and path.suffix.lower() in WITH_DECOMPOSITION
        read = self._reading(lambda: open_recordings_with_units(path, **options) if with_units
                             else (open_recordings(path, **options), None), path)
        if read is None:
            return None
        grids, units = read
        if grid_index is None:
            grid_index = 0 if len(grids) == 1 else self.ask_grid(path, grids)
            if grid_index is None:
                return None
        try:
            recording = pick_grid(grids, grid_index, path)
        except BmissError as exc:
            self._host.show_error("Cannot open the recording", str(exc))
            return None
        index, result = grid_index, units[grid_index] if units is not None else None
        loaded = self._reading(lambda: prepare(recording, index, result), path)
        return None if loaded is None else (loaded, description)

    def _describe(self, path: Path, description: TabularDescription | None,
                  ) -> tuple[TabularDescription, dict[str, Any]] | None:
        """How to read a bare matrix (asked when not given) and the reader's options for it."""
        try:
            shape = peek_matrix(path)
        except BmissError as exc:
            self._host.show_error("Cannot open the recording", str(exc))
            return None
        if description is None:
            description = self.ask_import(path, shape)
            if description is None:
                return None
        try:
            return description, description.open_options(shape.n_channels)
        except (BmissError, ValueError) as exc:
            self._host.show_error("Cannot open the recording", f"{path}: {exc}")
            return None

    def open_discharges(self, path: Path) -> bool:
        """Show a table of discharges (BMISS's CSV, BIDS events) for review on the open
        recording when they fit it, else on the recording the user names. The caller has
        offered unsaved work for saving. On failure: one line, and what was open stays."""
        result = self._blocking(lambda: open_result(path), f"Reading {path.name}…", "Cannot open the decomposition")
        if result is None:
            return False
        rec = self._session.recording
        if rec is not None:
            try:
                placed = place_result(result, rec, path, None)
            except BmissError as exc:
                self._host.show_message(f"{exc}; choose its recording", 15000)
            else:
                filtered = self._session.filtered_emg()
                assert filtered is not None
                self._recent.remember(path)
                return self._show_result(Loaded(rec, filtered, self.grid_index), placed, path, None)
        recording_path = self.ask_recording_for(path)
        if recording_path is None:
            return False
        chosen = self._load(Path(recording_path), None)
        if chosen is None:
            return False
        loaded, description = chosen
        try:
            placed = place_result(result, loaded.recording, path, None)
        except BmissError as exc:
            self._host.show_error("Cannot open the decomposition", str(exc))
            return False
        self._set_recording(loaded, description, Path(recording_path))
        self._recent.remember(path)
        return self._show_result(loaded, placed, path, None)

    def open_summary(self, path: Path) -> bool:
        """A per-unit summary (``*_summary.csv``) keeps no discharge times: open the discharge
        CSV written beside it (``*_discharges.csv``) instead, or say, in one line, that it is not there."""
        beside = discharges_beside(path)
        if not beside.is_file():
            self._host.show_error("Cannot open the decomposition",
                                  f"{path.name} lists the units without their discharge times, and {beside.name}, the "
                                  f"discharge CSV written beside it, is not in {path.parent}")
            return False
        return self.open_discharges(beside)

    def _ask_recording_for(self, path: Path) -> Path | None:
        chosen, _ = QFileDialog.getOpenFileName(self._parent, f"The recording {path.name} was decomposed from",
                                                str(path.parent), OPEN_FILTER)
        return Path(chosen) if chosen else None

    def open_result(self, recording_path: Path | None, result_path: Path, grid_index: int | None = 0) -> bool:
        """Show a result file (the engine's ``.npz``: a batch's, ``bmiss decompose --out``'s; or
        another tool's) on grid ``grid_index`` of ``recording_path`` (None: asked when the file
        holds several), as a fresh result to review (undo starts there) with the settings it was
        made with. Without ``recording_path``: on the recording the result names, asked for when
        that file is missing or unreadable. The caller has offered unsaved work for saving. On
        failure: a message, and what was open stays."""
        result = self._blocking(lambda: open_result(result_path), f"Reading {result_path.name}…",
                                "Cannot open the result")
        if not isinstance(result, DecompositionResult):
            return False
        if recording_path is None:
            recording_path = self._recording_of(result, result_path)
            if recording_path is None:
                return False
        chosen = self._load(recording_path, None, grid_index=grid_index)
        if chosen is None:
            return False
        loaded, description = chosen
        config = result_config(result, result_path)
        try:
            placed = place_result(result, loaded.recording, result_path, config)
        except BmissError as exc:
            self._host.show_error("Cannot open the result", str(exc))
            return False
        self._set_recording(loaded, description, None)
        return self._show_result(loaded, placed, result_path, config)

    def _recording_of(self, result: DecompositionResult, result_path: Path) -> Path | None:
        """The recording ``result`` was decomposed from: the file its provenance names (or one
        of that name beside the result), else the one the user chooses (None: cancelled)."""
        source = str(result.provenance.get("source") or "")
        if source:
            named = Path(source)
            candidates = [named] if named.is_absolute() else [result_path.parent / named, named]
            candidates.append(result_path.parent / named.name)
            for candidate in candidates:
                if candidate.is_file() and os.access(candidate, os.R_OK):
                    return candidate
            self._host.show_message(f"{result_path.name}: its recording {source} is missing or unreadable; "
                                    "choose the recording", 15000)
        return self.ask_recording_for(result_path)

    def _show_result(self, loaded: Loaded, placed: tuple[DecompositionResult, int], source: Path,
                     config: DecomposerConfig | None) -> bool:
        """``placed`` (a result and where it starts) on the recording of ``loaded``, as a fresh
        result to review: undo starts here."""
        result, offset = placed
        if config is not None:
            self._host.config = config
        self._session.restore(loaded.recording, EditHistory(result), offset, (), loaded.filtered)
        self.mark_saved(None)
        self.opened.emit()
        self._host.show_message(f"{result.n_units} motor units from {source.name}", 8000)
        return True

    def _blocking(self, fn: Callable[[], T], label: str, title: str) -> T | None:
        """``fn()`` off the GUI thread; its failure shown under ``title`` (then None)."""
        try:
            return run_blocking(fn, self._parent, label)
        except (BmissError, OSError, ValueError) as exc:
            self._host.show_error(title, str(exc))
            return None

    def _reading(self, fn: Callable[[], T], path: Path) -> T | None:
        """``fn()``, which reads the recording ``path``, off the GUI thread; its failure shown."""
        try:
            return run_blocking(fn, self._parent, f"Reading {path.name}…")
        except BmissError as exc:
            self._host.show_error("Cannot open the recording", str(exc))
        except (OSError, ValueError, MemoryError) as exc:
            self._host.show_error("Cannot open the recording", f"{path}: {exc}")
        return None

    def _read(self, path: Path, options: dict[str, Any]) -> Loaded | None:
        return self._reading(lambda: read_recording(path, options), path)

    def open_session(self, path: Path, recovered: bool = False) -> bool:
        """Resume the work saved in ``path``. ``recovered``: an autosave after a crash, which
        stays unsaved work (its original session path, if any, becomes the current one)."""
        saved = self._blocking(lambda: load_session(path), f"Reading {path.name}…", "Cannot open the session")
        if saved is None:
            return False
        recording_path = saved.locate_recording(None if recovered else path)
        if recording_path is None:
            self._host.show_error(
                "Cannot open the session",
                f"{path}: its recording {saved.recording_path} is missing or has changed since the "
                "session was saved. Put the original file back (or beside the session file).")
            return False
        try:
            work = SavedWork.of(saved, recording_path)
        except (BmissError, KeyError, TypeError, ValueError) as exc:
            self._host.show_error("Cannot open the session", f"{path}: damaged session ({exc})")
            return False
        loaded = self._read(recording_path, work.open_options)
        if loaded is None:
            return False
        self.recording_description = work.description
        self.grid_index = work.grid_index
        if work.config is not None:
            self._host.config = work.config
        view = saved.view_state
        self._session.restore(loaded.recording, work.history, work.offset_samples, work.selected_ids, loaded.filtered)
        self._reopen_mri(view, path)
        # marked after the MRI: the session's own placement is not a change
        if recovered:
            original = view.get("session_path")
            self.path = Path(original) if original else None
            self._saved = None  # recovered work is unsaved until the user saves it
            self.update_state()
        else:
            self.mark_saved(path)
            self._recent.remember(path)
        self.opened.emit()
        return True

    def _reopen_mri(self, view: dict[str, Any], path: Path) -> None:
        """The MRI a session was saved with, and the grid's placement on it, unless open already."""
        mri = view.get("mri_path")
        placement = saved_placement(view.get("grid_placement"), path)
        anatomy = self._host.anatomy
        if isinstance(mri, str) and (anatomy is None or str(anatomy.source.resolve()) != mri
                                     or (placement is not None and anatomy.placed.placement != placement)):
            if Path(mri).exists():
                self._host.open_mri(mri, placement)
            else:
                self._host.show_message(f"The session's MRI {mri} is missing; the 3D view shows the planar model",
                                        10000)

    # -- saving -----------------------------------------------------------------------------
    @property
    def can_save(self) -> bool:
        s = self._session
        return s.recording is not None and s.history is not None and not s.is_live

    def save(self) -> bool:
        """Save to the session's file, or ask where when it has none."""
        if self.path is None:
            return self.save_as()
        return self.save_to(self.path)

    def save_as(self) -> bool:
        if not self.can_save:
            return False
        rec = self._session.recording
        stem = self.path.stem if self.path else (Path(rec.source).stem if rec else "session")
        start = str(Path(self._recent.last_folder()) / f"{stem}{SESSION_SUFFIX}")
        path, _ = QFileDialog.getSaveFileName(self._parent, "Save session", start, SESSION_FILTER)
        if not path:
            return False
        if not path.lower().endswith(SESSION_SUFFIX):
            path += SESSION_SUFFIX
        return self.save_to(path)

    def save_to(self, path: str | Path) -> bool:
        if not self.can_save:
            return False
        path = Path(path).resolve()
        if self._written_elsewhere(path):
            choice = self.ask_overwrite(path)
            if choice != "overwrite":
                return choice == "save_as" and self.save_as()
        try:
            job = self.snapshot_job(str(path))
            run_blocking(lambda: save_session(job(), path), self._parent, f"Saving {path.name}…")
        except (BmissError, OSError, ValueError) as exc:
            self._host.show_error("Cannot save the session", f"{path}: {exc}")
            return False
        self.mark_saved(path)
        self._recent.remember(path)
        self._host.show_message(f"Saved session {path}", 5000)
        return True

    def _written_elsewhere(self, path: Path) -> bool:
        """Whether ``path``, this window's session file, was written by someone else since
        this window opened or saved it (a file deleted meanwhile is simply written again)."""
        if self.path is None or path != self.path.resolve() or self._on_disk is None:
            return False
        now = DiskStamp.of(path)
        return now is not None and now != self._on_disk

    def snapshot_job(self, session_path: str | None) -> Callable[[], SessionFile]:
        """The work now, as a function that completes it as an engine session off the GUI
        thread (the recording's fingerprint: its file is hashed once per version). Raises
        BmissError while there is no result to save."""
        snapshot = session_to_file(self._session, self._host.config, self._host.anatomy, self.recording_description,
                                   "", session_path, self.grid_index)
        rec = self._session.recording
        assert rec is not None
        return lambda: replace(snapshot, recording_sha256=self.recording_fingerprint(rec))

    # -- unsaved work -----------------------------------------------------------------------
    def confirm_discard(self, question: str = BEFORE_CLOSING) -> bool:
        """True when the work may be replaced or closed: clean, saved now, or discarded.
        ``question`` ends the question asked ("Save the changes to X before closing it?")."""
        if not self._dirty:
            return True
        self._question = question
        choice = self.ask_unsaved()
        if choice == "save":
            return self.save()
        return choice == "discard"

    def _ask_unsaved(self) -> UnsavedChoice:
        return ask_unsaved(self._parent, self.display_name() or "this session", self._question)

    def _ask_import(self, path: Path, shape: MatrixShape) -> TabularDescription | None:
        dialog = ImportDialog(path, shape, self.recording_description, self._parent)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.description()

    def _ask_grid(self, path: Path, grids: tuple[Recording, ...]) -> int | None:
        dialog = GridChoiceDialog(path, grids, 0, self._parent)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.grid_index()
