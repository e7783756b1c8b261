"""One recording's work, as a Dask task runs it on a worker: open the file as ``bmiss
decompose`` does, decompose, write the exports and then the result (the result last: its
presence marks the recording done), and report an outcome. Exceptions do not escape: a
recording that cannot be done is a "failed" outcome with its error.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bmiss_engine.batch.fingerprint import PROVENANCE_KEY, Fingerprint, stamped
from bmiss_engine.batch.outputs import OutputPaths
from bmiss_engine.batch.summary import RecordingOutcome, Status
from bmiss_engine.decomposer import Decomposer, DecomposerConfig, IterationState
from bmiss_engine.device import set_cpu_threads
from bmiss_engine.errors import BmissError
from bmiss_engine.progress import drain
from bmiss_engine.recording import Recording
from bmiss_engine.results import DecompositionResult

log = logging.getLogger(__name__)

EVENT_TOPIC = "bmiss-batch"
_EVENT_EVERY_S = 0.5


@dataclass(frozen=True)
class OpenOptions:
    """How recordings are opened: the command line's grid flags (``--grid-rows``,
    ``--grid-cols``, ``--ied-mm``, ``--fs-hz``), for files without a layout or to replace it,
    and ``--grid-index``, the grid taken from files that hold several (from 0)."""

    grid_rows: int | None = None
    grid_cols: int | None = None
    ied_mm: float = 8.0
    fs_hz: float | None = None
    grid_index: int = 0

    def __post_init__(self) -> None:
        if (self.grid_rows is None) != (self.grid_cols is None):
            raise BmissError("give both --grid-rows and --grid-cols")
        if self.grid_index < 0:
            raise BmissError(f"--grid-index {self.grid_index}: grids are counted from 0")

    def as_dict(self) -> dict[str, Any]:
        values: dict[str, Any] = {"grid_rows": self.grid_rows, "grid_cols": self.grid_cols, "ied_mm": self.ied_mm,
                                  "fs_hz": self.fs_hz}
        if self.grid_index:  # only when set: results made before it existed keep their fingerprint
            values["grid_index"] = self.grid_index
        return values

    def open(self, path: str | os.PathLike[str]) -> Recording:
        from bmiss_engine.io import open_recording
        from bmiss_engine.recording import ElectrodeGrid

        grid = None
        if self.grid_rows is not None and self.grid_cols is not None:
            grid = ElectrodeGrid.full(self.grid_rows, self.grid_cols, self.ied_mm)
        return open_recording(path, grid=grid, sampling_rate_hz=self.fs_hz, grid_index=self.grid_index)


@dataclass(frozen=True)
class RecordingTask:
    """Everything a worker needs for one recording (picklable, no open files)."""

    source: Path
    name: str
    outputs: OutputPaths
    config: DecomposerConfig
    options: OpenOptions
    fingerprint: Fingerprint
    torch_threads: int = 1
    run_id: str = ""  # tags its progress messages: several runs may share a scheduler


def decompose_recording(task: RecordingTask) -> RecordingOutcome:
    """Run ``task`` here (a Dask worker, or any process) and say how it went."""
    worker = _worker()
    set_cpu_threads(task.torch_threads)
    t0 = time.perf_counter()
    _emit(worker, {"run": task.run_id, "recording": task.name, "iteration": 0, "total": task.config.separation.n_iterations})
    try:
        recording = task.options.open(task.source)
        result = _decompose(task, recording, worker)
        result = stamped(result, task.fingerprint, task.name, _worker_name(worker))
        _write(task.outputs, result, recording)
    except Exception as exc:  # one recording's failure, whatever it is, must not stop the study
        if isinstance(exc, BmissError):  # an expected failure: the summary says it all
            log.info("%s failed: %s", task.name, exc)
        else:
            log.warning("%s failed", task.name, exc_info=True)
        return RecordingOutcome(task.name, "failed", wall_time_s=time.perf_counter() - t0,
                                worker=_worker_name(worker), error=describe_error(exc))
    return outcome_of(task.name, "ok", result, task.outputs.result, _worker_name(worker))


def _decompose(task: RecordingTask, recording: Recording, worker: Any) -> DecompositionResult:
    gen = Decomposer(task.config).iterate(recording)
    last = time.perf_counter()

    def report(state: IterationState) -> None:
        nonlocal last
        if time.perf_counter() - last >= _EVENT_EVERY_S:
            last = time.perf_counter()
            _emit(worker, {"run": task.run_id, "recording": task.name, "iteration": state.iteration,
                           "total": state.total})

    try:
        return drain(gen, report)
    finally:
        gen.close()


def _write(outputs: OutputPaths, result: DecompositionResult, recording: Recording) -> None:
    from bmiss_engine.io import write_result

    outputs.result.parent.mkdir(parents=True, exist_ok=True)
    for _, path in outputs.exports:
        write_result(result, path, recording=recording)
    write_result(result, outputs.result)


def outcome_of(
    name: str, status: Status, result: DecompositionResult, result_path: Path, worker: str = ""
) -> RecordingOutcome:
    """The summary row of a finished result."""
    sils = [u.sil for u in result.units]
    prov = result.provenance
    wall = prov.get("wall_time_s")
    batch = prov.get(PROVENANCE_KEY)
    worker = worker or (str(batch.get("worker", "")) if isinstance(batch, dict) else "")
    return RecordingOutcome(
        name, status, result.n_units, float(np.mean(sils)) if sils else float("nan"),
        float(wall) if isinstance(wall, (int, float)) else None, str(prov.get("device", "")),
        worker, "", result_path,
    )


def describe_error(exc: BaseException) -> str:
    """One line: the engine's own errors as they are (they name the file), others with their type."""
    text = " ".join(str(exc).split())
    if isinstance(exc, BmissError):
        return text
    if isinstance(exc, MemoryError):
        return "out of memory"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _worker() -> Any:
    try:
        from distributed import get_worker

        return get_worker()
    except (ImportError, ValueError):
        return None  # not inside a Dask worker


def _worker_name(worker: Any) -> str:
    return "" if worker is None else str(worker.name)


def _emit(worker: Any, message: dict[str, Any]) -> None:
    if worker is not None:
        # the scheduler overwrites a "worker" key with the worker's address
        worker.log_event(EVENT_TOPIC, {**message, "worker_name": _worker_name(worker)})
