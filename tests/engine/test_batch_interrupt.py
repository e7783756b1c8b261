"""``bmiss batch`` stopped by Ctrl+C (one line, exit 130, no temporaries left) or killed
earlier (its temporaries removed and its unfinished recordings done again by the next run).

Most tests run the recordings in this process in place of Dask (``_run_on_dask`` replaced),
so they test the run's bookkeeping; one sends SIGINT to a real ``bmiss batch`` and its local
Dask worker, as a terminal's Ctrl+C does.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bmiss_engine.batch import run as batch_run
from bmiss_engine.cli import main
from bmiss_engine.io.npz import write_npz
from bmiss_engine.simulate import SimulationConfig, simulate_recording

from .batch_helpers import CONFIG
from .test_io_atomic import dead_pid, temporary

pytestmark = pytest.mark.timeout(300)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def study(tmp_path) -> Path:
    """Two short recordings and the settings file."""
    root = tmp_path / "study"
    root.mkdir()
    for seed in range(2):
        rec, _ = simulate_recording(SimulationConfig(n_units=3, duration_s=1.0, grid_shape=(4, 4), missing_corner=False,
                                                     ramp_s=0.2, seed=seed))
        write_npz(rec, root / f"rec{seed}.npz")
    (tmp_path / "config.json").write_text(json.dumps(CONFIG))
    return root


def in_process(stop_after: int | None = None, ran: list[str] | None = None):
    """A stand-in for ``_run_on_dask`` that runs the tasks here, one after the other; after
    ``stop_after`` of them a worker is left stopped mid-write and Ctrl+C arrives."""

    def run(tasks, state, task, *_args) -> None:
        for i, t in enumerate(tasks):
            if i == stop_after:
                temporary(t.outputs.result.parent, t.outputs.result.name, dead_pid())
                raise KeyboardInterrupt
            if ran is not None:
                ran.append(t.name)
            state.finish(task(t))

    return run


def batch(study: Path, out: Path, *more: str) -> int:
    return main(["batch", str(study), "--out", str(out), "--config", str(study.parent / "config.json"),
                 "--no-progress", *more])


def statuses(out: Path) -> dict[str, str]:
    rows = csv.DictReader((out / "batch_summary.csv").read_text().splitlines())
    return {r["recording"]: r["status"] for r in rows}


def temporaries(out: Path) -> list[Path]:
    return list(out.rglob("*.tmp"))


def test_ctrl_c_prints_one_line_and_exits_130(study, tmp_path, monkeypatch, capsys) -> None:
    out = tmp_path / "out"
    monkeypatch.setattr(batch_run, "_run_on_dask", in_process(stop_after=1))
    assert batch(study, out, "--formats", "csv") == 130
    captured = capsys.readouterr()
    assert captured.err == "bmiss: interrupted: 1 of 2 recordings done; rerun to continue\n"
    assert captured.out == ""
    assert temporaries(out) == []
    assert statuses(out) == {"rec0.npz": "ok", "rec1.npz": "cancelled"}
    # the rerun continues where it stopped
    ran: list[str] = []
    monkeypatch.setattr(batch_run, "_run_on_dask", in_process(ran=ran))
    assert batch(study, out, "--formats", "csv") == 0
    assert ran == ["rec1.npz"]
    assert statuses(out) == {"rec0.npz": "skipped", "rec1.npz": "ok"}


def test_next_run_removes_stale_temporaries_and_redoes_unfinished_outputs(study, tmp_path, monkeypatch) -> None:
    """What ``kill -9`` leaves: temporaries of a dead writer (and of a version that did not
    name its writer), and an export that never got its content. The next run removes the
    former and decomposes that recording again; a live process's temporary stays."""
    out = tmp_path / "out"
    monkeypatch.setattr(batch_run, "_run_on_dask", in_process())
    assert batch(study, out, "--formats", "csv,summary") == 0
    killed = temporary(out, "rec1_result.npz", dead_pid())
    unmarked = out / ".rec1_discharges.csv.x7k2m9q_.tmp"
    unmarked.write_bytes(b"partial")
    os.utime(unmarked, (time.time() - 3600,) * 2)
    live = temporary(out, "rec0.mat", os.getppid())  # another process still writing
    (out / "rec1_summary.csv").write_bytes(b"")  # an export cut short
    ran: list[str] = []
    monkeypatch.setattr(batch_run, "_run_on_dask", in_process(ran=ran))
    assert batch(study, out, "--formats", "csv,summary") == 0
    assert ran == ["rec1.npz"]
    assert statuses(out) == {"rec0.npz": "skipped", "rec1.npz": "ok"}
    assert temporaries(out) == [live]
    assert not killed.exists()
    assert (out / "rec1_summary.csv").stat().st_size > 0


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_to_batch_and_its_dask_worker(study, tmp_path) -> None:
    """Ctrl+C in a terminal signals the whole process group: ``bmiss batch`` and its local
    worker, which is in the middle of writing a result (``stuck_writing``). One line, exit 130,
    no traceback from either, no temporary left."""
    out = tmp_path / "out"
    script = ("import functools, sys\n"
              "if __name__ == '__main__':\n"
              "    from bmiss_engine import batch\n"
              "    from bmiss_engine.cli import main\n"
              "    from tests.engine.batch_helpers import stuck_writing\n"
              "    batch.run_batch = functools.partial(batch.run_batch, task=stuck_writing)\n"
              "    sys.exit(main(sys.argv[1:]))\n")
    (tmp_path / "run_cli.py").write_text(script)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    p = subprocess.Popen([sys.executable, str(tmp_path / "run_cli.py"), "batch", str(study), "--out", str(out),
                          "--workers", "1", "--config", str(study.parent / "config.json"), "--no-progress"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not temporaries(out) and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.1)
        assert temporaries(out), "the worker never started writing"
        os.killpg(p.pid, signal.SIGINT)
        _, stderr = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert p.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.splitlines()[-1] == "bmiss: interrupted: 0 of 2 recordings done; rerun to continue"
    assert temporaries(out) == []
    assert set(statuses(out).values()) == {"cancelled"}
