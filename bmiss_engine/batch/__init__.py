"""Batch decomposition of a whole study on Dask (``bmiss batch``; the GUI's Batch dialog).

    from bmiss_engine.batch import run_batch
    summary = run_batch("study/", "out/", DecomposerConfig().replace(n_iterations=100), formats="csv,mat", n_workers=4)

Modules, one job each: :mod:`discovery` (which files are recordings), :mod:`outputs` (where
results go), :mod:`fingerprint` (content hash in the provenance, for resuming), :mod:`tasks`
(one recording on a worker), :mod:`plan` (which local cluster: GPUs or CPUs), :mod:`run`
(submit, follow, collect), :mod:`summary` (the study table), :mod:`terminal` (the command
line's progress display).
"""

from __future__ import annotations

from bmiss_engine.batch.discovery import StudyEntry, discover_recordings
from bmiss_engine.batch.outputs import parse_formats
from bmiss_engine.batch.plan import ClusterPlan, WorkerPlan, plan_cluster
from bmiss_engine.batch.run import BatchInterrupted, BatchProgress, RunningRecording, run_batch
from bmiss_engine.batch.summary import BatchSummary, RecordingOutcome
from bmiss_engine.batch.tasks import OpenOptions, RecordingTask, decompose_recording

__all__ = [
    "BatchInterrupted",
    "BatchProgress",
    "BatchSummary",
    "ClusterPlan",
    "OpenOptions",
    "RecordingOutcome",
    "RecordingTask",
    "RunningRecording",
    "StudyEntry",
    "WorkerPlan",
    "decompose_recording",
    "discover_recordings",
    "parse_formats",
    "plan_cluster",
    "run_batch",
]
