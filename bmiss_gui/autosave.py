"""Autosave and crash recovery.

While the window holds unsaved work, it is written as a session to a per-user recovery folder:

- every ``interval_s`` (default 3 minutes; setting ``autosave/interval_s``),
- shortly (``EDIT_DELAY_MS``) after every change of the result: any edit, undo or redo, and the
  end of a decomposition. A burst of edits (deleting five units is five edits) gives one save;
- and at most ``MAX_DELAY_MS`` after the first change not yet saved, however steadily the user
  edits (each edit restarts the short countdown).

Each window writes its own file, ``autosave-<pid>-<token>.bmiss``, atomically (the engine's
``save_session``), off the GUI thread, guarded by a lock file that the window holds from its
first autosave until it closes. Saving the work, or undoing back to the saved state, removes
the autosave but not the lock; starting a decomposition removes neither (the work it replaces
stays recoverable until its result arrives, which is then autosaved in its place). A clean
close removes both. At the next start, an autosave whose lock is stale (its process died) is
offered for restoring; an autosave whose lock a live process holds is never offered. The
debris a killed process leaves (half-written autosaves, the temporary folders of session
saves) is removed at start. A failed autosave (a full disk) is told to the user (``failed``).

The folder is ``QStandardPaths.AppLocalDataLocation``/recovery, or ``$BMISS_RECOVERY_DIR``.

:class:`Autosave` guards the work through :class:`RecoverableWork` (the window's
:class:`~bmiss_gui.session_io.SessionFiles`): whether it is unsaved, a snapshot of it, and
reopening a recovered file.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QLockFile, QObject, QSettings, QStandardPaths, QTimer, Signal, SignalInstance, Slot
from PySide6.QtWidgets import QMessageBox, QWidget

from bmiss_engine import BmissError, DecompositionResult
from bmiss_engine.io import Session as SessionFile
from bmiss_engine.io import save_session
from bmiss_engine.io.session import remove_stale_temporary_folders
from bmiss_gui.background import BackgroundTask

log = logging.getLogger(__name__)

RECOVERY_DIR_ENV = "BMISS_RECOVERY_DIR"
DEFAULT_INTERVAL_S = 180
EDIT_DELAY_MS = 1500
MAX_DELAY_MS = 10_000
_PREFIX = "autosave-"


def recovery_dir() -> Path:
    override = os.environ.get(RECOVERY_DIR_ENV)
    if override:
        return Path(override)
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    return Path(base or Path.home() / ".bmiss") / "recovery"


def _lock_for(path: Path) -> QLockFile:
    lock = QLockFile(str(path.with_suffix(".lock")))
    lock.setStaleLockTime(0)  # stale only when its process is gone, however old
    return lock


@dataclass(frozen=True)
class Orphan:
    """An autosave left by a process that did not close cleanly."""

    path: Path
    saved_at: float  # seconds since the epoch

    def describe(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(self.saved_at))


def _held_by_a_live_process(path: Path) -> bool:
    """Whether the lock of the autosave ``path`` is held by a running process (this one's
    other windows included); a stale lock is taken over and released."""
    lock = _lock_for(path)
    if not lock.tryLock(0):
        return True
    lock.unlock()  # removes the lock file
    return False


def find_orphans(folder: Path | None = None) -> list[Orphan]:
    """Autosaves no running process holds, the newest first."""
    folder = folder or recovery_dir()
    orphans = []
    for path in folder.glob(f"{_PREFIX}*.bmiss"):
        if not _held_by_a_live_process(path):
            try:
                orphans.append(Orphan(path, path.stat().st_mtime))
            except OSError:
                continue  # gone meanwhile
    return sorted(orphans, key=lambda o: o.saved_at, reverse=True)


def remove_debris(folder: Path | None = None) -> list[Path]:
    """What killed processes left: their half-written autosaves (``.autosave-….tmp``, beside
    the file they were to replace) and the temporary folders of their session saves. Files of
    live windows are kept. Returns what was removed."""
    folder = folder or recovery_dir()
    removed = list(remove_stale_temporary_folders())
    for tmp in folder.glob(f".{_PREFIX}*.bmiss.*.tmp"):
        owner = folder / tmp.name[1:].split(".bmiss.", 1)[0]
        if not _held_by_a_live_process(owner.with_suffix(".bmiss")):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    if removed:
        log.info("removed what killed processes left: %s", ", ".join(map(str, removed)))
    return removed


def discard(path: Path) -> None:
    """Remove an autosave and its lock file (of a process that is gone)."""
    for p in (path, path.with_suffix(".lock")):
        p.unlink(missing_ok=True)


class RecoverableWork(Protocol):
    """What autosave needs of the work it guards."""

    @property
    def dirty_changed(self) -> SignalInstance:
        """(bool) the work became unsaved, or saved."""

    @property
    def dirty(self) -> bool: ...

    @property
    def can_save(self) -> bool: ...

    @property
    def live(self) -> bool:
        """A decomposition is running (its result will replace the work)."""

    @property
    def path(self) -> Path | None:
        """The session file the work was last saved to or opened from."""

    @property
    def current_result(self) -> DecompositionResult | None: ...

    def snapshot_job(self, session_path: str | None) -> Callable[[], SessionFile]:
        """The work now, completed off the GUI thread; raises BmissError when there is none."""

    def open_session(self, path: Path, recovered: bool = False) -> bool: ...


class Autosave(QObject):
    """Writes ``work`` to its recovery file while it is unsaved, soon after every ``edited``
    signal (and at most ``MAX_DELAY_MS`` after the first) and every interval; offers orphans
    at start (in boxes over ``parent``). ``failed(message)`` follows an autosave that failed,
    in words for the status bar."""

    failed = Signal(str)

    def __init__(self, work: RecoverableWork, edited: SignalInstance, settings: QSettings, parent: QWidget,
                 interval_s: float | None = None) -> None:
        super().__init__(parent)
        self._work, self._settings, self._parent = work, settings, parent
        if interval_s is None:
            try:
                interval_s = float(str(settings.value("autosave/interval_s", DEFAULT_INTERVAL_S)))
            except (TypeError, ValueError):
                interval_s = DEFAULT_INTERVAL_S
        self.folder = recovery_dir()
        self.path = self.folder / f"{_PREFIX}{os.getpid()}-{secrets.token_hex(4)}.bmiss"
        self._lock: QLockFile | None = None
        self._written: DecompositionResult | None = None  # the result in the recovery file
        self._pending = False
        self.saves = 0  # completed saves (for tests and the status bar)
        self.last_error = ""
        self.task = BackgroundTask(self)
        self.task.finished.connect(self._on_saved)
        self.task.failed.connect(self._on_failed)
        self.timer = QTimer(self)
        self.timer.setInterval(max(1, round(interval_s * 1000)))
        self.timer.timeout.connect(self.save_if_needed)
        self.timer.start()
        self.after_edit = QTimer(self)
        self.after_edit.setSingleShot(True)
        self.after_edit.setInterval(EDIT_DELAY_MS)
        self.after_edit.timeout.connect(self.save_if_needed)
        # steady editing restarts after_edit with every edit: this one is not restarted
        self.max_delay = QTimer(self)
        self.max_delay.setSingleShot(True)
        self.max_delay.setInterval(MAX_DELAY_MS)
        self.max_delay.timeout.connect(self.save_if_needed)
        edited.connect(self._on_history)
        work.dirty_changed.connect(self._on_dirty_changed)
        # injectable for tests: a modal box would block them
        self.ask_restore: Callable[[Orphan], bool | None] = self._ask_restore

    @property
    def interval_s(self) -> float:
        return self.timer.interval() / 1000

    def set_interval(self, seconds: float) -> None:
        self.timer.setInterval(max(1, round(seconds * 1000)))
        self._settings.setValue("autosave/interval_s", seconds)

    @Slot()
    def _on_history(self) -> None:
        if self._needed():
            self.after_edit.start()
            if not self.max_delay.isActive():
                self.max_delay.start()

    @Slot(bool)
    def _on_dirty_changed(self, dirty: bool) -> None:
        # saved, or undone back to the saved state: nothing left to recover. Not when a run
        # starts: until its result replaces the work, the autosave is the work's only copy
        if not dirty and not self._work.live:
            self._stop_timers()
            self.task.wait()
            self.path.unlink(missing_ok=True)  # the lock stays: this window lives on
            self._written = None

    def _stop_timers(self) -> None:
        self.after_edit.stop()
        self.max_delay.stop()

    def _needed(self) -> bool:
        work = self._work
        return (work.dirty and work.can_save and work.current_result is not None
                and work.current_result is not self._written)

    @Slot()
    def save_if_needed(self) -> None:
        if self._needed():
            self.save_now()

    def save_now(self, wait: bool = False) -> None:
        """Write the work now (in the background; ``wait``: block until written)."""
        work = self._work
        if not work.can_save:
            return
        if self.task.busy:
            self._pending = True
        else:
            if self._lock is None and not self._take_lock():
                return
            try:
                job = work.snapshot_job(str(work.path) if work.path is not None else None)
            except BmissError as exc:
                self.last_error = str(exc)
                return
            current = work.current_result
            target = self.path

            def write() -> DecompositionResult | None:
                save_session(job(), target)
                return current

            self._stop_timers()  # this save covers the edits they wait for
            self.task.start(write)
        if wait:
            self.task.wait()
            if self._pending:
                self._pending = False
                self.save_now(wait=True)

    def _take_lock(self) -> bool:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.last_error = f"cannot create the recovery folder {self.folder}: {exc}"
            log.warning("%s", self.last_error)
            return False
        lock = _lock_for(self.path)
        if not lock.tryLock(0):
            self.last_error = f"cannot lock {self.path}"
            log.warning("%s", self.last_error)
            return False
        self._lock = lock
        return True

    @Slot(object)
    def _on_saved(self, result: object) -> None:
        if isinstance(result, DecompositionResult):
            self._written = result
        self.saves += 1
        self.last_error = ""
        if self._pending:
            self._pending = False
            self.save_if_needed()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        # an autosave that fails must not interrupt the user's work: say so, keep trying later
        self.last_error = message
        log.warning("autosave to %s failed: %s", self.path, message)
        self._pending = False
        self.failed.emit(f"Autosave failed ({message}): unsaved work is not protected against a crash. "
                         "Save the session (Ctrl+S), on a disk with free space.")

    def clean_exit(self) -> None:
        """On a clean close: no crash to recover from."""
        self.timer.stop()
        self._stop_timers()
        self.task.wait()
        self.path.unlink(missing_ok=True)
        if self._lock is not None:
            self._lock.unlock()  # removes the lock file
            self._lock = None

    # -- recovery ---------------------------------------------------------------------------
    def offer_recovery(self) -> bool:
        """At start: if a crashed window left an autosave, ask whether to restore it (yes: it
        is opened as unsaved work; no: it is deleted; None from ``ask_restore``: kept for
        later). True when work was restored. Its lock is held meanwhile, so that another
        window starting now cannot offer it too."""
        remove_debris(self.folder)
        orphans = [o for o in find_orphans(self.folder) if o.path != self.path]
        if not orphans:
            return False
        orphan = orphans[0]
        lock = _lock_for(orphan.path)
        if not lock.tryLock(0):
            return False  # another window took it meanwhile
        try:
            answer = self.ask_restore(orphan)
            if answer is None:
                return False
            restored = answer and self._work.open_session(orphan.path, recovered=True)
            if answer is False or restored:
                orphan.path.unlink(missing_ok=True)
        finally:
            lock.unlock()
        if restored:
            self.save_now()  # the recovered work is safe again under this window's name
        return restored

    def _ask_restore(self, orphan: Orphan) -> bool | None:
        box = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self._parent, "Recover unsaved work?",
            f"BMISS did not close properly last time. Work autosaved at {orphan.describe()} can be "
            "restored.\n\nRestore it? (Discard deletes it.)",
            box.Yes | box.Discard | box.Cancel, box.Yes,
        )
        if answer == box.Yes:
            return True
        if answer == box.Discard:
            return False
        return None
