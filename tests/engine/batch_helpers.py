"""A small study for the batch tests, and a task that takes its worker down.

The study (``make_study``): recordings in four formats (our ``.npz``, a MUedit/DEMUSE ``.mat``,
an openhdemg ``.json``, and BIDS EMG in a BIDS dataset nested in the study), a damaged ``.npz``,
and files that are not recordings (a truth file, notes, a JSON settings file).
"""

from __future__ import annotations

import os
from pathlib import Path

from bmiss_engine.batch.summary import RecordingOutcome
from bmiss_engine.batch.tasks import RecordingTask, decompose_recording
from bmiss_engine.io import write_result
from bmiss_engine.io.bids_emg import write_bids_emg
from bmiss_engine.io.npz import write_npz
from bmiss_engine.results import DecompositionResult
from bmiss_engine.simulate import SimulationConfig, simulate_recording

GOOD = ("rec_a.npz", "rec_b.mat", "rec_c.json", "bids/sub-01/emg/sub-01_task-grip_emg.bdf")
BROKEN = "broken.npz"
# few, short and small: a batch test decomposes each recording about three times
# the method named: to the command line a settings file without one means the joint method
CONFIG = {"method": "fastica", "n_iterations": 8, "batch_size": 8, "extension_factor": 8, "device": "cpu",
          "min_discharges": 5}


def make_study(root: Path) -> Path:
    recs = [
        simulate_recording(SimulationConfig(n_units=5, duration_s=2.5, grid_shape=(8, 4), missing_corner=False,
                                            ramp_s=0.5, seed=seed))
        for seed in range(4)
    ]
    root.mkdir(parents=True, exist_ok=True)
    write_npz(recs[0][0], root / "rec_a.npz")
    for (rec, _), name in zip(recs[1:3], ("rec_b.mat", "rec_c.json"), strict=True):
        write_result(DecompositionResult((), rec.sampling_rate_hz, rec.n_samples), root / name, recording=rec)
    bids = root / "bids"
    (bids / "sub-01" / "emg").mkdir(parents=True)
    (bids / "dataset_description.json").write_text('{"Name": "test", "BIDSVersion": "1.9.0"}')
    (bids / "derivatives").mkdir()
    write_npz(recs[3][0], bids / "derivatives" / "not_walked.npz")
    write_bids_emg(recs[3][0], bids / "sub-01" / "emg" / "sub-01_task-grip_emg.bdf")
    (root / BROKEN).write_bytes(b"PK\x03\x04 this is no zip archive")
    write_npz(recs[0][0], root / "rec_a_truth.npz")  # named like simulate's truth files
    (root / "notes.txt").write_text("not a recording")
    (root / "settings.json").write_text('{"n_iterations": 8}')
    return root


def crash_on(victim: str, task: RecordingTask) -> RecordingOutcome:
    """Decompose as usual, except that the worker process dies on ``victim``."""
    if task.name == victim:
        os._exit(13)
    return decompose_recording(task)


def visible_gpus() -> str | None:
    """CUDA_VISIBLE_DEVICES where this runs (a worker)."""
    return os.environ.get("CUDA_VISIBLE_DEVICES")


def stuck_writing(task: RecordingTask) -> RecordingOutcome:
    """Start writing the recording's result and never finish: a worker stopped mid-write leaves
    the temporary beside the result (``.NAME.bmiss.HOST-PID.XXXXXXXX.tmp``)."""
    import time

    from bmiss_engine.io.atomic import write_atomic

    task.outputs.result.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(task.outputs.result, lambda fh: (fh.write(b"partial"), fh.flush(), time.sleep(600)))
    return decompose_recording(task)
