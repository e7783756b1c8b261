"""The BMISS paper's setting on our analytic simulator: 100 motor units, 320 channels, 10 s at
2048 Hz, 20 and 10 dB SNR (Farina, Halatsis, Pereira, Mamidanna, arXiv 2510.17822).

usage: PYTHONPATH=. .venv/bin/python bench/paper_setting.py [--snr 20 10] [--iterations 150] [--fit-units 24]
       [--bmiss-restarts 1] [--threads 2] [--device cpu]

Grid: the planar equivalent of the paper's 10×32 grid around the limb: 10 rows along the
fibres, 32 columns across, 5 mm apart (155 mm across, about the circumference of a forearm).
Per SNR it prints

* the baseline (``method="fastica"``): cumulative true units identified (RoA ≥ 0.8 at ±1 ms,
  best lag within ±10 ms) after each batch of separation vectors, and the total wall time;
* the hybrid method's θ: fitted (:meth:`ThetaSearch.fit_units`, what ``method="hybrid"`` runs
  after the baseline) to ``--fit-units`` identified units, spread over the recruitment order,
  with the per-unit RMSE of normalised θ (all 8 fields, and the four an STA pins down) and the
  time per unit;
* the pure BMISS inversion (``method="bmiss"``): ``--bmiss-restarts`` restarts at the default
  inversion settings, units found and wall time per restart.

Writes bench/results/paper_setting_<device>.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from bench.common import machine, write_table
from bmiss_engine import Decomposer, DecomposerConfig
from bmiss_engine.inversion import THETA_NAMES, ThetaSearch
from bmiss_engine.metrics import match_units
from bmiss_engine.simulate import SimulationConfig, simulate_recording

IDENTIFIABLE = ("depth_mm", "ml_mm", "iz_mm", "cv_m_s")


def _identified(truth_trains, units, fs) -> int:  # type: ignore[no-untyped-def]
    return match_units(truth_trains, [u.discharge_samples for u in units], fs).n_identified


def run_snr(snr_db: float, args: argparse.Namespace, device: torch.device) -> tuple[list[list[str]], list[str]]:
    sim = SimulationConfig(
        n_units=args.units, duration_s=args.seconds, grid_shape=(10, 32), ied_mm=5.0, missing_corner=False,
        snr_db=snr_db, ramp_s=1.0, peak_excitation=0.9, max_threshold=0.8, depth_range_mm=(1.0, 12.0),
        muap_generator="analytic", seed=args.seed,
    )
    t = time.perf_counter()
    rec, truth = simulate_recording(sim)
    fs = rec.sampling_rate_hz
    notes = [f"{snr_db:g} dB: simulated in {time.perf_counter() - t:.0f} s"]
    rows: list[list[str]] = []

    # the baseline, with the cumulative count after each batch
    cfg = DecomposerConfig(device=args.device, n_iterations=args.iterations)
    gen = Decomposer(cfg).iterate(rec)
    t0 = time.perf_counter()
    last_batch = -1
    while True:
        try:
            state = next(gen)
        except StopIteration as stop:
            result = stop.value
            break
        batch = (state.iteration - 1) // cfg.batch_size
        if state.phase == "separating" and batch != last_batch and state.iteration % cfg.batch_size == 0:
            last_batch = batch
            n_id = _identified(truth.discharge_samples, state.units, fs)
            rows.append([f"{snr_db:g}", "fastica", f"batch {batch + 1} ({state.iteration} vectors)",
                         f"{time.perf_counter() - t0:.0f}", str(len(state.units)), f"{n_id}/{args.units}"])
            print(" | ".join(rows[-1]), flush=True)
    wall = time.perf_counter() - t0
    report = match_units(truth.discharge_samples, [u.discharge_samples for u in result.units], fs)
    roas = [m.roa for m in report.identified]
    rows.append([f"{snr_db:g}", "fastica", "final (second look, duplicates removed)", f"{wall:.0f}",
                 str(result.n_units), f"**{report.n_identified}/{args.units}**"])
    print(" | ".join(rows[-1]), flush=True)
    notes.append(f"{snr_db:g} dB fastica: {report.n_identified}/{args.units} identified, median RoA "
                 f"{np.median(roas) if roas else float('nan'):.3f}, {result.n_units} reported, {wall:.0f} s")

    # θ of identified units, as the hybrid method fits it
    matched = sorted(report.identified, key=lambda m: int(m.true_key))
    if matched and args.fit_units:
        pick = [matched[i] for i in np.linspace(0, len(matched) - 1, min(args.fit_units, len(matched))).round().astype(int)]
        pick = list({m.true_key: m for m in pick}.values())
        search = ThetaSearch(cfg.inversion_config(), anatomy=cfg.anatomy(), device=device)
        emg = torch.as_tensor(np.ascontiguousarray(rec.emg_v), dtype=torch.float32, device=device)
        t1 = time.perf_counter()
        fitted = search.fit_units(emg, rec.grid, fs, [result.units[int(m.estimated)].discharge_samples for m in pick],
                                  cfg.theta_fit_max_lag_s)
        fit_s = time.perf_counter() - t1
        idx = [THETA_NAMES.index(n) for n in IDENTIFIABLE]
        rmse_all, rmse_id = [], []
        for m, f in zip(pick, fitted, strict=True):
            error = f.theta_unit - truth.theta_unit[int(m.true_key)]
            rmse_all.append(float(np.sqrt(np.mean(error**2))))
            rmse_id.append(float(np.sqrt(np.mean(error[idx] ** 2))))
        rows.append([f"{snr_db:g}", "hybrid θ", f"{len(pick)} identified units fitted", f"{fit_s:.0f}",
                     f"{fit_s / len(pick):.1f} s/unit",
                     f"θ RMSE median {np.median(rmse_id):.3f} (4 fields), {np.median(rmse_all):.3f} (8)"])
        print(" | ".join(rows[-1]), flush=True)
        notes.append(f"{snr_db:g} dB hybrid θ RMSE (normalised) per unit, 4 identifiable fields: "
                     + " ".join(f"{v:.3f}" for v in rmse_id))

    # pure BMISS: what one restart costs and finds at this size
    if args.bmiss_restarts:
        bcfg = DecomposerConfig(method="bmiss", device=args.device, inversion_restarts=args.bmiss_restarts)
        gen = Decomposer(bcfg).iterate(rec)
        t2 = time.perf_counter()
        while True:
            try:
                state = next(gen)
            except StopIteration:
                break
            if state.phase == "separating":
                n_id = _identified(truth.discharge_samples, state.units, fs)
                rows.append([f"{snr_db:g}", "bmiss", f"restart {state.iteration}", f"{time.perf_counter() - t2:.0f}",
                             str(len(state.units)), f"{n_id}/{args.units}"])
                print(" | ".join(rows[-1]), flush=True)
    return rows, notes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--units", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--snr", type=float, nargs="+", default=[20.0, 10.0])
    ap.add_argument("--iterations", type=int, default=150, help="the baseline's separation vectors")
    ap.add_argument("--fit-units", type=int, default=24)
    ap.add_argument("--bmiss-restarts", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tag", default="", help="suffix of the results file (several runs on one device)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows: list[list[str]] = []
    notes: list[str] = []
    for snr in args.snr:
        r, n = run_snr(snr, args, device)
        rows += r
        notes += n
    tag = f" --tag {args.tag}" if args.tag else ""
    table = write_table(
        f"paper_setting_{args.device.split(':')[0]}{args.tag}.md",
        f"Paper setting: {args.units} analytic units, 10×32 grid (320 channels, 5 mm), {args.seconds:g} s, "
        f"2048 Hz ({args.device})",
        ["SNR dB", "method", "step", "elapsed s", "units reported", "true units identified"],
        rows,
        "\n".join(f"- {n}" for n in notes) + f"""

Simulation seed {args.seed}: analytic MUAPs (skin 1 mm, fat 2 mm), units 1–12 mm deep,
recruitment thresholds up to 0.8 of a 0.9 peak excitation (1 s ramp), ISI CoV 0.15. Machine:
{machine()}, {args.threads} torch thread(s). Command: `PYTHONPATH=. .venv/bin/python
bench/paper_setting.py --units {args.units} --seconds {args.seconds:g} --snr {' '.join(f'{s:g}' for s in args.snr)}
--iterations {args.iterations} --fit-units {args.fit_units}
--bmiss-restarts {args.bmiss_restarts} --threads {args.threads} --device {args.device}{tag}`.
""",
    )
    print(table)


if __name__ == "__main__":
    main()
