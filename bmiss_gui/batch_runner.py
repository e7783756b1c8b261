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

from PySide6.QtCore import QObject, Signal, Slot

from bmiss_engine import BmissError, DecomposerConfig
from bmiss_gui.thread_owner import ThreadOwner

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchRequest:
    """What to run: ``run_batch(inputs, out_dir, config, formats=..., n_workers=..., **extra)``.

    extra: further keyword arguments of ``run_batch`` (``options``: the grid taken from files
    of several, which the dialog's result then opens on; ``scheduler``: a running Dask
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


class BatchRunner(ThreadOwner):
    """GUI-thread owner of one batch at a time (thread + worker)."""

    progress = Signal(object)

    @property
    def cancelling(self) -> bool:
        return self._worker is not None and bool(self._worker.cancel_requested)

    def start(self, request: BatchRequest) -> None:
        if self.is_running:
            raise RuntimeError("a batch is already running")
        worker = BatchWorker(request)
        # a bound method of this GUI-thread object: Qt queues the calls into the GUI thread
        worker.progress.connect(self._on_progress)
        self._launch(worker, "bmiss-batch")

    @Slot(object)
    def _on_progress(self, snapshot: object) -> None:
        if self._thread is not None:
            self.progress.emit(snapshot)
