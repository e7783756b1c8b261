"""Running a decomposition off the GUI thread.

:class:`DecompositionWorker` lives in a QThread and drains ``Decomposer.iterate()``; it never
touches a widget. :class:`DecompositionRunner` lives in the GUI thread, owns the thread and
the worker, and re-emits what the worker reports from its own slots, so the rest of the GUI
connects to a GUI-thread object only.

The engine yields its snapshots in bursts (FastICA: one per vector, a batch of vectors at a
time, about a second apart here). The worker passes every one to the GUI thread, where the
runner hands on the first of a burst at once and then the latest at most every
``MIN_SNAPSHOT_INTERVAL_S``: the end of a burst (the units the batch found) shows a tenth of a
second later, not with the next batch. Throttling in the worker could not do that: it sits
inside the engine's next step until the next snapshot comes.
"""

from __future__ import annotations

import gc
import logging
import math
import os
import time

from PySide6.QtCore import QObject, QTimer, Signal, Slot

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

    def _emit(self, state: IterationState) -> None:
        """Hand on a snapshot with its units' quality figures computed here, in the worker
        thread: they are cached on each (immutable) unit, and the units table, the pulse-train
        title and the unit details would otherwise compute them in the GUI thread, for every
        unit of a snapshot whose units are new objects (the joint method's decoding makes new
        pulse trains for all of them at every step)."""
        for unit in state.units:
            _ = unit.sil, unit.pnr_db, unit.cov_isi, unit.mean_rate_hz
        self.snapshot.emit(state)

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
                        self._emit(last)
                    self.cancelled.emit(last)
                    return
                try:
                    last = next(gen)
                except StopIteration as stop:
                    if pending and last is not None:
                        self._emit(last)
                    self.finished.emit(stop.value)
                    return
                now = time.perf_counter()
                if now - last_emit >= self._min_interval_s or last.phase == "done":
                    self._emit(last)
                    last_emit, pending = now, False
                else:
                    pending = True
        except Cancelled:
            # stopped inside a step: nothing it found after the last snapshot is reported
            if pending and last is not None:
                self._emit(last)
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
    """GUI-thread owner of one decomposition at a time (thread + worker); ``snapshot`` at most
    every ``MIN_SNAPSHOT_INTERVAL_S``, the last one before ``finished`` or ``cancelled``."""

    snapshot = Signal(object)
    cancelled = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._latest: IterationState | None = None  # received, not handed on yet
        self._pace = QTimer(self)
        self._pace.setSingleShot(True)
        self._pace.setInterval(round(MIN_SNAPSHOT_INTERVAL_S * 1000))
        self._pace.timeout.connect(self._hand_on)

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
        worker = DecompositionWorker(config, recording, min_interval_s=0.0)  # paced here instead
        # bound methods of this GUI-thread object: Qt queues these calls into the GUI thread
        worker.snapshot.connect(self._on_snapshot)
        worker.cancelled.connect(self._on_cancelled)
        self._launch(worker, "bmiss-decomposition")

    @Slot(object)
    def _on_snapshot(self, state: IterationState) -> None:
        if not self.reporting:
            return
        self._latest = state
        if not self._pace.isActive():
            self._hand_on()

    @Slot()
    def _hand_on(self) -> None:
        """The latest snapshot received, if not handed on yet; the next one waits its turn."""
        state, self._latest = self._latest, None
        if state is not None and self.reporting:
            self.snapshot.emit(state)
            self._pace.start()

    def _before_result(self) -> None:
        self._pace.stop()
        self._hand_on()

    @Slot(object)
    def _on_cancelled(self, state: object) -> None:
        self._before_result()
        if self.reporting:
            self.cancelled.emit(state)
