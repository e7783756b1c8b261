"""Study throughput of ``bmiss batch`` (recordings per hour) with 1 and 2 local workers, and
the scaling ratio.

usage: .venv/bin/python bench/batch.py [--recordings 6] [--duration 10] [--workers 1,2] [--device cpu]

The study is our simulator's (20 units, 20 dB, 64 channels at 2048 Hz, one seed per
recording), cached in bench/.cache/batch/. Each worker count runs the whole study into a fresh
output folder through ``run_batch`` on its own LocalCluster, with the default settings.
'wall s' is the whole run as a user sees it (cluster start, hashing, decompositions, writing);
'task s' the sum of the decompositions' own times. Prints the table and writes
bench/results/batch_<device>.md, with the machine's load average before and after each run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import CACHE, machine, write_table


def study(n: int, duration_s: float) -> Path:
    folder = CACHE / "batch" / f"{n}x{duration_s:g}s"
    for i in range(n):
        path = folder / f"rec{i:02d}.npz"
        if not path.exists():
            from bmiss_engine.cli import main as bmiss

            folder.mkdir(parents=True, exist_ok=True)
            bmiss(["simulate", str(path), "--units", "20", "--duration", f"{duration_s:g}", "--seed", str(100 + i)])
    return folder


def main() -> None:
    from bmiss_engine.batch import run_batch
    from bmiss_engine.batch.run import quiet_dask_logs
    from bmiss_engine.decomposer import DecomposerConfig

    quiet_dask_logs()
    ap = argparse.ArgumentParser()
    ap.add_argument("--recordings", type=int, default=6)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    folder = study(args.recordings, args.duration)
    rows, rates = [], {}
    for n_workers in [int(w) for w in args.workers.split(",")]:
        load_before = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as out:
            t = time.perf_counter()
            config = DecomposerConfig().replace(device=args.device)
            summary = run_batch(str(folder / "rec*.npz"), out, config, n_workers=n_workers)
            wall = time.perf_counter() - t
        load_after = os.getloadavg()[0]
        ok = summary.count("ok")
        task_s = sum(o.wall_time_s or 0.0 for o in summary.outcomes)
        rates[n_workers] = ok / wall * 3600
        units = sum(o.units or 0 for o in summary.outcomes) / max(1, ok)
        rows.append([str(n_workers), f"{ok}/{len(summary.outcomes)}", f"{wall:.1f}", f"{task_s:.1f}",
                     f"{rates[n_workers]:.0f}", f"{units:.1f}", f"{load_before:.1f} → {load_after:.1f}"])
        print(f"{n_workers} worker(s): {ok} recordings in {wall:.1f} s = {rates[n_workers]:.0f}/h "
              f"(decompositions {task_s:.1f} s; load {load_before:.1f} → {load_after:.1f})", flush=True)
    base = min(rates)
    scaling = ", ".join(f"{w} workers: {rates[w] / rates[base]:.2f}×" for w in sorted(rates) if w != base)
    text = write_table(
        f"batch_{args.device}.md",
        f"Study throughput of bmiss batch, {args.recordings} recordings of {args.duration:g} s ({args.device})",
        ["workers", "ok", "wall s", "task s", "recordings / h", "units / rec", "load avg (1 min) before → after"],
        rows,
        f"""Scaling (recordings per hour, relative to {base} worker): {scaling or 'one worker count only'}.

Machine: {machine()}. Command: `.venv/bin/python bench/batch.py --recordings {args.recordings}
--duration {args.duration:g} --workers {args.workers} --device {args.device}`. Study: `bmiss simulate` (20 units,
20 dB, 64 channels at 2048 Hz, seeds 100…). Default settings; one LocalCluster per row (1-thread worker
processes, torch on 1 thread each). 'wall s' is the whole run including the cluster's start (a few
seconds per worker process) and the hashing of the inputs; 'task s' is the sum of the
decompositions' own times, which grows when workers share cores. 'load avg' is the machine's
1-minute load before and after the row: other jobs on a shared machine slow the 2-worker row most.""",
    )
    print(text)


if __name__ == "__main__":
    main()
