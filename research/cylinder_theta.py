"""θ against truth on recordings simulated with the cylindrical volume conductor (issue 23, 2c).

usage: PYTHONPATH=. .venv/bin/python research/cylinder_theta.py [--settings forearm_arc myogen_arc]
       [--models cylindrical analytic] [--units 12] [--seconds 10] [--snr 20] [--hybrid-restarts 0]
       [--threads 2] [--seed 1]

Our simulator with the cylindrical generator, where every unit's territory centre is known
(depth below the muscle surface, angle = arc on the skin / skin radius), decomposed by the
hybrid (FastICA's units, then θ fitted to each unit's spike-triggered MUAP) with the cylinder
of the simulation's own geometry, and for contrast with the planar model (same skin and fat).
Per true unit identified (RoA ≥ 0.8, ±1 ms after the best lag): depth and angle, true and
estimated, and the errors. Then the hybrid's θ stage alone (``ThetaSearch.fit_units``) on every
unit's true discharges ("true trains"): θ where the decomposition is perfect. Settings:

* forearm_arc: the forearm preset (skin radius 41 mm, bone 9 mm, fat 3 mm, skin 1.2 mm), a
  13×5 grid at 8 mm (64 channels) on an arc of 45°; units 1–12 mm into the muscle, under the
  grid's width;
* myogen_arc: MyoGen's geometry (15 mm muscle, 2 mm fat, 1 mm skin, no bone) with the same grid,
  which then covers 100° of the limb; units 1–12 mm into the muscle.

The MyoGen recordings of ../shared/data are not used: their columns sit at 0°, ±48°, ±96° and
their MUAPs at 2048 Hz under a 3879 Hz label (research/README.md section 12), so their θ truth
is not the territory centre the files' metadata suggest.
Writes research/results/cylinder_theta_<settings>_cpu.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from bmiss_engine import Decomposer, DecomposerConfig
from bmiss_engine.inversion import ThetaSearch
from bmiss_engine.metrics import match_units
from bmiss_engine.recording import Recording
from bmiss_engine.simulate import SimulationConfig, SimulationTruth, simulate_recording
from research.common import machine, write_table

log = logging.getLogger("cylinder_theta")

SETTINGS: dict[str, dict[str, object]] = {
    "forearm_arc": {"limb": "forearm"},
    "myogen_arc": {"limb": "forearm", "muscle_radius_mm": 15.0, "bone_radius_mm": 0.0, "skin_mm": 1.0, "fat_mm": 2.0},
}


def simulation(name: str, n_units: int, seconds: float, snr_db: float, seed: int) -> SimulationConfig:
    base = SimulationConfig(n_units=n_units, duration_s=seconds, snr_db=snr_db, grid_shape=(13, 5), ied_mm=8.0,
                            ramp_s=min(2.0, seconds / 4), muap_generator="cylindrical", seed=seed,
                            **SETTINGS[name])  # type: ignore[arg-type]
    layers = float(base.anatomy().skin_mm) + float(base.anatomy().fat_mm)
    return dataclasses.replace(base, depth_range_mm=(layers + 1.0, layers + 12.0))


def decomposer_config(cfg: SimulationConfig, truth: SimulationTruth, model: str, restarts: int) -> DecomposerConfig:
    """The hybrid with ``model``, the simulation's layers (and limb, for the cylinder)."""
    g = truth.geometry
    config = DecomposerConfig().replace(method="hybrid", device="cpu", forward_model=model, hybrid_restarts=restarts)
    if model == "cylindrical":
        return config.with_cylinder(g["muscle_radius_mm"], g["bone_radius_mm"], g["skin_mm"], g["fat_mm"])
    return config.with_layers(g["skin_mm"], g["fat_mm"])


def rows_for(truth: SimulationTruth, result_units: list, fs: float, model: str) -> tuple[list[list[str]], list[float],
                                                                                             list[float]]:
    report = match_units(truth.discharge_samples, [u.discharge_samples for u in result_units], fs)
    pairs = []
    for m in sorted(report.identified, key=lambda m: int(m.true_key)):
        assert m.estimated is not None  # identified
        pairs.append((int(m.true_key), f"{m.roa:.2f}", result_units[int(m.estimated)].theta))
    return theta_rows(truth, pairs, model)


def theta_rows(truth: SimulationTruth, pairs: list[tuple[int, str, dict[str, float]]], model: str,
               ) -> tuple[list[list[str]], list[float], list[float]]:
    """Table rows for (true unit, RoA, θ found) and the depth and angle errors."""
    d = truth.geometry["skin_radius_mm"]
    rows, depth_errors, angle_errors = [], [], []
    for k, roa, theta in pairs:
        true_depth, est_depth = float(truth.theta_physical["depth_mm"][k]), float(theta["depth_mm"])
        true_angle = math.degrees(float(truth.theta_physical["ml_mm"][k]) / d)
        est_angle = math.degrees(float(theta["ml_mm"]) / d)
        depth_errors.append(est_depth - true_depth)
        angle_errors.append(est_angle - true_angle)
        rows.append([model, str(k), roa, f"{true_depth:.1f}", f"{est_depth:.1f}",
                     f"{est_depth - true_depth:+.2f}", f"{true_angle:.1f}", f"{est_angle:.1f}",
                     f"{est_angle - true_angle:+.2f}", f"{float(theta['iz_mm']) - truth.theta_physical['iz_mm'][k]:+.2f}",
                     f"{float(theta['cv_m_s']) - truth.theta_physical['cv_m_s'][k]:+.2f}"])
    return rows, depth_errors, angle_errors


def true_train_theta(rec: Recording, truth: SimulationTruth, config: DecomposerConfig) -> list[dict[str, float]]:
    """θ fitted as the hybrid fits it, to every unit's true discharges (all channels)."""
    search = ThetaSearch(config.inversion_config(), anatomy=config.anatomy(), device=torch.device("cpu"))
    emg = torch.as_tensor(rec.emg_v, dtype=torch.float32)
    fitted = search.fit_units(emg, rec.grid, rec.sampling_rate_hz, list(truth.discharge_samples),
                              config.inversion.theta_fit_max_lag_s)
    return [f.theta_physical for f in fitted]


def summary_line(label: str, n: int, of: int, wall: float, depth: list[float], angle: list[float]) -> str:
    return (f"- {label}: {n}/{of} units in {wall:.0f} s; depth error median {np.median(np.abs(depth)):.2f} mm "
            f"(max {np.max(np.abs(depth)):.2f}, mean {np.mean(depth):+.2f}); angle error median "
            f"{np.median(np.abs(angle)):.2f}° (max {np.max(np.abs(angle)):.2f}°)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--models", nargs="+", default=["cylindrical", "analytic"], choices=["cylindrical", "analytic"])
    p.add_argument("--units", type=int, default=12)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--snr", type=float, default=20.0)
    p.add_argument("--hybrid-restarts", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    for name in args.settings:
        cfg = simulation(name, args.units, args.seconds, args.snr, args.seed)
        rec, truth = simulate_recording(cfg)
        g = truth.geometry
        rows: list[list[str]] = []
        summary: list[str] = []
        for model in args.models:
            config = decomposer_config(cfg, truth, model, args.hybrid_restarts)
            t0 = time.perf_counter()
            result = Decomposer(config).run(rec)
            wall = time.perf_counter() - t0
            model_rows, depth, angle = rows_for(truth, list(result.units), rec.sampling_rate_hz, model)
            rows += model_rows
            if depth:
                summary.append(summary_line(f"{model}, hybrid", len(depth), args.units, wall, depth, angle))
            log.info("%s %s: %s", name, model, summary[-1] if summary else "none identified")
            t0 = time.perf_counter()
            thetas = true_train_theta(rec, truth, config)
            wall = time.perf_counter() - t0
            label = f"{model}, true trains"
            model_rows, depth, angle = theta_rows(truth, [(k, "1", t) for k, t in enumerate(thetas)], label)
            rows += model_rows
            summary.append(summary_line(label, len(depth), args.units, wall, depth, angle))
            log.info("%s %s", name, summary[-1])
        arc = math.degrees(4 * cfg.ied_mm / g["skin_radius_mm"])
        notes = "\n".join([
            f"Simulated with the cylinder: muscle radius {g['muscle_radius_mm']:g} mm, bone {g['bone_radius_mm']:g} mm, "
            f"fat {g['fat_mm']:g} mm, skin {g['skin_mm']:g} mm (skin radius {g['skin_radius_mm']:g} mm); 13×5 grid at "
            f"8 mm on an arc of {arc:.0f}°; {args.units} units 1–12 mm into the muscle, {args.seconds:g} s at "
            f"{args.snr:g} dB, seed {args.seed}. Hybrid with {args.hybrid_restarts} residual restarts, the forward "
            "model's geometry the simulation's (planar: its skin and fat); 'true trains': its θ fit on every unit's "
            "true discharges. Depth below the muscle surface; angle = ml / skin radius; IZ and CV errors in mm and "
            "m/s. Wall times on a shared, loaded machine: compare them only roughly.",
            "",
            *summary,
            "",
            f"Command: `PYTHONPATH=. .venv/bin/python research/cylinder_theta.py --settings {name} --units {args.units} "
            f"--seconds {args.seconds:g} --snr {args.snr:g} --hybrid-restarts {args.hybrid_restarts} --seed {args.seed}`. "
            f"Machine: {machine()}, {args.threads} torch threads.",
        ])
        print(write_table(
            f"cylinder_theta_{name}_cpu.md", f"θ of the hybrid against the truth, cylindrical simulation ({name})",
            ["model", "unit", "RoA", "depth mm", "est.", "error", "angle °", "est.", "error", "IZ error", "CV error"],
            rows, notes))


if __name__ == "__main__":
    main()
