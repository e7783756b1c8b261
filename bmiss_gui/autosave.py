"""Autosave and crash recovery.

While the window holds unsaved work, it is written as a session to a per-user recovery folder:

- every ``interval_s`` (default 3 minutes; setting ``autosave/interval_s``), and
- shortly (``EDIT_DELAY_MS``) after every change of the result: any edit, undo or redo, and the
  end of a decomposition. A burst of edits (deleting five units is five edits) gives one save.

Each window writes its own file, ``autosave-<pid>-<token>.bmiss``, atomically (the engine's
``save_session``), off the GUI thread, guarded by a lock file that the running process holds.
A clean close removes both. At the next start, an autosave whose lock is stale (its process
died) is offered for restoring; autosaves of other running windows are left alone.

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

from PySide6.QtCore import QLockFile, QObject, QSettings, QStandardPaths, QTimer, SignalInstance, Slot
from PySide6.QtWidgets import QMessageBox, QWidget

from bmiss_engine import BmissError, DecompositionResult
from bmiss_engine.io import Session as SessionFile
from bmiss_engine.io import save_session
from bmiss_gui.background import BackgroundTask

log = logging.getLogger(__name__)

RECOVERY_DIR_ENV = "BMISS_RECOVERY_DIR"
DEFAULT_INTERVAL_S = 180
EDIT_DELAY_MS = 1500
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


def find_orphans(folder: Path | None = None) -> list[Orphan]:
    """Autosaves no running process holds, the newest first."""
    folder = folder or recovery_dir()
    orphans = []
    for path in folder.glob(f"{_PREFIX}*.bmiss"):
        lock = _lock_for(path)
        if lock.tryLock(0):  # nobody holds it (a stale lock is taken over)
            lock.unlock()
            orphans.append(Orphan(path, path.stat().st_mtime))
    return sorted(orphans, key=lambda o: o.saved_at, reverse=True)


def discard(path: Path) -> None:
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
    def path(self) -> Path | None:
        """The session file the work was last saved to or opened from."""

    @property
    def current_result(self) -> DecompositionResult | None: ...

    def snapshot_job(self, session_path: str | None) -> Callable[[], SessionFile]:
        """The work now, completed off the GUI thread; raises BmissError when there is none."""

    def open_session(self, path: Path, recovered: bool = False) -> bool: ...


class Autosave(QObject):
    """Writes ``work`` to its recovery file while it is unsaved, soon after every ``edited``
    signal and every interval; offers orphans at start (in boxes over ``parent``)."""

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

    @Slot(bool)
    def _on_dirty_changed(self, dirty: bool) -> None:
        if not dirty:  # saved (or undone back to the saved state): nothing left to recover
            self.after_edit.stop()
            self.task.wait()
            discard(self.path.with_suffix(".bmiss"))
            self._written = None

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
        # an autosave that fails must not interrupt the user's work: log it, keep trying later
        self.last_error = message
        log.warning("autosave to %s failed: %s", self.path, message)
        self._pending = False

    def clean_exit(self) -> None:
        """On a clean close: no crash to recover from."""
        self.timer.stop()
        self.after_edit.stop()
        self.task.wait()
        discard(self.path)
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None

    # -- recovery ---------------------------------------------------------------------------
    def offer_recovery(self) -> bool:
        """At start: if a crashed window left an autosave, ask whether to restore it (yes: it
        is opened as unsaved work; no: it is deleted; None from ``ask_restore``: kept for
        later). True when work was restored."""
        orphans = [o for o in find_orphans(self.folder) if o.path != self.path]
        if not orphans:
            return False
        orphan = orphans[0]
        answer = self.ask_restore(orphan)
        if answer is None:
            return False
        if not answer:
            discard(orphan.path)
            return False
        restored = self._work.open_session(orphan.path, recovered=True)
        if restored:
            discard(orphan.path)
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
