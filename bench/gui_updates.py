"""How many live updates reach the views while the window decomposes the demo recording, and
the longest the event loop waits.

usage: QT_QPA_PLATFORM=offscreen .venv/bin/python bench/gui_updates.py [--configs default,quick,feed]
       xvfb-run -a .venv/bin/python bench/gui_updates.py --display xcb     (the 3D view draws)
       ... --repo /tmp/old-checkout --label before                          (another checkout's code)

Drives the real main window: opens ``resources/demo_recording.npz``, decomposes it, and counts,
per second of the run, the snapshots the GUI thread receives from the worker and the redraws of
each live view, and measures the gaps between the ticks of a 10 ms timer (the event-loop stall a
user would feel). ``--display xcb`` (under Xvfb) draws the 3D view with OpenGL (Mesa's software
renderer); offscreen it shows a note instead.

The engine yields its snapshots once per batch of separation vectors (about 1.3 a second here),
so that, not the window, bounds the redraws of a real run. "feed" measures what the window can
show: during the same decomposition (its load on the CPU and the GIL), the units of the
default run's snapshots are fed to the window at the worker's highest rate (10 a second), in
place of the run's own.

Rows are merged into bench/results/gui_updates_cpu.md (gui_updates_cuda.md on cuda): a row
replaces the one of the same label, display and config, others stay (before/after figures);
the file's hand-written "## Findings" section is kept.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_REPO = Path(__file__).resolve().parents[1]


def _code_repo() -> Path:
    """The checkout whose code is measured (--repo), put first on the path before any import."""
    if "--repo" in sys.argv:
        return Path(sys.argv[sys.argv.index("--repo") + 1]).resolve()
    return BENCH_REPO


sys.path.insert(0, str(BENCH_REPO))
sys.path.insert(0, str(_code_repo()))
if "--display" in sys.argv:
    os.environ["QT_QPA_PLATFORM"] = sys.argv[sys.argv.index("--display") + 1]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

from bench.common import machine  # noqa: E402

DEMO = BENCH_REPO / "resources" / "demo_recording.npz"
RESULTS = BENCH_REPO / "bench" / "results"
CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "quick": {"n_iterations": 64, "batch_size": 8},
    "joint": {"method": "joint"},  # the window's default method: FastICA, then the joint decoding
    "feed": {},  # the default run, its snapshots replaced by the default run's at 10/s
}
FEED_INTERVAL_MS = 100
VIEW_ORDER = ("units", "pulse_train", "muap", "details", "emg", "rates", "anatomy")


def _app() -> Any:
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication([])


def _pump(app: Any, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.001)


def _count_redraws(window: Any) -> dict[str, int]:
    """Wrap each live view's redraw with a counter, by the view's dock name."""
    names = {id(widget): name for name, widget in window.views.items()}
    redraws: dict[str, int] = {}
    for view in window.live_redraw._views:
        name = names.get(id(view.widget), type(view.widget).__name__)
        redraws[name] = 0
        original = view.redraw

        def counted(original: Any = original, name: str = name) -> None:
            redraws[name] += 1
            original()

        view.redraw = counted
    return redraws


def _feed(window: Any, states: list[Any]) -> Any:
    """A timer giving the window ``states``' units at the worker's highest rate, in place of
    the run's own snapshots."""
    from PySide6.QtCore import QTimer

    window.runner.snapshot.disconnect(window.run._on_snapshot)
    step = {"i": 0}

    def next_state() -> None:
        window.session.show_progress(states[step["i"] % len(states)])
        step["i"] += 1

    timer = QTimer()
    timer.setInterval(FEED_INTERVAL_MS)
    timer.timeout.connect(next_state)
    return timer


def measure(config_name: str, device: str, recorded: list[Any]) -> dict[str, Any]:
    from PySide6.QtCore import QSettings, QTimer

    from bmiss_engine import DecomposerConfig
    from bmiss_gui.main_window import MainWindow

    app = _app()
    tmp = Path(tempfile.mkdtemp(prefix="bmiss-bench-"))
    os.environ["BMISS_RECOVERY_DIR"] = str(tmp / "recovery")
    window = MainWindow(QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
    window.files.ask_unsaved = lambda: "discard"
    window.show()
    if not window.open_file(DEMO):
        raise RuntimeError(f"cannot open {DEMO}")
    _pump(app, 1.0)  # first paint and the 3D scene are not part of the run
    redraws = _count_redraws(window)
    snapshots: list[float] = []
    states: list[Any] = []
    window.runner.snapshot.connect(lambda s: (snapshots.append(time.perf_counter()), states.append(s)))
    feed = _feed(window, recorded) if config_name == "feed" else None
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    done: list[int] = []
    window.runner.finished.connect(lambda r: done.append(r.n_units))
    window.runner.failed.connect(lambda m: done.append(-1))

    config = DecomposerConfig.from_dict({"device": device, **CONFIGS[config_name]})
    load_before = os.getloadavg()[0]
    timer.start()
    t0 = time.perf_counter()
    window.decompose(config)
    if feed is not None:
        feed.start()
    while not done or window.runner.is_running or not window.live_redraw.idle:
        app.processEvents()
        time.sleep(0.001)
    wall = time.perf_counter() - t0
    timer.stop()
    if feed is not None:
        feed.stop()
    load_after = os.getloadavg()[0]
    window.close()
    window.deleteLater()
    app.processEvents()
    if done[0] < 0:
        raise RuntimeError("the decomposition failed")
    if config_name == "default":
        recorded[:] = states
    gaps = np.diff(ticks) * 1000
    return {
        "wall_s": wall, "units": done[0], "snapshots_per_s": len(snapshots) / wall,
        "stall_max_ms": float(gaps.max()), "stall_p99_ms": float(np.percentile(gaps, 99)),
        "load": f"{load_before:.1f} → {load_after:.1f}",
        "redraws_per_s": {name: n / wall for name, n in redraws.items()},
    }


def _commit(repo: Path) -> str:
    proc = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=False)
    return proc.stdout.strip() or "?"


HEADER = ["label", "code", "display", "config", "run (s)", "units", "snapshots/s", "units table", "pulse train",
          "MUAP grid", "rates", "3D", "other views", "longest stall (ms)", "99th pct stall (ms)", "load avg"]


def row(label: str, code: str, display: str, config: str, r: dict[str, Any]) -> list[str]:
    per = r["redraws_per_s"]
    named = {"units": "units table", "pulse_train": "pulse train", "muap": "MUAP grid", "rates": "rates",
             "anatomy": "3D"}
    others = ", ".join(f"{k} {v:.1f}" for k, v in per.items() if k not in named) or "–"
    return [label, code, display, config, f"{r['wall_s']:.1f}", str(r["units"]), f"{r['snapshots_per_s']:.1f}",
            *[f"{per.get(k, 0.0):.1f}" for k in named], others, f"{r['stall_max_ms']:.0f}",
            f"{r['stall_p99_ms']:.0f}", r["load"]]


def merge_rows(path: Path, new: list[list[str]]) -> list[list[str]]:
    """The table rows already in ``path`` (same header) that ``new`` does not replace, then ``new``."""
    keep: list[list[str]] = []
    if path.is_file():
        lines = [ln for ln in path.read_text().splitlines() if ln.startswith("| ")]
        if lines and [c.strip() for c in lines[0].strip("|").split("|")] == HEADER:
            keys = {(r[0], r[2], r[3]) for r in new}
            for ln in lines[1:]:
                cells = [c.strip() for c in ln.strip().strip("|").split("|")]
                if len(cells) == len(HEADER) and (cells[0], cells[2], cells[3]) not in keys:
                    keep.append(cells)
    return keep + new


NOTES = """
Demo recording (64 channels, 15 s, 2048 Hz) decomposed in the real main window on {device};
{machine}. "default": the engine's default settings; "quick": 64 separation vectors in batches
of 8; "feed": the default run, with the units of its snapshots fed to the window 10 times a
second in place of its own (what the window can show; the decomposition still loads the CPU).
display: offscreen (no OpenGL: the 3D view shows a note) or xcb under Xvfb (the 3D view draws
with Mesa's software OpenGL, as on a machine without a GPU driver). code: the commit measured
("before": the commit before the 3D view and redraw changes of issue 25; "after" also has the
review panels added meanwhile, the unit details and the EMG overlay, as two more live views).

Snapshots/s: what reaches the views (at most 10 a second, bmiss_gui/worker.py; FastICA yields
its snapshots in a burst after each batch of vectors, about one batch a second here, which is
what bounds the redraws of a real run). The view columns are redraws per second; the rates, EMG
and 3D views are redrawn at most twice a second by design (bmiss_gui/presenter.py), and a 3D
redraw that changes nothing draws nothing. Stall: the longest gap between the ticks of a 10 ms
timer while the run lasted (what a user would feel as a freeze; the target is < 100 ms). Load
average: the 1-minute load of this {cores}-core machine when the run started and ended. It was
shared with other jobs (other sessions' tests and benchmarks): wall times are longer and stalls
larger than on an idle machine, and rows measured at different loads compare only roughly.

Commands (the "before" rows: `--repo` a `git archive` of that commit, `--code`, `--label before`):
`xvfb-run -a .venv/bin/python bench/gui_updates.py --display xcb --configs default,feed` and
`QT_QPA_PLATFORM=offscreen .venv/bin/python bench/gui_updates.py --configs default,quick,feed`
"""


def _findings(path: Path) -> str:
    """The hand-written "## Findings" section of the results file, kept across runs."""
    text = path.read_text() if path.is_file() else ""
    return "\n" + text[text.index("## Findings"):] if "## Findings" in text else ""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", default="default,quick,feed")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--display", default=None, help="Qt platform: offscreen (default) or xcb (under xvfb-run)")
    ap.add_argument("--repo", default=None, help="measure the code of this checkout (e.g. a worktree of an older commit)")
    ap.add_argument("--label", default="after")
    ap.add_argument("--code", default=None, help="the commit measured, where --repo is no git checkout")
    args = ap.parse_args()
    display = os.environ["QT_QPA_PLATFORM"]
    code = args.code or _commit(_code_repo())
    names = args.configs.split(",")
    if "feed" in names and "default" not in names:
        names.insert(0, "default")  # the feed replays the default run's snapshots
    recorded: list[Any] = []
    rows = []
    for name in names:
        r = measure(name, args.device, recorded)
        rows.append(row(args.label, code, display, name, r))
        print(rows[-1], flush=True)
    out = RESULTS / f"gui_updates_{'cuda' if args.device == 'cuda' else 'cpu'}.md"
    rows = merge_rows(out, rows)
    notes = NOTES.format(device=args.device, machine=machine(), cores=os.cpu_count())
    lines = ["# Live updates reaching the views during a decomposition", "",
             "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    out.write_text("\n".join(lines) + "\n\n" + notes.strip() + "\n" + _findings(out))
    print(out.read_text())


if __name__ == "__main__":
    main()
