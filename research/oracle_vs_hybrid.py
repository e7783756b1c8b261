"""Which true units the hybrid finds against those the linear oracle can reach, unit by unit.

usage: PYTHONPATH=. .venv/bin/python research/oracle_vs_hybrid.py [--snr 20] [--restarts 4] [--r 10]
       [--threads 2] [--device cpu] [--tag NAME]

On the paper setting's simulation (research/paper_setting.py), the oracle is the MVDR filter of
each unit's exact, noise-free MUAP at extension R (research/oracle.py): the best a linear filter
does with θ exactly right. The hybrid runs at its defaults with ``--restarts`` residual
restarts. Per true unit the table gives what each found, the SIL of the oracle's source (the
hybrid accepts a unit at SIL ≥ 0.90, as every method does) and the unit's rank by MUAP energy.
Writes research/results/oracle_vs_hybrid_<device><tag>.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from bmiss_engine import Decomposer, DecomposerConfig
from bmiss_engine.inversion import MvdrEstimator
from bmiss_engine.metrics import IDENTIFIED_ROA, match_units
from research.common import machine, write_table
from research.oracle import mvdr_detections, paper_recording


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--snr", type=float, default=20.0)
    ap.add_argument("--restarts", type=int, default=4, help="the hybrid's residual restarts")
    ap.add_argument("--r", type=int, default=10, help="the oracle's extension factor")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rec, truth = paper_recording(args.snr)
    fs = rec.sampling_rate_hz
    trains = list(truth.discharge_samples)

    x = torch.as_tensor(np.ascontiguousarray(rec.emg_v), dtype=torch.float32, device=device)
    x = x - x.mean(dim=1, keepdim=True)
    x = x / x.pow(2).mean().sqrt().clamp_min(1e-30)
    estimator = MvdrEstimator.fit(x, args.r, 1e-6)
    muaps = torch.as_tensor(truth.muaps_v, dtype=torch.float32, device=device)
    oracle = mvdr_detections(estimator, muaps, truth.muap_onset, args.r, fs)
    del estimator, x
    # unit k's own detection against unit k's truth: the oracle knows which filter is whose
    oracle_roa = [match_units([trains[k]], [d.discharge_samples], fs).matches[0].roa for k, d in enumerate(oracle)]

    t = time.perf_counter()
    result = Decomposer(DecomposerConfig().replace(method="hybrid", hybrid_restarts=args.restarts, device=args.device)).run(rec)
    hybrid_s = time.perf_counter() - t
    report = match_units(trains, [u.discharge_samples for u in result.units], fs)
    hybrid_roa = {int(m.true_key): m.roa for m in report.matches}

    energy = np.sqrt((truth.muaps_v.astype(np.float64) ** 2).sum(axis=(1, 2)))
    rank = np.empty(len(trains), dtype=int)
    rank[np.argsort(-energy)] = np.arange(len(trains))
    by_oracle = {k for k, r in enumerate(oracle_roa) if r >= IDENTIFIED_ROA}
    by_hybrid = {k for k, r in hybrid_roa.items() if r >= IDENTIFIED_ROA}
    accepted = {k for k in by_oracle if oracle[k].sil >= 0.90}
    rows = []
    for k in sorted(by_oracle ^ by_hybrid, key=lambda k: rank[k]):
        rows.append([str(k), str(rank[k] + 1), f"{oracle[k].sil:.3f}", f"{oracle_roa[k]:.2f}",
                     f"{hybrid_roa.get(k, 0.0):.2f}", "oracle only" if k in by_oracle else "hybrid only"])
    summary = (f"oracle (exact MUAP, R = {args.r}): {len(by_oracle)}/{len(trains)}, of which {len(accepted)} with "
               f"SIL ≥ 0.90; hybrid ({args.restarts} restarts, {hybrid_s:.0f} s): {len(by_hybrid)}/{len(trains)}; "
               f"both: {len(by_oracle & by_hybrid)}; hybrid's units among the oracle's accepted: "
               f"{len(accepted & by_hybrid)}/{len(accepted)}")
    print(summary, flush=True)
    quartiles = " / ".join(f"{q:.3f}" for q in np.quantile([oracle[k].sil for k in by_oracle], [0.0, 0.25, 0.5]))
    text = write_table(
        f"oracle_vs_hybrid_{args.device.split(':')[0]}{args.tag}.md",
        f"The hybrid against the exact-MUAP linear oracle, unit by unit: paper setting, {args.snr:g} dB",
        ["true unit", "MUAP energy rank", "oracle source SIL", "oracle RoA", "hybrid RoA", "found by"],
        rows,
        f"""{summary}.

The rows are the units that only one of the two identifies (RoA ≥ 0.8 at ±1 ms), by MUAP
energy rank (1 = largest). SIL of the oracle's sources over the units it identifies: min /
lower quartile / median {quartiles}. Hybrid's identified units by energy rank:
{', '.join(str(rank[k] + 1) for k in sorted(by_hybrid, key=lambda k: rank[k]))}.
Machine: {machine()}, {args.threads} torch thread(s), device {args.device}. Command:
`PYTHONPATH=. .venv/bin/python research/oracle_vs_hybrid.py --snr {args.snr:g} --restarts {args.restarts}
--r {args.r} --threads {args.threads} --device {args.device}{f' --tag {args.tag}' if args.tag else ''}`.
""",
    )
    print(text)


if __name__ == "__main__":
    main()
