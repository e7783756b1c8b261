"""Which local Dask cluster a batch starts: one single-threaded worker process per GPU, pinned
to it and advertising the resource ``{"GPU": 1}`` (tasks ask for it, so each GPU runs one
decomposition at a time), or plain single-threaded CPU workers.

:func:`plan_cluster` decides (pure, testable without a GPU); :func:`start_local_cluster`
starts what it planned.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from bmiss_engine.errors import ConfigError

log = logging.getLogger(__name__)

GPU = "GPU"


@dataclass(frozen=True)
class WorkerPlan:
    """One worker process: its name, the environment it starts with, its Dask resources."""

    name: str
    env: dict[str, str] = field(default_factory=dict)
    resources: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ClusterPlan:
    """The workers to start and the resources each task asks for (None: any worker)."""

    workers: tuple[WorkerPlan, ...]
    task_resources: dict[str, float] | None = None

    @property
    def n_workers(self) -> int:
        return len(self.workers)

    @property
    def uses_gpus(self) -> bool:
        return self.task_resources is not None and GPU in self.task_resources

    def describe(self) -> str:
        kind = "GPU" if self.uses_gpus else "CPU"
        return f"LocalCluster: {self.n_workers} {kind} worker{'s' if self.n_workers != 1 else ''}, 1 thread each"


def plan_cluster(n_gpus: int, n_workers: int | None = None, device: str = "auto", cpu_count: int | None = None) -> ClusterPlan:
    """The local cluster for a machine with ``n_gpus`` CUDA devices.

    With GPUs (and ``device`` "auto" or "cuda"): one worker per GPU (at most ``n_workers`` of
    them when given), ``CUDA_VISIBLE_DEVICES`` set to its GPU, resources ``{"GPU": 1}``.
    Otherwise ``n_workers`` CPU workers (default: one per core).
    """
    if n_workers is not None and n_workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {n_workers}")
    if n_gpus > 0 and device in ("auto", "cuda"):
        count = n_gpus if n_workers is None else min(n_gpus, n_workers)
        workers = tuple(
            WorkerPlan(f"gpu{i}", {"CUDA_VISIBLE_DEVICES": str(i)}, {GPU: 1.0}) for i in range(count)
        )
        return ClusterPlan(workers, {GPU: 1.0})
    count = n_workers if n_workers is not None else max(1, cpu_count or os.cpu_count() or 1)
    return ClusterPlan(tuple(WorkerPlan(f"cpu{i}") for i in range(count)))


def detect_gpus() -> int:
    """CUDA devices torch sees here (0 without CUDA)."""
    import torch

    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


def dashboard_available() -> bool:
    """The Dask dashboard needs bokeh, an optional dependency of distributed."""
    return importlib.util.find_spec("bokeh") is not None


def start_local_cluster(plan: ClusterPlan, *, dashboard: bool = True) -> Any:
    """A ``distributed.LocalCluster`` of single-threaded worker processes as ``plan`` says.

    With ``dashboard`` the scheduler serves the Dask dashboard on port 8787 (or a free one);
    without, its small HTTP server (health, metrics) takes any free port, so that it never
    competes for 8787. Workers get their plan's environment and resources through their own
    worker spec, since LocalCluster gives every worker the same.
    """
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=0, threads_per_worker=1, processes=True, dashboard_address=":8787" if dashboard else ":0",
        scheduler_kwargs=None if dashboard else {"dashboard": False},
        silence_logs=logging.ERROR, memory_limit=_memory_per_worker(plan.n_workers),
    )
    try:
        base = cluster.new_spec
        for worker in plan.workers:
            options = {**base["options"], "name": worker.name, "env": dict(worker.env),
                       "resources": dict(worker.resources)}
            cluster.worker_spec[worker.name] = {"cls": base["cls"], "options": options}
        cluster.scale(plan.n_workers)
    except BaseException:
        try:
            cluster.close()
        except Exception:
            log.debug("closing a cluster that failed to start failed too", exc_info=True)
        raise
    return cluster


def _memory_per_worker(n_workers: int) -> int | str:
    from distributed.system import MEMORY_LIMIT

    return int(MEMORY_LIMIT // max(1, n_workers)) if MEMORY_LIMIT else "auto"
