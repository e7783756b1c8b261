"""The application's start: the window comes up without torch, the decomposer loads in the
background, and the non-interactive modes the installer checks use (--startup-time, --smoke-test)."""

from __future__ import annotations

from tests.gui.conftest import require_gui

require_gui()

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(args: list[str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)


def test_the_window_module_loads_without_torch_or_scipy_stats() -> None:
    # torch and scipy.stats are most of the start time on a small machine: the window must not wait for them
    probe = ("import sys, bmiss_gui.app, bmiss_gui.main_window; "
             "print(sorted(m for m in ('torch', 'scipy.stats', 'scipy.signal') if m in sys.modules))")
    out = _run(["-c", probe])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_warmup_loads_the_decomposer_and_names_the_device(window, qtbot) -> None:
    from bmiss_engine.device import describe_device, pick_device

    with qtbot.waitSignal(window.warmup.device_ready, timeout=60_000):
        window.warmup.start()
    assert window.device_label.text() == f"Device: {describe_device(pick_device('auto'))}"
    assert "bmiss_engine.decomposer" in sys.modules


def test_startup_time_reports_when_the_window_is_ready(tmp_path: Path) -> None:
    out = _run(["-m", "bmiss_gui.app", "--startup-time"])
    assert out.returncode == 0, out.stderr[-2000:]
    ready = [line for line in out.stdout.splitlines() if line.startswith("BMISS_READY")]
    assert len(ready) == 1
    seconds = float(ready[0].split()[1])
    assert 0 < seconds < 120


def test_smoke_test_mode_decomposes_and_exports(tmp_path: Path, small_recording_file: Path) -> None:
    out_dir = tmp_path / "smoke"
    out = _run(["-m", "bmiss_gui.app", "--smoke-test", str(out_dir), str(small_recording_file)])
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    report = json.loads((out_dir / "smoke.json").read_text())
    assert report["passed"]
    assert report["units_in_csv"] >= 1
    with (out_dir / f"{small_recording_file.stem}_units.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["unit_id"] for r in rows}
    assert all(float(r["time_s"]) >= 0 for r in rows)
    assert len({r["unit_id"] for r in rows}) == report["units_in_csv"]
    assert (out_dir / "smoke_window.png").stat().st_size > 10_000


def test_smoke_test_mode_fails_on_a_bad_recording(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a recording")
    out_dir = tmp_path / "smoke"
    out = _run(["-m", "bmiss_gui.app", "--smoke-test", str(out_dir), str(bad)], timeout=120)
    assert out.returncode == 1
    report = json.loads((out_dir / "smoke.json").read_text())
    assert not report["passed"]
    assert "could not open" in report["error"]
