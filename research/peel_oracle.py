"""Does peeling lift the linear ceiling? The exact-MUAP MVDR, round after round, on the
recording less the units it has accepted so far.

usage: PYTHONPATH=. .venv/bin/python research/peel_oracle.py [--snr 20] [--rounds 6] [--r 10]
       [--template exact sta] [--threads 2] [--device cpu] [--tag NAME]

On the paper setting (research/paper_setting.py: 100 analytic units, 10×32 grid, 10 s), the
MVDR filter of each unit's *exact* MUAP identifies 43 of 100 at R = 10 (research/oracle.py): no
linear filter of the whole recording does better. Here, each round fits the MVDR estimator
(the inversion's) on the current residual, detects every not-yet-accepted unit on the filter
of its exact MUAP, accepts those that meet the engine's acceptance rule (SIL ≥ 0.90, ≥ 10
discharges, CoV ISI ≤ 0.5, steady firing), and subtracts them at their *detected*
discharges, with one of two templates:

* ``exact``: the noise-free MUAP (a perfect template; the detected discharges may still be
  wrong, and a wrong discharge subtracts a MUAP that is not there);
* ``theta:SD``: the analytic model's MUAP at the true normalised θ plus N(0, SD²) on every
  field (the template an inversion with that θ error renders; the hybrid's median is 0.005);
* ``lsq``: all accepted units' MUAPs fitted jointly by least squares on the recording at
  their detected discharges (:func:`joint_templates`), the residual rebuilt from them;
* ``sta``: the spike-triggered average of the current residual at the detected discharges
  (what the engine's residual peel uses).

Per round it prints the units accepted so far and the true units they identify (RoA ≥ 0.8 at
±1 ms). If the count climbs well past 43, the ceiling is the interference of the units
already found, and an exact enough peel is the road beyond it; if it stays, it is not.
Writes research/results/peel_oracle_<device>.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from bmiss_engine.inversion import MvdrEstimator, subtract_muap
from bmiss_engine.metrics import match_units
from bmiss_engine.separation.spikes import meets_acceptance
from research.common import machine, write_table
from research.oracle import mvdr_detections, paper_recording, perturbed_muaps, spike_triggered_muaps


def subtract_units(x: torch.Tensor, trains: list[np.ndarray], muaps: torch.Tensor, onset: int) -> torch.Tensor:
    """x (n_channels, n_samples) less each MUAP (n_units, n_channels, L) at its discharges
    (the engine's residual peel subtracts the same way)."""
    out = x
    for d, muap in zip(trains, muaps, strict=True):
        out = subtract_muap(out, np.asarray(d, dtype=np.int64), muap, onset)
    return out


def joint_templates(x: torch.Tensor, trains: list[np.ndarray], onset: int, n_muap: int,
                    ridge: float = 1e-3) -> torch.Tensor:
    """Least-squares MUAPs (n_units, n_channels, n_muap) of all units at once from x
    (n_channels, n_samples) and their discharges: x ≈ Σ_u muap_u ∗ train_u.

    Unlike the STA, a unit's estimate is not biased by the others' MUAPs where their
    discharges overlap with its own. The normal equations are (n_units·n_muap)²; ``ridge``
    (relative to the mean discharge count) keeps them solvable for units that fire together.
    """
    import scipy.sparse as sp

    n = x.shape[1]
    rows, cols = [], []
    for u, d in enumerate(trains):
        starts = np.asarray(d, dtype=np.int64) - onset
        for offset in range(n_muap):
            t = starts + offset
            keep = (t >= 0) & (t < n)
            rows.append(t[keep])
            cols.append(np.full(int(keep.sum()), u * n_muap + offset))
    r, c = np.concatenate(rows), np.concatenate(cols)
    a = sp.csr_matrix((np.ones(r.size), (r, c)), shape=(n, len(trains) * n_muap))
    gram = torch.as_tensor((a.T @ a).toarray())
    gram += torch.eye(gram.shape[0], dtype=gram.dtype) * ridge * float(gram.diagonal().mean())
    rhs = torch.as_tensor(np.asarray(a.T @ x.double().cpu().numpy().T))  # (n_units·n_muap, n_channels)
    w = torch.linalg.solve(gram, rhs)
    return w.T.reshape(x.shape[0], len(trains), n_muap).permute(1, 0, 2).to(device=x.device, dtype=x.dtype)


def peel_rounds(x_v: np.ndarray, trains: list[np.ndarray], exact: np.ndarray, onset: int, fs: float,
                factor: int, rounds: int, template: str, device: torch.device,
                theta_unit: np.ndarray | None = None, grid=None):  # type: ignore[no-untyped-def]
    """Yield (round, n_accepted, n_identified, n_new, wall_s) after each round."""
    x = torch.as_tensor(np.ascontiguousarray(x_v), dtype=torch.float32, device=device)
    x = x - x.mean(dim=1, keepdim=True)
    muaps = torch.as_tensor(exact, dtype=torch.float32, device=device)
    residual = x
    if template.startswith("theta:"):
        perturbed = torch.as_tensor(perturbed_muaps(theta_unit, grid, fs, float(template.split(":")[1])),
                                    dtype=torch.float32, device=device)
    accepted: dict[int, np.ndarray] = {}
    t = time.perf_counter()
    for k in range(rounds):
        scale = residual.pow(2).mean().sqrt().clamp_min(1e-30)
        estimator = MvdrEstimator.fit(residual / scale, factor, 1e-6)
        todo = [u for u in range(len(trains)) if u not in accepted]
        dets = mvdr_detections(estimator, muaps[todo] / scale, onset, factor, fs)
        del estimator
        new = {u: d.discharge_samples for u, d in zip(todo, dets, strict=True)
               if meets_acceptance(d, 0.90, 10, 0.5, fs)}
        accepted.update(new)
        report = match_units(trains, list(accepted.values()), fs)
        yield k + 1, len(accepted), report.n_identified, len(new), time.perf_counter() - t
        if not new:
            return
        keys = list(new)
        new_trains = [new[u] for u in keys]
        if template == "lsq":  # all accepted units' MUAPs refitted jointly on the recording itself
            every = list(accepted)
            fitted = joint_templates(x, [accepted[u] for u in every], onset, muaps.shape[2])
            residual = subtract_units(x, [accepted[u] for u in every], fitted, onset)
            continue
        if template == "exact":
            peel = muaps[keys]
        elif template.startswith("theta:"):  # rendered at the true θ plus N(0, SD²): an inversion's template
            peel = perturbed[keys]
        else:
            peel = spike_triggered_muaps(residual, new_trains, onset, muaps.shape[2])
        residual = subtract_units(residual, new_trains, peel, onset)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--snr", type=float, nargs="+", default=[20.0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--r", type=int, default=10)
    ap.add_argument("--template", nargs="+", default=["exact", "sta"], help="exact, sta, lsq or theta:SD")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows: list[list[str]] = []
    for snr in args.snr:
        rec, truth = paper_recording(snr)
        fs = rec.sampling_rate_hz
        trains = list(truth.discharge_samples)
        for template in args.template:
            for k, n_acc, n_id, n_new, wall_s in peel_rounds(
                    rec.emg_v, trains, truth.muaps_v, truth.muap_onset, fs, args.r, args.rounds, template,
                    torch.device(args.device), truth.theta_unit, rec.grid):
                row = [f"{snr:g}", template, str(k), str(n_new), str(n_acc), f"{n_id}/{len(trains)}", f"{wall_s:.0f}"]
                print(" | ".join(row), flush=True)
                rows.append(row)
    text = write_table(
        f"peel_oracle_{args.device.split(':')[0]}{args.tag}.md",
        f"Peeling past the linear ceiling? Exact-MUAP MVDR round by round on the residual (paper setting, R = {args.r})",
        ["SNR dB", "peel template", "round", "units accepted this round", "accepted in all",
         "true units identified", "elapsed s"],
        rows,
        f"""Each round: the MVDR estimator (`MvdrEstimator.fit`, floor 1e-6) of the current residual, every
unit not yet accepted detected on the filter of its exact MUAP, accepted by the engine's rule
(`meets_acceptance`: SIL ≥ 0.90, ≥ 10 discharges, CoV ISI ≤ 0.5, steady firing), then
subtracted at its detected discharges with the exact MUAP ("exact"), the MUAP rendered at θ
plus N(0, SD²) ("theta:SD"), all accepted units' MUAPs fitted jointly by least squares on the
recording ("lsq"), or the STA of the residual at those discharges ("sta"). Round 1 is
`research/oracle.py`'s exact-MUAP row at this R, less the units the acceptance rule turns away.
Machine: {machine()}, {args.threads} torch thread(s), device {args.device}.
Command: `PYTHONPATH=. .venv/bin/python research/peel_oracle.py --snr {' '.join(f'{s:g}' for s in args.snr)}
--rounds {args.rounds} --r {args.r} --template {' '.join(args.template)} --threads {args.threads}
--device {args.device}{f' --tag {args.tag}' if args.tag else ''}`.
""",
    )
    print(text)


if __name__ == "__main__":
    main()
