"""Accuracy against ground truth, ours next to the peers on identical data.

usage: .venv/bin/python bench/accuracy.py [--no-peers] [--fresh-peers]

Datasets: MyoGen A (20 and 10 dB), MyoGen D (15 and 10 dB) from ../shared/data, our own
20-unit 20 dB simulation, and openhdemg's real recording (recall of its 5 reference units).
Every CSV is scored with the reviewers' shared/tools/score_csv.py. Peers (MUniverse
FastIcaCBSS, emgdecomp) run in their own venvs through bench/peers/runner.py, cached by input
hash. Writes bench/results/accuracy.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import CACHE, REPO, machine, run_ours, score, write_table

SHARED_DATA = REPO.parent / "shared" / "data"
PEERS = ("fastica_cbss", "emgdecomp")


def datasets(only: Sequence[str] = ()) -> list[tuple[str, Path, Path, float]]:
    """(name, recording, truth, duration_s), of the datasets whose name contains one of
    ``only`` (all when empty). Those left out are not built: the simulation is not written and
    the real recording not fetched."""

    def wanted(name: str) -> bool:
        return not only or any(s in name for s in only)

    out = []
    for name in ("A_20dB", "A_10dB", "D_15dB", "D_10dB"):
        group = name.split("_")[0]
        out.append((f"MyoGen {name}", SHARED_DATA / f"myogen_{name}.npz", SHARED_DATA / f"myogen_{group}_truth.npz", 20.0))
    sim = CACHE / "sim20" / "sim20.npz"
    if wanted("own sim 20 MU 20 dB"):
        if not sim.exists():
            from bmiss_engine.cli import main as bmiss

            sim.parent.mkdir(parents=True, exist_ok=True)
            bmiss(["simulate", str(sim), "--units", "20", "--duration", "20", "--snr", "20", "--seed", "0"])
        out.append(("own sim 20 MU 20 dB", sim, sim.with_name("sim20_truth.npz"), 20.0))
    demo = REPO / "resources" / "demo_recording.npz"
    out.append(("demo (analytic MUAPs, phantom)", demo, demo.with_name("demo_recording_truth.npz"), 15.0))
    if wanted("real (openhdemg VL, 5 ref units)"):
        from bench.realdata import real_recording

        rec, truth = real_recording(CACHE / "realdata")
        out.append(("real (openhdemg VL, 5 ref units)", rec, truth, 32.5))
    return [d for d in out if wanted(d[0])]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--fresh-peers", action="store_true")
    ap.add_argument("--cached-peers", action="store_true", help="report only peer runs already in the cache")
    ap.add_argument("--peer-timeout", type=float, default=900.0)
    args = ap.parse_args()
    rows = []
    for name, rec, truth, duration in datasets():
        t = time.perf_counter()
        ours_csv = CACHE / "ours" / f"{rec.stem}.csv"
        info = run_ours(rec, ours_csv)
        n, total, med, n_est = score(truth, ours_csv)
        print(f"{name}: BMISS {n}/{total} median RoA {med:.3f} ({n_est} reported) in {info['wall_s']:.1f} s", flush=True)
        row = [name, f"{duration:g}", f"**{n}/{total}**", f"{med:.3f}", str(n_est), f"{info['wall_s']:.1f}"]
        if not args.no_peers:
            from bench.peers.runner import run_peer

            for peer in PEERS:
                run = None
                for extra in ((), ("30",)):  # a peer that timed out at its defaults: 30 searches
                    if args.cached_peers and not (CACHE / "peers" / f"{'__'.join([peer, rec.stem, *extra])}.json").exists():
                        continue
                    run = run_peer(peer, rec, CACHE / "peers", cache=not args.fresh_peers,
                                   timeout_s=args.peer_timeout, args=extra)
                    if run.ok:
                        break
                if run is None:
                    row += ["not run", "", ""]
                elif run.ok:
                    pn, _, pmed, pest = score(truth, run.csv_path)
                    ratio = run.wall_s / info["wall_s"] if info["wall_s"] > 0 else float("nan")
                    searches = f" [{run.csv_path.stem.split('__')[2]} searches]" if run.csv_path.stem.count("__") == 2 else ""
                    row += [f"{pn}/{total}{searches}", f"{pmed:.3f}", f"{run.wall_s:.0f} ({ratio:.1f}×)"]
                    print(f"   {peer}: {pn}/{total} median {pmed:.3f} ({pest} reported) in {run.wall_s:.0f} s", flush=True)
                else:
                    row += ["failed", "", run.message.split(":")[0][:40]]
        rows.append(row)
        del t
    header = ["recording", "s", "BMISS identified", "median RoA", "reported", "wall s"]
    if not args.no_peers:
        for peer in PEERS:
            header += [f"{peer} identified", "median RoA", "wall s (× ours)"]
    text = write_table(
        "accuracy.md", "Accuracy against ground truth", header, rows,
        f"""Machine: {machine()}. Command: `.venv/bin/python bench/accuracy.py`.
Scored with shared/tools/score_csv.py (best lag within ±10 ms, ±1 ms tolerance, identified at RoA ≥ 0.8).
BMISS: baseline convolutive FastICA (`method="fastica"`), default settings, CPU. Peers run at their
defaults in their own venvs (bench/peers/), cached by input hash; '× ours' is peer wall time over ours.
For the real recording, 'identified' counts the 5 OTBioLab+ reference units matched (recall only:
other active units exist and are not in the reference).""",
    )
    print(text)


if __name__ == "__main__":
    main()
