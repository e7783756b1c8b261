"""Standalone bundle: size, archive size, and start time to an interactive window, for the
bundle (dist/BMISS) and for the venv's ``bmiss-gui``; prints a table and writes
bench/results/installer.md (with the last installer/smoke_test.sh result).

    python bench/startup.py [--runs 4] [--bundle dist/BMISS] [--out bench/results/installer.md]

Start time is measured from outside: from spawning the process to the moment it prints
``BMISS_READY`` (``bmiss-gui --startup-time``: the main window is exposed and the event loop has
drawn it and gone idle), under one Xvfb server started here (offscreen Qt when there is none).
The first run of each is "cold" in the sense that matters here (first start after the build or
after a while: the files are not yet in the page cache only if nothing read them since); the
page cache cannot be dropped without root, so the table says which run was first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
READY = "BMISS_READY"
TARGET_S = 5.0


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20


def start_display() -> tuple[dict[str, str], subprocess.Popen[bytes] | None, str]:
    """Environment for the runs: a private Xvfb display when Xvfb exists, else offscreen Qt."""
    env = dict(os.environ)
    xvfb = shutil.which("Xvfb")
    if xvfb:
        for n in range(90, 120):
            if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
                proc = subprocess.Popen([xvfb, f":{n}", "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                deadline = time.perf_counter() + 10
                while not Path(f"/tmp/.X11-unix/X{n}").exists() and time.perf_counter() < deadline:
                    time.sleep(0.05)
                env["DISPLAY"] = f":{n}"
                env.pop("QT_QPA_PLATFORM", None)
                env.pop("WAYLAND_DISPLAY", None)
                return env, proc, "Xvfb (xcb)"
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env, None, "offscreen"


def time_to_ready(command: list[str], env: dict[str, str], timeout_s: float = 120.0) -> tuple[float, float]:
    """(seconds from spawn to the READY line, seconds the process itself reports)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=REPO, text=True)
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if line.startswith(READY):
                outside = time.perf_counter() - t0
                inside = float(line.split()[1])
                proc.wait(timeout=timeout_s)
                return outside, inside
        raise RuntimeError(f"{command[0]} exited ({proc.wait()}) without printing {READY}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def measure(name: str, command: list[str], env: dict[str, str], runs: int) -> dict[str, object]:
    outside, inside = [], []
    for _ in range(runs):
        o, i = time_to_ready(command, env)
        outside.append(o)
        inside.append(i)
        print(f"  {name}: {o:.2f} s (in-process {i:.2f} s)", flush=True)
    warm = outside[1:] or outside
    return {"name": name, "command": " ".join(command), "first_s": outside[0],
            "warm_median_s": statistics.median(warm), "warm_min_s": min(warm),
            "in_process_first_s": inside[0], "in_process_warm_s": statistics.median(inside[1:] or inside)}


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=4, help="starts per variant (the first is the cold one)")
    parser.add_argument("--bundle", default=str(REPO / "dist" / "BMISS"))
    parser.add_argument("--python", default=sys.executable, help="interpreter of the venv whose bmiss-gui is timed")
    parser.add_argument("--out", default=str(RESULTS / "installer.md"))
    parser.add_argument("--note", default="", help="a line about the conditions (e.g. 'machine shared with 4 jobs')")
    args = parser.parse_args()

    bundle = Path(args.bundle)
    exe = next((p for p in (bundle / "BMISS", bundle / "BMISS.exe") if p.is_file()), None)
    archives = sorted(bundle.parent.glob("BMISS-*.tar.gz")) + sorted(bundle.parent.glob("BMISS-*.zip"))
    env, xvfb, display = start_display()
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    load_before = load_average()
    rows = []
    try:
        if exe is not None:
            print(f"bundle {exe}", flush=True)
            rows.append(measure("bundle (dist/BMISS)", [str(exe), "--startup-time"], env, args.runs))
        print(f"venv {args.python}", flush=True)
        rows.append(measure("venv (bmiss-gui)", [args.python, "-m", "bmiss_gui.app", "--startup-time"], env, args.runs))
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait()
    load_after = load_average()

    lines = ["# Standalone application: size, start time, smoke test", ""]
    if exe is not None:
        lines += ["| bundle | size MB | archive | archive MB |", "|---|---|---|---|"]
        archive = archives[-1] if archives else None
        lines.append(f"| {bundle.name}/ (one folder) | {folder_mb(bundle):.0f} | {archive.name if archive else '–'} | "
                     f"{archive.stat().st_size / 2**20:.0f} |" if archive else
                     f"| {bundle.name}/ (one folder) | {folder_mb(bundle):.0f} | – | – |")
        lines.append("")
    else:
        lines += ["No bundle found (run installer/build.sh); venv start times only.", ""]
    lines += ["| start to interactive window | first run s | later runs, median s | later runs, min s | "
              f"in-process (first / later) s | under {TARGET_S:.0f} s |",
              "|---|---|---|---|---|---|"]
    for r in rows:
        ok = "yes" if float(r["warm_median_s"]) < TARGET_S else "no"  # type: ignore[arg-type]
        lines.append(f"| {r['name']} | {r['first_s']:.2f} | {r['warm_median_s']:.2f} | {r['warm_min_s']:.2f} | "
                     f"{r['in_process_first_s']:.2f} / {r['in_process_warm_s']:.2f} | {ok} |")
    lines += [
        "",
        f"Machine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores; display: {display}; "
        f"{args.runs} starts each; load average before {load_before}, after {load_after}. "
        f"Command: `python bench/startup.py --runs {args.runs}`.",
        "Start time: from spawning the process to its `BMISS_READY` line (`--startup-time`: main window exposed, "
        "first paint done, event loop idle); 'in-process' counts from the first import of `bmiss_gui` (what the "
        "bundle's bootloader and the interpreter's start add is the difference). The first run is the coldest this "
        "script can make without root (files not read since the build may still be in the page cache).",
    ]
    if args.note:
        lines += ["", args.note]
    smoke = RESULTS / "installer_smoke.json"
    lines += ["", "## Smoke test of the built bundle", ""]
    if smoke.is_file():
        s = json.loads(smoke.read_text())
        app = s.get("app", {})
        lines += [
            f"`installer/smoke_test.sh` ({s.get('date', '?')}, {s.get('machine', '')}, display {s.get('display', '?')}): "
            f"**{s.get('status')}** in {s.get('wall_s')} s wall (bundle start, open the demo, Decompose with "
            f"24 separation vectors on its first 10 s through the real worker, export CSV, exit; then `BMISS info`).",
            "",
            f"Units found {app.get('units_found', '–')}, units in the exported CSV {app.get('units_in_csv', '–')}; "
            f"demo opened {app.get('opened_s', '–')} s and decomposed {app.get('decomposed_s', '–')} s after the window "
            f"came up; frozen: {app.get('frozen', '–')}.",
        ]
        if app.get("error"):
            lines.append(f"Error: {app['error']}")
    else:
        lines.append("Not run yet: `installer/build.sh && installer/smoke_test.sh`.")
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
