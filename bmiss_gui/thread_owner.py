"""The GUI-thread owner of one background worker at a time: its QThread's life, Cancel and
the worker's result signals, shared by the decomposition and the batch runners.

The worker is a QObject with ``run``, a plain ``cancel_requested`` flag and ``finished``,
``failed`` and ``done`` signals. Its signals are connected to bound methods of this object,
so Qt queues them into the GUI thread (a lambda would run in the worker's thread), and the
thread is quit and waited for before it is released.

On shutdown (the window closing) the owner waits a bounded time: a worker inside a step it
cannot leave (an import, one long library call) runs on to its end in the background, and
whatever it still reports is dropped.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot


class ThreadOwner(QObject):
    finished = Signal(object)
    failed = Signal(str)
    running_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: Any = None
        self._closing = False  # shut down: what the worker still reports is dropped

    @property
    def is_running(self) -> bool:
        return self._thread is not None

    @property
    def reporting(self) -> bool:
        """A run is going on and what it reports is wanted (not after a shutdown)."""
        return self._thread is not None and not self._closing

    def _launch(self, worker: QObject, thread_name: str) -> None:
        """Run ``worker`` in a new thread; the caller has connected its own extra signals."""
        thread = QThread()
        thread.setObjectName(thread_name)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)  # type: ignore[attr-defined]
        worker.finished.connect(self._on_finished)  # type: ignore[attr-defined]
        worker.failed.connect(self._on_failed)  # type: ignore[attr-defined]
        worker.done.connect(self._on_done)  # type: ignore[attr-defined]
        self._thread, self._worker = thread, worker
        thread.start()
        self.running_changed.emit(True)

    def cancel(self) -> None:
        """Ask the run to stop (a plain flag the worker reads between steps)."""
        if self._worker is not None:
            self._worker.cancel_requested = True

    def shutdown(self, wait_ms: int | None = None) -> bool:
        """Cancel, drop what the worker still reports, and wait for its thread to end, at most
        ``wait_ms`` (None: however long). True when it ended; False when it runs on to the
        end of its step (``running_changed(False)`` follows then). A QThread must not be
        destroyed while it runs: the owner keeps it until then."""
        if self._thread is None:
            return True
        self._closing = True
        self.cancel()
        thread = self._thread
        thread.quit()  # its event loop ends once the worker's run returns
        if not (thread.wait() if wait_ms is None else thread.wait(wait_ms)):
            return False
        self._release()
        return True

    def _before_result(self) -> None:
        """Hand on what is still pending before ``finished`` (subclasses)."""

    @Slot(object)
    def _on_finished(self, result: object) -> None:
        self._before_result()
        if self.reporting:
            self.finished.emit(result)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        if self.reporting:
            self.failed.emit(message)

    @Slot()
    def _on_done(self) -> None:
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()
            self._release()

    def _release(self) -> None:
        thread, worker = self._thread, self._worker
        self._thread = self._worker = None
        self._closing = False
        if worker is not None:
            worker.deleteLater()
        if thread is not None:
            thread.deleteLater()
        self.running_changed.emit(False)
