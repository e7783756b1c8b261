"""Running a decomposition off the GUI thread.

:class:`DecompositionWorker` lives in a QThread and drains ``Decomposer.iterate()``; it never
touches a widget. :class:`DecompositionRunner` lives in the GUI thread, owns the thread and
the worker, and re-emits what the worker reports from its own slots, so the rest of the GUI
connects to a GUI-thread object only.
"""

from __future__ import annotations

import gc
import logging
import math
import os
import time

from PySide6.QtCore import QObject, Signal, Slot

from bmiss_engine import BmissError, DecomposerConfig, IterationState, Recording
from bmiss_engine.device import cpu_threads, set_cpu_threads
from bmiss_engine.progress import CancelFlag, Cancelled, cancellable
from bmiss_gui.thread_owner import ThreadOwner

log = logging.getLogger(__name__)

# a screen needs no more than ~10 redraws a second; more would only queue up behind each other
MIN_SNAPSHOT_INTERVAL_S = 0.1


class DecompositionWorker(QObject):
    """Drains the decomposition generator; lives in the worker thread.

    Emits ``snapshot`` at most every ``min_interval_s`` (intermediate snapshots are skipped;
    the last one is always delivered), then exactly one of ``finished(result)``,
    ``cancelled(last_snapshot_or_None)`` or ``failed(message)``, then ``done``.
    """

    snapshot = Signal(object)  # IterationState
    finished = Signal(object)  # DecompositionResult
    cancelled = Signal(object)  # IterationState | None
    failed = Signal(str)
    done = Signal()

    def __init__(self, config: DecomposerConfig, recording: Recording,
                 min_interval_s: float = MIN_SNAPSHOT_INTERVAL_S) -> None:
        super().__init__()
        self._config = config
        self._recording = recording
        self._min_interval_s = min_interval_s
        # a plain flag: written by the GUI thread, read here between snapshots and by the
        # engine's inner loops (bmiss_engine.progress.checkpoint), so Cancel acts within a step
        self._cancel = CancelFlag()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.requested

    @cancel_requested.setter
    def cancel_requested(self, value: bool) -> None:
        if value:
            self._cancel.set()

    @Slot()
    def run(self) -> None:
        with cancellable(self._cancel):
            self._run()

    def _run(self) -> None:
        last: IterationState | None = None
        pending = False
        last_emit = -math.inf  # the first snapshot always goes through
        gen = None
        try:
            # here, in the worker thread: the window never waits for torch's import
            from bmiss_engine import Decomposer

            gen = Decomposer(self._config).iterate(self._recording)
            while True:
                if self.cancel_requested:
                    gen.close()
                    if pending and last is not None:
                        self.snapshot.emit(last)
                    self.cancelled.emit(last)
                    return
                try:
                    last = next(gen)
                except StopIteration as stop:
                    if pending and last is not None:
                        self.snapshot.emit(last)
                    self.finished.emit(stop.value)
                    return
                now = time.perf_counter()
                if now - last_emit >= self._min_interval_s or last.phase == "done":
                    self.snapshot.emit(last)
                    last_emit, pending = now, False
                else:
                    pending = True
        except Cancelled:
            # stopped inside a step: nothing it found after the last snapshot is reported
            if pending and last is not None:
                self.snapshot.emit(last)
            self.cancelled.emit(last)
        except BmissError as exc:
            self.failed.emit(str(exc))
        except MemoryError:
            self.failed.emit("out of memory: decompose a shorter time window or use the CPU")
        except Exception as exc:  # the worker must report every failure, never die silently
            log.exception("decomposition failed")
            self.failed.emit(f"unexpected error in the decomposition: {type(exc).__name__}: {exc}")
        finally:
            if gen is not None:
                gen.close()
            self.done.emit()


class DecompositionRunner(ThreadOwner):
    """GUI-thread owner of one decomposition at a time (thread + worker)."""

    snapshot = Signal(object)
    cancelled = Signal(object)

    def start(self, config: DecomposerConfig, recording: Recording) -> None:
        if self.is_running:
            raise RuntimeError("a decomposition is already running")
        # leave one core to the GUI thread: with all cores in torch it would wait for the
        # scheduler, and the window would stutter however little the GUI itself does
        available = os.cpu_count() or 1
        if available > 1 and cpu_threads() >= available:
            set_cpu_threads(available - 1)
        # a full garbage collection walks every object of the process (torch, SciPy, Qt
        # wrappers: about a quarter of a second here) while holding the GIL, and would freeze
        # the window mid-run; objects alive now are long-lived, so the collector may skip them
        gc.freeze()
        worker = DecompositionWorker(config, recording)
        # bound methods of this GUI-thread object: Qt queues these calls into the GUI thread
        worker.snapshot.connect(self._on_snapshot)
        worker.cancelled.connect(self._on_cancelled)
        self._launch(worker, "bmiss-decomposition")

    @Slot(object)
    def _on_snapshot(self, state: IterationState) -> None:
        if self.reporting:
            self.snapshot.emit(state)

    @Slot(object)
    def _on_cancelled(self, state: object) -> None:
        if self.reporting:
            self.cancelled.emit(state)
