"""Slow file work (reading and band-passing a recording, writing a session) off the GUI thread.

:func:`run_blocking` runs a function in a worker thread and returns its value, re-raising its
exception, while the GUI thread keeps painting under a busy dialog: callers keep the plain
"open, then use" flow of a synchronous call. :class:`BackgroundTask` runs one in the
background and reports to callbacks (autosave).

The function must touch no widget: it gets immutable engine values and returns new ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import QProgressDialog, QWidget

log = logging.getLogger(__name__)

T = TypeVar("T")

# a busy dialog for work shorter than this would only flicker
BUSY_DIALOG_DELAY_MS = 400


class _Call(QObject):
    """Lives in the worker thread: calls the function, emits its value or its exception."""

    done = Signal(object)
    failed = Signal(object)

    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__()
        self._fn = fn

    @Slot()
    def run(self) -> None:
        try:
            value = self._fn()
        except Exception as exc:  # noqa: BLE001 - a worker reports every failure to the GUI thread
            self.failed.emit(exc)
            return
        self.done.emit(value)


class _Outcome(QObject):
    """Lives in the GUI thread: receives what the worker reports (queued connections)."""

    def __init__(self, loop: QEventLoop | None = None) -> None:
        super().__init__()
        self.loop = loop
        self.finished = False
        self.value: Any = None
        self.error: Exception | None = None

    @Slot(object)
    def on_done(self, value: object) -> None:
        self.value, self.finished = value, True
        if self.loop is not None:
            self.loop.quit()

    @Slot(object)
    def on_failed(self, error: object) -> None:
        self.error = error if isinstance(error, Exception) else RuntimeError(str(error))
        self.finished = True
        if self.loop is not None:
            self.loop.quit()


def _start(fn: Callable[[], Any], on_done: Callable[[object], None], on_failed: Callable[[object], None],
           name: str) -> tuple[QThread, _Call]:
    """``fn`` running in a new thread; its value or exception go to the two slots (bound
    methods of GUI-thread objects, so Qt queues the calls into the GUI thread)."""
    thread = QThread()
    thread.setObjectName(name)
    call = _Call(fn)
    call.moveToThread(thread)
    thread.started.connect(call.run)
    call.done.connect(on_done)
    call.failed.connect(on_failed)
    thread.start()
    return thread, call


def run_blocking(fn: Callable[[], T], parent: QWidget | None, label: str) -> T:
    """``fn()`` in a worker thread; the GUI thread runs its event loop (the window repaints, a
    busy dialog with ``label`` appears after :data:`BUSY_DIALOG_DELAY_MS` and blocks input to
    the window) until it returns. Returns its value or raises its exception."""
    loop = QEventLoop()
    outcome = _Outcome(loop)
    dialog = QProgressDialog(label, "", 0, 0, parent)
    dialog.setCancelButton(None)  # type: ignore[arg-type]  # the reader cannot be interrupted midway
    dialog.setWindowTitle("BMISS")
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(BUSY_DIALOG_DELAY_MS)
    dialog.setValue(0)  # starts the clock: shown once the work has lasted the delay
    thread, call = _start(fn, outcome.on_done, outcome.on_failed, "bmiss-file-work")
    if not outcome.finished:
        loop.exec()
    thread.quit()
    thread.wait()
    call.deleteLater()
    dialog.reset()
    dialog.deleteLater()
    if outcome.error is not None:
        raise outcome.error
    return outcome.value  # type: ignore[no-any-return]


class BackgroundTask(QObject):
    """One function at a time in a worker thread; ``finished(value)`` or ``failed(message)``
    are emitted in the GUI thread."""

    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._call: _Call | None = None

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def start(self, fn: Callable[[], Any]) -> None:
        if self.busy:
            raise RuntimeError("a background task is already running")
        self._thread, self._call = _start(fn, self._on_done, self._on_failed, "bmiss-background")

    def wait(self) -> None:
        """Block until the running function returns and its report has been delivered."""
        if self._thread is None:
            return
        self._thread.quit()
        self._thread.wait()
        # the worker's report is queued for this thread: deliver it now
        QCoreApplication.sendPostedEvents(self)
        self._release()

    @Slot(object)
    def _on_done(self, value: object) -> None:
        self._release()
        self.finished.emit(value)

    @Slot(object)
    def _on_failed(self, error: object) -> None:
        self._release()
        self.failed.emit(str(error))

    def _release(self) -> None:
        thread, call = self._thread, self._call
        self._thread = self._call = None
        if thread is not None:
            thread.quit()
            thread.wait()
            thread.deleteLater()
        if call is not None:
            call.deleteLater()
