"""Running a batch (:func:`bmiss_engine.batch.run_batch`) off the GUI thread.

:class:`BatchWorker` lives in a QThread and calls ``run_batch`` with itself as the cancel hook
(a plain flag read by the engine between snapshots) and a progress callback that emits each
:class:`~bmiss_engine.batch.BatchProgress` as a signal. :class:`BatchRunner` lives in the GUI
thread, owns the thread and the worker and re-emits what the worker reports from its own
slots, as :class:`~bmiss_gui.worker.DecompositionRunner` does for one recording.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from bmiss_engine import BmissError, DecomposerConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchRequest:
    """What to run: ``run_batch(inputs, out_dir, config, formats=..., n_workers=..., **extra)``.

    extra: further keyword arguments of ``run_batch`` (``scheduler``: a running Dask
    scheduler's address; tests also pass ``task``).
    """

    inputs: tuple[Path, ...]
    out_dir: Path
    config: DecomposerConfig
    formats: tuple[str, ...] = ()
    n_workers: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


class BatchWorker(QObject):
    """Calls ``run_batch`` in the worker thread. Emits ``progress(BatchProgress)`` for every
    snapshot, then exactly one of ``finished(BatchSummary)`` or ``failed(message)``, then
    ``done``. Finished recordings keep their results whatever happens next."""

    progress = Signal(object)  # BatchProgress
    finished = Signal(object)  # BatchSummary
    failed = Signal(str)
    done = Signal()

    def __init__(self, request: BatchRequest) -> None:
        super().__init__()
        self._request = request
        # a plain flag: written by the GUI thread, read by run_batch between snapshots
        self.cancel_requested = False

    def is_set(self) -> bool:
        """The engine's cancel hook (``cancel.is_set()``)."""
        return self.cancel_requested

    @Slot()
    def run(self) -> None:
        r = self._request
        try:
            from bmiss_engine.batch import run_batch
            from bmiss_engine.batch.run import quiet_dask_logs

            quiet_dask_logs()
            summary = run_batch(list(r.inputs), r.out_dir, r.config, formats=r.formats, n_workers=r.n_workers,
                                progress=self.progress.emit, cancel=self, **r.extra)
            self.finished.emit(summary)
        except BmissError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # the worker must report every failure, never die silently
            log.exception("batch failed")
            self.failed.emit(f"unexpected error in the batch: {type(exc).__name__}: {exc}")
        finally:
            self.done.emit()


class BatchRunner(QObject):
    """GUI-thread owner of one batch at a time (thread + worker)."""

    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    running_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: BatchWorker | None = None

    @property
    def is_running(self) -> bool:
        return self._thread is not None

    @property
    def cancelling(self) -> bool:
        return self._worker is not None and self._worker.cancel_requested

    def start(self, request: BatchRequest) -> None:
        if self.is_running:
            raise RuntimeError("a batch is already running")
        thread = QThread()
        thread.setObjectName("bmiss-batch")
        worker = BatchWorker(request)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        # bound methods of this GUI-thread object: Qt queues these calls into the GUI thread
        worker.progress.connect(self._on_progress)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        worker.done.connect(self._on_done)
        self._thread, self._worker = thread, worker
        thread.start()
        self.running_changed.emit(True)

    def cancel(self) -> None:
        """Ask the run to stop (it does at its next snapshot, within a fraction of a second)."""
        if self._worker is not None:
            self._worker.cancel_requested = True

    def shutdown(self) -> None:
        """Cancel and wait for the thread to end (a QThread must not be destroyed while it runs)."""
        if self._thread is None:
            return
        self.cancel()
        self._thread.quit()
        self._thread.wait()
        self._release()

    @Slot(object)
    def _on_progress(self, snapshot: object) -> None:
        if self._thread is not None:
            self.progress.emit(snapshot)

    @Slot(object)
    def _on_finished(self, summary: object) -> None:
        self.finished.emit(summary)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
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
        if worker is not None:
            worker.deleteLater()
        if thread is not None:
            thread.deleteLater()
        self.running_changed.emit(False)

