"""Speed and memory of the decomposition for 64 channels at 2048 Hz, 10, 30 and 60 s.

usage: .venv/bin/python bench/speed.py [--no-peers] [--durations 10,30,60] [--device cpu|cuda]
       [--methods fastica,joint]

Each recording is our simulator's (20 units, 20 dB). Ours runs in a fresh process per
recording (peak RSS of that process); peers (MUniverse FastIcaCBSS, emgdecomp) run on the
same files in their own venvs. Prints the table and writes bench/results/speed_<device>.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import CACHE, machine, run_ours, score, write_table

PEERS = ("fastica_cbss", "emgdecomp")


def recording(duration_s: float) -> tuple[Path, Path]:
    path = CACHE / "speed" / f"sim_{duration_s:g}s.npz"
    if not path.exists():
        from bmiss_engine.cli import main as bmiss

        path.parent.mkdir(parents=True, exist_ok=True)
        bmiss(["simulate", str(path), "--units", "20", "--duration", f"{duration_s:g}", "--seed", "11"])
    return path, path.with_name(path.stem + "_truth.npz")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--durations", default="10,30,60")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--methods", default="fastica", help="our methods, one row each (comma-separated)")
    args = ap.parse_args()
    rows = []
    for duration, method in [(float(d), m) for d in args.durations.split(",") for m in args.methods.split(",")]:
        rec, truth = recording(duration)
        csv = CACHE / "ours" / f"{rec.stem}_{args.device}_{method}.csv"
        info = run_ours(rec, csv, {"device": args.device, "method": method})
        n, total, _, n_est = score(truth, csv)
        per_mu = info["wall_s"] / max(1, n_est)
        mem = f"{info['peak_rss_mb']:.0f}" + (f" (+{info['peak_gpu_mb']:.0f} GPU)" if info["peak_gpu_mb"] else "")
        row = [f"{duration:g}", method, info["device"], f"{info['wall_s']:.1f}", f"{info['wall_s'] / duration:.2f}",
               mem, f"{per_mu:.2f}", f"{n}/{total}"]
        print(f"{duration:g} s, {method}: {info['wall_s']:.1f} s wall, {mem} MB, {n}/{total} identified", flush=True)
        if not args.no_peers and method == args.methods.split(",")[0]:
            from bench.peers.runner import run_peer

            for peer in PEERS:
                run = run_peer(peer, rec, CACHE / "peers", timeout_s=1800)
                if run.ok:
                    pn, _, _, _ = score(truth, run.csv_path)
                    row += [f"{run.wall_s:.0f}", f"{run.wall_s / info['wall_s']:.1f}×", f"{run.peak_rss_mb:.0f}",
                            f"{pn}/{total}"]
                    print(f"   {peer}: {run.wall_s:.0f} s, {pn}/{total}", flush=True)
                else:
                    row += ["failed", "", "", run.message[:50]]
        rows.append(row)
    header = ["recording s", "method", "device", "wall s", "wall / duration", "peak MB", "s per unit", "identified"]
    if not args.no_peers:
        for peer in PEERS:
            header += [f"{peer} wall s", "peer / ours", "peer MB", "peer identified"]
    text = write_table(
        f"speed_{args.device}.md", f"Decomposition speed, 64 channels at 2048 Hz ({args.device})", header, rows,
        f"""Machine: {machine()}. Command: `.venv/bin/python bench/speed.py {' '.join(sys.argv[1:])}`.
Recordings: `bmiss simulate` (20 units, 20 dB, seed 11). 'wall s' is the decomposition alone
(file reading excluded), in a fresh process; 'peak MB' is that process's peak RSS. 's per unit' is
wall time over units reported. Peers run on the same files in their own venvs (bench/peers/);
'peer / ours' is the ratio of wall times.""",
    )
    print(text)


if __name__ == "__main__":
    main()
