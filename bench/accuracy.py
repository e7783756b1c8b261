"""Accuracy against ground truth, ours next to the peers on identical data.

usage: .venv/bin/python bench/accuracy.py [--methods fastica,joint] [--only NAME,...] [--no-peers]
       [--cached-peers] [--peers-on NAME,...] [--fresh-peers]

Datasets: MyoGen A (20 and 10 dB), MyoGen D (15 and 10 dB) from ../shared/data, our own
20-unit 20 dB simulation, the bundled demo, openhdemg's real recording (recall of its 5 reference
units), and three recordings composed from the MyoGen MUAPs with seeds of their own.
Every CSV is scored with the reviewers' shared/tools/score_csv.py. Peers (MUniverse
FastIcaCBSS, emgdecomp) run in their own venvs through bench/peers/runner.py, cached by input
hash. Writes bench/results/accuracy.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bench.common import CACHE, REPO, machine, run_ours, score, write_table
from bmiss_engine.config import DEFAULT_METHOD

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


FRESH = (  # (muaps, seed, peak excitation, SNR dB, duration s): composed here, never tuned on
    ("D", 11, 0.7, 15.0, 20.0),
    ("D", 23, 0.5, 12.0, 20.0),
    ("A", 31, 0.8, 15.0, 20.0),
    # longer than twice SeparationSettings.fixed_point_min_s: its fixed point reads every other row
    ("D", 47, 0.6, 15.0, 40.0),
)


def fresh_recordings() -> list[tuple[str, Path, Path, float]]:
    """Recordings composed from the MyoGen MUAPs with seeds and excitations of their own
    (../shared/data/compose.py), written under bench/.cache/fresh when missing."""
    out = []
    for group, seed, peak, snr, duration_s in FRESH:
        long = "" if duration_s == 20.0 else f"_{duration_s:g}s"
        prefix = CACHE / "fresh" / f"{group}fresh_s{seed}_e{round(peak * 10):02d}{long}"
        rec = prefix.parent / f"{prefix.name}_{snr:g}dB.npz"
        if not rec.exists():
            prefix.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, str(SHARED_DATA / "compose.py"), str(SHARED_DATA / f"myogen_{group}_muaps.npz"),
                            str(prefix), str(seed), f"{duration_s:g}", str(peak), f"{snr:g}"], check=True,
                           capture_output=True)
        out.append((f"fresh {group}-like (seed {seed}, excitation {peak:g}, {snr:g} dB)", rec,
                    prefix.parent / f"{prefix.name}_truth.npz", duration_s))
    return out


def unsupported(truth: Path, csv_path: Path, fs: float = 2048.0) -> tuple[int, int]:
    """(unmatched, lagged) of the reported units: unmatched, those whose rate of agreement with
    every true unit is below 0.3 after the best lag within ±50 ms (units the recording does not
    support); lagged, those that match a true unit (RoA ≥ 0.8) only at a lag of 10-50 ms (true
    units the scorer's ±10 ms misses: marked that far from the simulator's firing times)."""
    from bmiss_engine.separation.duplicates import rate_of_agreement

    with np.load(truth) as z:
        trains = [np.asarray(z[k], dtype=np.int64) for k in z.files if k.startswith("unit") and len(z[k])]
    table = np.loadtxt(csv_path, delimiter=",", skiprows=1, usecols=(0, 1), ndmin=2).astype(np.int64)
    reported = [table[table[:, 0] == k, 1] for k in np.unique(table[:, 0])]
    near = [max(rate_of_agreement(t, d, fs) for t in trains) for d in reported]
    far = [max(rate_of_agreement(t, d, fs, max_lag_s=0.050) for t in trains) for d in reported]
    return sum(f < 0.3 for f in far), sum(n < 0.8 <= f for n, f in zip(near, far, strict=True))


def ours(name: str, rec: Path, truth: Path, method: str) -> tuple[list[str], float]:
    """Our cells for one method on one recording (identified, median RoA, reported, unmatched,
    wall s) and the wall time."""
    ours_csv = CACHE / "ours" / method / f"{rec.stem}.csv"
    info = run_ours(rec, ours_csv, {"method": method})
    n, total, med, n_est = score(truth, ours_csv)
    if name.startswith("real"):  # the reference is not every unit: nothing to count against
        bad, lagged = "–", "–"
    else:
        bad, lagged = map(str, unsupported(truth, ours_csv))
    print(f"{name}: {method} {n}/{total} median RoA {med:.3f} ({n_est} reported, {bad} unmatched, {lagged} lagged) "
          f"in {info['wall_s']:.1f} s", flush=True)
    return [f"**{n}/{total}**", f"{med:.3f}", str(n_est), bad, lagged, f"{info['wall_s']:.1f}"], float(info["wall_s"])


def peer_cells(name: str, rec: Path, truth: Path, our_wall_s: float, args: argparse.Namespace) -> list[str]:
    """Each peer's cells (identified, median RoA, wall s and its ratio to ours) on one recording."""
    from bench.peers.runner import run_peer

    cells: list[str] = []
    for peer in PEERS:
        run = None
        wanted = not args.peers_on or any(s in name for s in args.peers_on.split(","))
        for extra in ((), ("30",)):  # a peer that timed out at its defaults: 30 searches
            cached = (CACHE / "peers" / f"{'__'.join([peer, rec.stem, *extra])}.json").exists()
            if (args.cached_peers or not wanted) and not cached:
                continue
            run = run_peer(peer, rec, CACHE / "peers", cache=not args.fresh_peers, timeout_s=args.peer_timeout,
                           args=extra)
            if run.ok:
                break
        if run is None:
            cells += ["not run", "", ""]
        elif run.ok:
            pn, total, pmed, pest = score(truth, run.csv_path)
            ratio = run.wall_s / our_wall_s if our_wall_s > 0 else float("nan")
            searches = f" [{run.csv_path.stem.split('__')[2]} searches]" if run.csv_path.stem.count("__") == 2 else ""
            cells += [f"{pn}/{total}{searches}", f"{pmed:.3f}", f"{run.wall_s:.0f} ({ratio:.1f}×)"]
            print(f"   {peer}: {pn}/{total} median {pmed:.3f} ({pest} reported) in {run.wall_s:.0f} s", flush=True)
        else:
            cells += ["failed", "", run.message.split(":")[0][:40]]
    return cells


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--methods", default="fastica,joint", help="our methods, side by side (comma-separated)")
    ap.add_argument("--only", default="", help="only the recordings whose name holds one of these (comma-separated)")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--fresh-peers", action="store_true")
    ap.add_argument("--cached-peers", action="store_true", help="report only peer runs already in the cache")
    ap.add_argument("--peers-on", default="", help="run peers only on recordings whose name holds one of these "
                    "(comma-separated; others from the cache)")
    ap.add_argument("--peer-timeout", type=float, default=900.0)
    args = ap.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    default = DEFAULT_METHOD
    only = [s for s in args.only.split(",") if s]
    recordings = datasets(only) + [r for r in fresh_recordings() if not only or any(s in r[0] for s in only)]
    rows = []
    for name, rec, truth, duration in recordings:
        row = [name, f"{duration:g}"]
        walls = {}
        for method in methods:
            cells, walls[method] = ours(name, rec, truth, method)
            row += cells
        if not args.no_peers:
            row += peer_cells(name, rec, truth, walls.get(default, next(iter(walls.values()))), args)
        rows.append(row)
    header = ["recording", "s"]
    for method in methods:
        header += [f"{method} identified", "median RoA", "reported", "unmatched", "lagged", "wall s"]
    if not args.no_peers:
        for peer in PEERS:
            header += [f"{peer} identified", "median RoA", f"wall s (× {default})"]
    command = "`.venv/bin/python bench/accuracy.py " + " ".join(sys.argv[1:]) + "`"
    text = write_table(
        "accuracy.md", "Accuracy against ground truth", header, rows,
        f"""Machine: {machine()}. Command: {command}.
Scored with shared/tools/score_csv.py (best lag within ±10 ms, ±1 ms tolerance, identified at RoA ≥ 0.8);
unmatched: reported units whose rate of agreement with every true unit is below 0.3 after the best lag
within ±50 ms (±1 ms tolerance): units the recording does not support; lagged: reported units that
match a true unit (RoA ≥ 0.8) only at a lag of 10-50 ms, true units marked that far from the
simulator's firing times (the scorer counts them as neither).
Ours: each method at its default settings on the CPU (the CLI's default is `{default}`), each run
in a fresh process, one at a time; fastica: convolutive FastICA; joint: FastICA's units decoded all
at once and FastICA on what they leave (bmiss_engine/methods/joint.py). Fresh recordings: composed
from the MyoGen MUAPs by ../shared/data/compose.py with seeds and excitations no setting was tuned
on. Peers run at their defaults in their own venvs (bench/peers/), cached by input hash; the ratio
is a peer's wall time over the CLI default's. For the real recording, 'identified' counts the 5
OTBioLab+ reference units matched (recall only: other active units exist and are not in the
reference, so unmatched is not counted).""",
    )
    print(text)


if __name__ == "__main__":
    main()
