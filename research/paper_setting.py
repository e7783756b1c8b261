"""The BMISS paper's setting on our analytic simulator: 100 motor units, 320 channels, 10 s at
2048 Hz, 20 and 10 dB SNR (Farina, Halatsis, Pereira, Mamidanna, arXiv 2510.17822).

usage: PYTHONPATH=. .venv/bin/python research/paper_setting.py [--snr 20 10] [--iterations 150]
       [--hybrid-restarts 10] [--bmiss-restarts 10] [--threads 2] [--device cpu] [--tag NAME]

Grid: the planar equivalent of the paper's 10×32 grid around the limb: 10 rows along the
fibres, 32 columns across, 5 mm apart (155 mm across, about the circumference of a forearm).
Per SNR it prints, with the cumulative number of true units identified (RoA ≥ 0.8 at ±1 ms,
best lag within ±10 ms) and the elapsed time at each step:

* the baseline (``method="fastica"``), after each batch of separation vectors;
* the hybrid method (``method="hybrid"``): the baseline's units with θ fitted to their
  spike-triggered MUAPs, then ``--hybrid-restarts`` BMISS restarts on the residual, restart
  by restart; at the end the per-unit RMSE of normalised θ over the identified units (all 8
  fields, and the four an STA pins down);
* the pure BMISS inversion (``method="bmiss"``), restart by restart, at the default
  inversion settings.

Writes research/results/paper_setting_<device>.md.
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
from bmiss_engine.forward.parameters import MotorUnitParameters, to_unit_interval
from bmiss_engine.inversion import THETA_NAMES
from bmiss_engine.metrics import match_units
from bmiss_engine.simulate import SimulationConfig, simulate_recording
from research.common import machine, write_table

IDENTIFIABLE = ("depth_mm", "ml_mm", "iz_mm", "cv_m_s")


def _identified(truth_trains, units, fs) -> int:  # type: ignore[no-untyped-def]
    return match_units(truth_trains, [u.discharge_samples for u in units], fs).n_identified


def _theta_rmse(units, report, truth) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    """Per identified unit with θ: RMSE of normalised θ over all 8 fields and over the 4 an STA pins down."""
    idx = [THETA_NAMES.index(n) for n in IDENTIFIABLE]
    rmse_all, rmse_id = [], []
    for m in report.identified:
        theta = units[int(m.estimated)].theta
        if not theta:
            continue
        physical = MotorUnitParameters(**{k: torch.tensor([float(theta[k])], dtype=torch.float64) for k in THETA_NAMES})
        error = to_unit_interval(physical)[0].numpy() - truth.theta_unit[int(m.true_key)]
        rmse_all.append(float(np.sqrt(np.mean(error**2))))
        rmse_id.append(float(np.sqrt(np.mean(error[idx] ** 2))))
    return rmse_all, rmse_id


def paper_config(snr_db: float, n_units: int = 100, duration_s: float = 10.0, seed: int = 1) -> SimulationConfig:
    """The paper's setting on our analytic simulator: a 10×32 grid at 5 mm, every unit recruited."""
    return SimulationConfig(
        n_units=n_units, duration_s=duration_s, grid_shape=(10, 32), ied_mm=5.0, missing_corner=False,
        snr_db=snr_db, ramp_s=1.0, peak_excitation=0.9, max_threshold=0.8, depth_range_mm=(1.0, 12.0),
        muap_generator="analytic", seed=seed,
    )


def run_snr(snr_db: float, args: argparse.Namespace) -> tuple[list[list[str]], list[str]]:
    sim = paper_config(snr_db, args.units, args.seconds, args.seed)
    t = time.perf_counter()
    rec, truth = simulate_recording(sim)
    fs = rec.sampling_rate_hz
    notes = [f"{snr_db:g} dB: simulated in {time.perf_counter() - t:.0f} s"]
    rows: list[list[str]] = []
    snr = f"{snr_db:g}"

    def row(method: str, step: str, elapsed_s: float, units, extra: str = "") -> None:  # type: ignore[no-untyped-def]
        n_id = _identified(truth.discharge_samples, units, fs)
        rows.append([snr, method, step, f"{elapsed_s:.0f}", str(len(units)), f"{n_id}/{args.units}{extra}"])
        print(" | ".join(rows[-1]), flush=True)

    # the hybrid method: the baseline (its states are the baseline's own, batch by batch), θ of
    # every baseline unit, then BMISS restarts on the residual
    cfg = DecomposerConfig().replace(method="hybrid", device=args.device, n_iterations=args.iterations,
                           hybrid_restarts=args.hybrid_restarts, inversion_target_rows=args.inversion_rows or None)
    gen = Decomposer(cfg).iterate(rec)
    baseline_done = False
    last_batch = 0
    while True:
        try:
            state = next(gen)
        except StopIteration as stop:
            result = stop.value
            break
        if state.phase == "separating" and state.iteration % cfg.separation.batch_size == 0 and state.iteration > last_batch:
            last_batch = state.iteration
            row("fastica", f"batch {state.iteration // cfg.separation.batch_size} ({state.iteration} vectors)", state.elapsed_s,
                state.units)
        elif state.phase == "finishing" and not baseline_done and state.message.startswith("estimating"):
            baseline_done = True
            report = match_units(truth.discharge_samples, [u.discharge_samples for u in state.units], fs)
            roas = [m.roa for m in report.identified]
            row("fastica", "final (second look, duplicates removed)", state.elapsed_s, state.units)
            rows[-1][-1] = f"**{rows[-1][-1]}**"
            notes.append(f"{snr} dB fastica: {report.n_identified}/{args.units} identified, median RoA "
                         f"{np.median(roas) if roas else float('nan'):.3f}, {len(state.units)} reported, "
                         f"{state.elapsed_s:.0f} s")
        elif state.phase == "finishing" and state.message.startswith("residual restart"):
            row("hybrid", state.message.split(":")[0], state.elapsed_s, state.units)
    report = match_units(truth.discharge_samples, [u.discharge_samples for u in result.units], fs)
    rmse_all, rmse_id = _theta_rmse(result.units, report, truth)
    prov = result.provenance
    row("hybrid", f"final ({prov.get('residual_units', 0)} units from the residual)", prov["wall_time_s"], result.units,
        f"; θ RMSE median {np.median(rmse_id):.3f} (4 fields), {np.median(rmse_all):.3f} (8) over {len(rmse_id)}")
    rows[-1][-1] = f"**{rows[-1][-1]}**"
    notes.append(f"{snr} dB hybrid: θ of the baseline's units in {prov['theta_fit_s']:.0f} s "
                 f"({prov['theta_fit_s'] / max(1, len(result.units) - prov.get('residual_units', 0)):.2f} s per unit), "
                 f"{args.hybrid_restarts} residual restarts in {prov.get('residual_search_s', 0.0):.0f} s; per identified "
                 f"unit θ RMSE (normalised, 4 identifiable fields) quartiles "
                 + " / ".join(f"{q:.3f}" for q in np.quantile(rmse_id, [0.25, 0.5, 0.75])) if rmse_id else "")

    # pure BMISS, restart by restart
    if args.bmiss_restarts:
        bcfg = DecomposerConfig().replace(method="bmiss", device=args.device, inversion_restarts=args.bmiss_restarts,
                                inversion_target_rows=args.inversion_rows or None)
        gen = Decomposer(bcfg).iterate(rec)
        while True:
            try:
                state = next(gen)
            except StopIteration as stop:
                bres = stop.value
                break
            if state.phase == "separating":
                row("bmiss", f"restart {state.iteration}", state.elapsed_s, state.units)
        breport = match_units(truth.discharge_samples, [u.discharge_samples for u in bres.units], fs)
        b_all, b_id = _theta_rmse(bres.units, breport, truth)
        if b_id:
            notes.append(f"{snr} dB bmiss: θ RMSE (normalised, 4 identifiable fields) median {np.median(b_id):.3f} "
                         f"over {len(b_id)} identified units, {np.median(b_all):.3f} over all 8 fields")
    return rows, notes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--units", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--snr", type=float, nargs="+", default=[20.0, 10.0])
    ap.add_argument("--iterations", type=int, default=150, help="the baseline's separation vectors")
    ap.add_argument("--inversion-rows", type=int, default=0,
                    help="n_channels·R of the inversion (0: the engine's default, R = 10)")
    ap.add_argument("--hybrid-restarts", type=int, default=10, help="the hybrid's BMISS restarts on the residual")
    ap.add_argument("--bmiss-restarts", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tag", default="", help="suffix of the results file (several runs on one device)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows: list[list[str]] = []
    notes: list[str] = []
    for snr in args.snr:
        r, n = run_snr(snr, args)
        rows += r
        notes += n
    tag = f" --tag {args.tag}" if args.tag else ""
    rows_arg = f" --inversion-rows {args.inversion_rows}" if args.inversion_rows else ""
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
research/paper_setting.py --units {args.units} --seconds {args.seconds:g} --snr {' '.join(f'{s:g}' for s in args.snr)}
--iterations {args.iterations} --hybrid-restarts {args.hybrid_restarts}{rows_arg}
--bmiss-restarts {args.bmiss_restarts} --threads {args.threads} --device {args.device}{tag}`.
""",
    )
    print(table)


if __name__ == "__main__":
    main()
