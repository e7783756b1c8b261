"""Decompose a whole study on Dask: :func:`run_batch`, used by ``bmiss batch`` and meant for
the GUI's Batch dialog too.

Each recording is one task (:func:`~bmiss_engine.batch.tasks.decompose_recording`) on a
``LocalCluster`` this function starts (see :mod:`~bmiss_engine.batch.plan`) or on the workers of
a given scheduler. Recordings whose result is already there, readable and made from the same
input and settings are skipped; a task's error, a corrupt file or a crashed worker
(``KilledWorker`` once ``allowed_failures`` retries are spent) fails that recording only.
Progress goes to a callback as :class:`BatchProgress` snapshots, on the calling thread;
``cancel`` (anything with ``is_set()``, e.g. a ``threading.Event``) stops the run between
snapshots, leaving finished results in place. Ctrl+C (KeyboardInterrupt) stops it the same
way and raises :class:`BatchInterrupted`, which holds the summary written so far. Temporaries
that an earlier run killed mid-write left in the output folder are removed before the run
(see :func:`~bmiss_engine.io.atomic.remove_stale_temporaries`), and those of workers an
interrupt stopped mid-write after it.
"""

from __future__ import annotations

import logging
import os
import queue
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bmiss_engine.batch.discovery import StudyEntry, discover_recordings
from bmiss_engine.batch.fingerprint import Fingerprint, fingerprint, stored_key
from bmiss_engine.batch.outputs import OutputPaths, output_paths, parse_formats, write_derivative_description
from bmiss_engine.batch.plan import (
    GPU,
    ClusterPlan,
    dashboard_available,
    detect_gpus,
    plan_cluster,
    start_local_cluster,
)
from bmiss_engine.batch.summary import BatchSummary, RecordingOutcome
from bmiss_engine.batch.tasks import (
    EVENT_TOPIC,
    OpenOptions,
    RecordingTask,
    decompose_recording,
    describe_error,
    outcome_of,
)
from bmiss_engine.decomposer import DecomposerConfig
from bmiss_engine.errors import BmissError, RecordingFormatError
from bmiss_engine.io.atomic import remove_stale_temporaries
from bmiss_engine.io.bids_emg import dataset_root
from bmiss_engine.version import __version__

log = logging.getLogger(__name__)

_POLL_S = 0.1
_SLOTS_EVERY_S = 1.0


class Cancel(Protocol):
    def is_set(self) -> bool: ...


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl+C stopped a batch. ``summary``: every recording's outcome, those not finished
    "cancelled", as written to the output folder; a rerun continues from there."""

    def __init__(self, summary: BatchSummary) -> None:
        super().__init__(f"interrupted: {summary.n_done} of {len(summary.outcomes)} recordings done")
        self.summary = summary


@dataclass(frozen=True)
class RunningRecording:
    """A recording a worker is on: ``iteration`` of ``total`` separation vectors so far."""

    worker: str
    recording: str
    iteration: int = 0
    total: int = 0


@dataclass(frozen=True)
class BatchProgress:
    """A snapshot of a batch run.

    total: recordings in the study; outcomes: those finished so far (skipped ones included),
    in the order they finished; running: what each busy worker is on; cluster: which cluster
    runs the tasks; dashboard_link: the Dask dashboard's address, "" when there is none, and
    dashboard_note saying why.
    """

    total: int
    outcomes: tuple[RecordingOutcome, ...] = ()
    running: tuple[RunningRecording, ...] = ()
    cluster: str = ""
    dashboard_link: str = ""
    dashboard_note: str = ""

    @property
    def done(self) -> int:
        return len(self.outcomes)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)


@dataclass
class _Pending:
    entry: StudyEntry
    outputs: OutputPaths
    fingerprint: Fingerprint


@dataclass
class _State:
    total: int
    progress: Callable[[BatchProgress], None] | None
    outcomes: dict[str, RecordingOutcome] = field(default_factory=dict)
    running: dict[str, RunningRecording] = field(default_factory=dict)
    cluster: str = ""
    dashboard_link: str = ""
    dashboard_note: str = ""
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def finish(self, outcome: RecordingOutcome) -> None:
        self.outcomes[outcome.recording] = outcome
        for worker, r in list(self.running.items()):
            if r.recording == outcome.recording:
                del self.running[worker]

    def report(self) -> None:
        if self.progress is not None:
            self.progress(BatchProgress(
                self.total, tuple(self.outcomes.values()),
                tuple(self.running[w] for w in sorted(self.running)),
                self.cluster, self.dashboard_link, self.dashboard_note,
            ))


# long function: the run's life in order (plan, cluster, submit, collect, summarise) with its cleanup in one try/finally
def run_batch(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    config: DecomposerConfig | None = None,
    *,
    formats: str | Sequence[str] = (),
    options: OpenOptions | None = None,
    scheduler: str | None = None,
    n_workers: int | None = None,
    plan: ClusterPlan | None = None,
    allowed_failures: int = 1,
    progress: Callable[[BatchProgress], None] | None = None,
    cancel: Cancel | None = None,
    task: Callable[[RecordingTask], RecordingOutcome] = decompose_recording,
) -> BatchSummary:
    """Decompose every recording found in ``inputs`` (folders, glob patterns, files) into
    ``out_dir``, one Dask task each; write and return the study summary.

    ``config``: the decomposer settings (default :class:`DecomposerConfig`); ``formats``:
    export formats besides the result ``.npz`` ("csv", "summary", "mat", "tsv", "json");
    ``options``: grid description for files without one. ``scheduler``: address of a running
    Dask scheduler, else a LocalCluster is started from ``plan`` (default: :func:`plan_cluster`
    for the GPUs torch sees and ``n_workers``). ``allowed_failures``: how often a task may take
    a worker down with it before it is failed (local clusters only; a scheduler keeps its own
    ``distributed.scheduler.allowed-failures``). ``task``: the function a worker runs per
    recording (tests put a crashing one here). The workers of a remote scheduler must see the
    study and ``out_dir`` at the same paths (a shared file system); each task uses one torch
    thread, so a worker with k threads runs k recordings at once.

    Raises BmissError before any work for unusable arguments (unknown format, nothing found),
    and :class:`BatchInterrupted` (a KeyboardInterrupt) after Ctrl+C, once the summary is written.
    """
    t0 = time.perf_counter()
    config = config if config is not None else DecomposerConfig()
    options = options if options is not None else OpenOptions()
    export_formats = parse_formats(formats)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    entries = discover_recordings(inputs, exclude=[out])
    if not entries:
        raise BmissError(f"no recordings found in {', '.join(_names(inputs))}")
    # what a run killed mid-write left (kill -9, a crashed worker); the output folder is ours
    remove_stale_temporaries(out, recursive=True, unmarked=True)
    paths = output_paths(out, [e.name for e in entries], export_formats)
    if any(dataset_root(e.path) is not None for e in entries):  # outputs of a BIDS study make a derivative
        write_derivative_description(out, __version__)
    state = _State(len(entries), progress)
    interrupted = False
    try:
        todo = _to_do(entries, paths, config, options, state)  # hashes every input: Ctrl+C may come here too
        state.report()
        if todo:
            tasks = [RecordingTask(p.entry.path, p.entry.name, p.outputs, config, options, p.fingerprint,
                                   run_id=state.run_id) for p in todo]
            _run_on_dask(tasks, state, task, scheduler, plan or _default_plan(n_workers, config),
                         allowed_failures, cancel)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        # local workers stopped mid-write (Ctrl+C reaches them too) have ended by now
        remove_stale_temporaries(out, recursive=True, unmarked=True)
        outcomes = tuple(state.outcomes.get(e.name) or RecordingOutcome(e.name, "cancelled") for e in entries)
        summary = BatchSummary(outcomes, out, time.perf_counter() - t0)
        summary.write()
    if interrupted:
        raise BatchInterrupted(summary) from None
    state.report()
    return summary


def _to_do(
    entries: Sequence[StudyEntry], paths: Sequence[OutputPaths], config: DecomposerConfig, options: OpenOptions,
    state: _State,
) -> list[_Pending]:
    """The recordings to decompose; those already done (or unreadable) go to ``state`` as finished."""
    todo: list[_Pending] = []
    for entry, outputs in zip(entries, paths, strict=True):
        try:
            fp = fingerprint(entry.path, config, options.as_dict())
        except OSError as exc:
            state.finish(RecordingOutcome(entry.name, "failed", error=f"{entry.path}: cannot read ({exc})"))
            continue
        done = _finished(entry, outputs, fp)
        if done is not None:
            state.finish(done)
        else:
            todo.append(_Pending(entry, outputs, fp))
    return todo


def quiet_dask_logs(level: int = logging.ERROR) -> None:
    """Raise the level of Dask's own loggers: a local scheduler and its nannies run in this
    process, and their INFO lines would break a terminal's progress bars. (Importing
    ``distributed`` sets that level from its config, so it is imported first.)"""
    import distributed  # noqa: F401

    logging.getLogger("distributed").setLevel(level)


def _names(inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[str]:
    return [os.fspath(inputs)] if isinstance(inputs, (str, os.PathLike)) else [os.fspath(i) for i in inputs]


def _default_plan(n_workers: int | None, config: DecomposerConfig) -> ClusterPlan:
    return plan_cluster(detect_gpus(), n_workers, config.device)


def _finished(entry: StudyEntry, outputs: OutputPaths, fp: Fingerprint) -> RecordingOutcome | None:
    """The "skipped" outcome when a valid result for ``fp`` is there with every export, else None
    (the recording is done again). An empty file counts as missing: a write that never finished."""
    if not all(_has_content(p) for p in outputs.all):
        log.info("%s: (re)computing, an output is missing or empty", entry.name)
        return None
    from bmiss_engine.io.export import read_result_npz

    try:
        result = read_result_npz(outputs.result)
    except RecordingFormatError as exc:
        log.info("%s: recomputing, the result is unreadable (%s)", entry.name, exc)
        return None
    if stored_key(result) != fp.key:
        log.info("%s: recomputing, the input or the settings changed", entry.name)
        return None
    return outcome_of(entry.name, "skipped", result, outputs.result)


def _has_content(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


@contextmanager
def dask_client(scheduler: str | None, plan: ClusterPlan, allowed_failures: int = 1) -> Iterator[tuple[Any, str, str]]:
    """A Dask client of ``scheduler``, or of a LocalCluster started from ``plan`` (closed on exit)
    where a task may take ``allowed_failures`` workers down before it fails; with the cluster's
    description and a note on the dashboard ("" when there is one)."""
    import dask
    from distributed import Client

    if scheduler:
        with Client(scheduler) as client:
            yield client, f"scheduler {scheduler}", ""
        return
    note = "" if dashboard_available() else "Dask dashboard not available (install bokeh to get one)"
    with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}):
        cluster = start_local_cluster(plan, dashboard=not note)
    try:
        with Client(cluster) as client:
            yield client, plan.describe(), note
    finally:
        _close(cluster)


def _close(cluster: Any) -> None:
    """Close a local cluster without letting a failure to close hide why the run ended
    (distributed can fail inside ``close`` when a Ctrl+C reached its worker processes too)."""
    try:
        cluster.close()
    except Exception:
        log.debug("closing the local Dask cluster failed", exc_info=True)


def _run_on_dask(
    tasks: list[RecordingTask],
    state: _State,
    task: Callable[[RecordingTask], RecordingOutcome],
    scheduler: str | None,
    plan: ClusterPlan,
    allowed_failures: int,
    cancel: Cancel | None,
) -> None:
    """Submit ``tasks`` no faster than the workers take them, and collect their outcomes.

    At most one task per worker thread is in flight: Dask counts a crash against every task
    assigned to the dead worker, so a deeper queue would fail innocent recordings with it.
    """
    from distributed import as_completed

    events: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
    with dask_client(scheduler, plan, allowed_failures) as (client, description, note):
        state.cluster = description
        if not note and "dashboard" not in client.scheduler_info().get("services", {}):
            note = "the Dask scheduler runs no dashboard"
        state.dashboard_link, state.dashboard_note = ("" if note else client.dashboard_link), note
        client.subscribe_topic(EVENT_TOPIC, lambda event: events.put(event[1]))
        resources = plan.task_resources if not scheduler else _scheduler_resources(client)
        waiting = deque(tasks)
        running: dict[Any, RecordingTask] = {}
        finished = as_completed()
        slots, slots_checked = 0, -1.0
        state.report()
        try:
            while waiting or running:
                if cancel is not None and cancel.is_set():
                    client.cancel(list(running))
                    break
                if time.monotonic() - slots_checked >= _SLOTS_EVERY_S:
                    slots, slots_checked = _slots(client, resources), time.monotonic()
                while waiting and len(running) < slots:
                    t = waiting.popleft()
                    future = client.submit(task, t, key=f"bmiss-batch-{uuid.uuid4().hex}", pure=False,
                                           resources=resources)
                    running[future] = t
                    finished.add(future)
                changed = _take_events(events, state)
                for future in finished.next_batch(block=False) if finished.has_ready() else ():
                    state.finish(_outcome(future, running.pop(future)))
                    changed = True
                if changed:
                    state.report()
                else:
                    time.sleep(_POLL_S)
        except KeyboardInterrupt:
            _cancel_quietly(client, list(running))  # a shared scheduler's workers stop them too
            raise
        finally:
            client.unsubscribe_topic(EVENT_TOPIC)


def _cancel_quietly(client: Any, futures: list[Any]) -> None:
    """Cancel ``futures`` on the way out of an interrupted run; a failure here must not hide
    the interrupt (the scheduler drops them anyway once the client closes)."""
    try:
        client.cancel(futures)
    except Exception:  # best effort on the way out
        log.debug("cancelling the running tasks failed", exc_info=True)


def _slots(client: Any, resources: dict[str, float] | None) -> int:
    """Tasks the cluster's workers can run at once (one per thread; per GPU when GPUs are asked for)."""
    total = 0
    for w in client.scheduler_info()["workers"].values():
        n = int(w.get("nthreads", 1))
        if resources and GPU in resources:
            n = min(n, int((w.get("resources") or {}).get(GPU, 0)))
        total += n
    return total


def _take_events(events: queue.SimpleQueue[dict[str, Any]], state: _State) -> bool:
    changed = False
    while not events.empty():
        e = events.get()
        if e.get("run") != state.run_id or e.get("recording") in state.outcomes:
            continue  # another run's, or a late message about a finished recording
        worker = str(e.get("worker_name") or e.get("worker", ""))
        state.running[worker] = RunningRecording(worker, str(e["recording"]), int(e.get("iteration", 0)),
                                                 int(e.get("total", 0)))
        changed = True
    return changed


def _outcome(future: Any, t: RecordingTask) -> RecordingOutcome:
    from distributed import KilledWorker

    try:
        outcome: RecordingOutcome = future.result()
        return outcome
    except KilledWorker:
        return RecordingOutcome(t.name, "failed", error="the worker process died while decomposing it "
                                                        "(crash or out of memory; KilledWorker)")
    except Exception as exc:  # noqa: BLE001 - the task keeps its own errors; this is Dask's (lost scheduler, pickling)
        return RecordingOutcome(t.name, "failed", error=describe_error(exc))


def _scheduler_resources(client: Any) -> dict[str, float] | None:
    """Ask for a GPU per task when the scheduler's workers advertise GPUs."""
    workers = client.scheduler_info().get("workers", {}).values()
    return {GPU: 1.0} if any(GPU in (w.get("resources") or {}) for w in workers) else None
