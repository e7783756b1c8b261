"""θ against truth on MyoGen recordings whose territory centres are known (issue 23, 2c).

usage: nice -n 19 env PYTHONPATH=. .venv/bin/python research/myogen_theta.py
       [--muaps MUAPS.npz ...] [--seconds 15] [--snr 20] [--peak 1] [--seed 1] [--hybrid-restarts 0]
       [--threads 1] [--seen-deg 60] [--no-true-trains]

--muaps defaults to the two pools research/README.md section 16 uses (12 and 48 units, made by
research/myogen_regenerate.py under bench/.cache/myogen_theta/); one table row block each.

The MUAPs come from research/myogen_regenerate.py (run in the MyoGen venv): MyoGen's muscle of
../shared/data (15 mm radius, no bone, fat 2 mm, skin 1 mm, 13×5 grid at 8 mm) at a low fibre
density, the grid bent to the skin radius (columns 8 mm = 25.5° apart on the skin, the layout
the engine's cylinder assumes for a standard grid), each unit's territory centre (the mean of its
fibres' positions), fibre count and innervation zone saved, and the MUAPs stored with their true
rate, 2048 Hz. The recording is composed by ../shared/data/compose.py, which reads that rate
(``fs_muap``) and so leaves these MUAPs as they are (it resamples MyoGen's files of
../shared/data by 2048/3879.27, too short by 1.9×: research/README.md section 12): rate coding
8–20 Hz, ISI CoV 0.15, a trapezoid to ``--peak`` of the highest threshold, white noise at
``--snr``; channel (0, 0) dropped (64 channels).

The hybrid (FastICA's units, then θ fitted to each unit's spike-triggered MUAP) runs with the
cylinder of MyoGen's geometry (``with_cylinder(15, 0, 1, 2)``) and the project's default
conductivities. Per true unit identified (RoA ≥ 0.8, ±1 ms after the best lag): depth below the
muscle surface and angle around the limb, true (territory centre) and estimated (the depth; the
angle = ml / 18 mm), and the errors; the depth of MyoGen's own innervation centre (where it
seeds the territory, usually nearer the surface than the fibres' mean) beside it. Then the θ stage
alone (``ThetaSearch.fit_units``) on every firing unit's true discharges ("true trains"). The
summaries also give the errors over the units within ``--seen-deg`` of the grid's centre line, and
the depth error against each unit's shallowest fibre (what the surface sees most).
Writes research/results/myogen_theta_cpu.md.
"""

from __future__ import annotations

import argparse
import logging
import math
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from bmiss_engine import Decomposer, DecomposerConfig
from bmiss_engine.inversion import ThetaSearch
from bmiss_engine.io import read_npz
from bmiss_engine.metrics import match_units
from bmiss_engine.recording import Recording
from research.common import CACHE, REPO, machine, write_table

log = logging.getLogger("myogen_theta")

COMPOSE = REPO.parent / "shared" / "data" / "compose.py"
OUT = CACHE / "myogen_theta"
HEADER = ["setting, rows", "unit", "RoA", "fibres", "depth mm", "est.", "error", "nearest fibre", "innerv. centre",
          "angle °", "est.", "error", "IZ mm", "est.", "territory r mm", "est.", "CV est."]


def compose(muaps: Path, seconds: float, peak: float, snr: float, seed: int) -> tuple[Path, Path]:
    """The recording and its truth, made by ../shared/data/compose.py once per setting."""
    prefix = OUT / f"{muaps.stem.removesuffix('_muaps')}_{seconds:g}s_peak{peak:g}_seed{seed}"
    rec, truth = Path(f"{prefix}_{int(snr)}dB.npz"), Path(f"{prefix}_truth.npz")
    if not (rec.exists() and truth.exists()):
        cmd = [sys.executable, str(COMPOSE), str(muaps), str(prefix), str(seed), f"{seconds:g}", f"{peak:g}", f"{snr:g}"]
        log.info("%s", subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip())
    return rec, truth


def angle_error(est: float, true: float) -> float:
    return (est - true + 180.0) % 360.0 - 180.0


def theta_rows(truth: dict[str, np.ndarray], pairs: list[tuple[int, str, dict[str, float]]], label: str,
               ) -> tuple[list[list[str]], list[float], list[float], list[float]]:
    """Table rows for (true unit, RoA, θ found), the depth and angle errors, and the depth
    errors against the unit's shallowest fibre."""
    d = float(truth["muscle_radius_mm"] + truth["fat_mm"] + truth["skin_mm"])
    innervation_depth = float(truth["muscle_radius_mm"]) - np.linalg.norm(truth["innervation_centre_xy_mm"], axis=1)
    rows, depth_errors, angle_errors, nearest_errors = [], [], [], []
    for k, roa, theta in pairs:
        true_depth, est_depth = float(truth["depth_mm"][k]), float(theta["depth_mm"])
        true_angle, est_angle = float(truth["angle_deg"][k]), math.degrees(float(theta["ml_mm"]) / d)
        da = angle_error(est_angle, true_angle)
        depth_errors.append(est_depth - true_depth)
        angle_errors.append(da)
        nearest_errors.append(est_depth - nearest_fibre_depth(truth, k))
        rows.append([label, str(k), roa, str(int(truth["n_fibres"][k])), f"{true_depth:.1f}", f"{est_depth:.1f}",
                     f"{est_depth - true_depth:+.2f}", f"{nearest_fibre_depth(truth, k):.1f}",
                     f"{innervation_depth[k]:.1f}", f"{true_angle:.1f}",
                     f"{est_angle:.1f}", f"{da:+.2f}", f"{float(truth['iz_mm'][k]):+.1f}", f"{float(theta['iz_mm']):+.1f}",
                     f"{float(truth['territory_radius_mm'][k]):.1f}", f"{float(theta['territory_radius_mm']):.1f}",
                     f"{float(theta['cv_m_s']):.2f}"])
    return rows, depth_errors, angle_errors, nearest_errors


def summary_line(label: str, n: int, of: int, wall: float, depth: list[float], angle: list[float],
                 nearest: list[float]) -> str:
    if not depth:
        return f"- {label}: 0/{of} units in {wall:.0f} s"
    line = (f"- {label}: {n}/{of} units in {wall:.0f} s; depth error median {np.median(np.abs(depth)):.2f} mm "
            f"(max {np.max(np.abs(depth)):.2f}, mean {np.mean(depth):+.2f}); angle error median "
            f"{np.median(np.abs(angle)):.2f}° (max {np.max(np.abs(angle)):.2f}°)")
    near = np.abs(np.asarray(nearest))
    if np.isfinite(near).all():
        line += (f"; against the shallowest fibre's depth: median {np.median(near):.2f} mm, "
                 f"{int(np.sum(near <= 1.0))}/{len(near)} within 1 mm")
    return line


def true_train_theta(rec: Recording, trains: list[np.ndarray], config: DecomposerConfig) -> list[dict[str, float]]:
    """θ fitted as the hybrid fits it, to every unit's true discharges (all channels)."""
    search = ThetaSearch(config.inversion_config(), anatomy=config.anatomy(), device=torch.device("cpu"))
    emg = torch.as_tensor(rec.emg_v, dtype=torch.float32)
    fitted = search.fit_units(emg, rec.grid, rec.sampling_rate_hz, trains, config.inversion.theta_fit_max_lag_s)
    return [f.theta_physical for f in fitted]


def nearest_fibre_depth(truth: dict[str, np.ndarray], k: int) -> float:
    """Depth below the muscle surface of unit k's shallowest fibre (nan where not saved)."""
    if "fibre_xy_mm" not in truth:
        return float("nan")
    xy = truth["fibre_xy_mm"][truth["fibre_unit"] == k]
    return float(truth["muscle_radius_mm"]) - float(np.linalg.norm(xy, axis=1).max())


def setting_label(truth: dict[str, np.ndarray]) -> str:
    return f"{len(truth['depth_mm'])} units"


def run_setting(muaps: Path, args: argparse.Namespace) -> tuple[list[list[str]], list[str], str, str]:
    """Rows, summary lines, a description and the regenerate command of one MUAP set."""
    truth = dict(np.load(muaps))
    label = setting_label(truth)
    rec_path, truth_path = compose(muaps, args.seconds, args.peak, args.snr, args.seed)
    rec = read_npz(rec_path)
    trains = {k: np.asarray(v, dtype=np.int64) for k, v in np.load(truth_path).items()}
    firing = sorted(int(k.removeprefix("unit")) for k in trains)
    n_units = len(truth["depth_mm"])
    g = (float(truth["muscle_radius_mm"]), 0.0, float(truth["skin_mm"]), float(truth["fat_mm"]))
    config = DecomposerConfig().replace(method="hybrid", device="cpu", forward_model="cylindrical",
                                        hybrid_restarts=args.hybrid_restarts).with_cylinder(*g)
    seen = {k for k in firing if abs(float(truth["angle_deg"][k])) <= args.seen_deg}
    rows: list[list[str]] = []
    summary: list[str] = []

    def add(kind: str, pairs: list[tuple[int, str, dict[str, float]]], wall: float) -> None:
        new_rows, depth, angle, shallow = theta_rows(truth, pairs, f"{label}, {kind}")
        rows.extend(new_rows)
        summary.append(summary_line(f"{label}, {kind}", len(depth), len(firing), wall, depth, angle, shallow))
        near = [i for i, (k, _, _) in enumerate(pairs) if k in seen]
        summary.append(summary_line(f"{label}, {kind}, units within {args.seen_deg:g}° of the grid's centre line",
                                    len(near), len(seen), wall, [depth[i] for i in near], [angle[i] for i in near],
                                    [shallow[i] for i in near]))
        log.info("%s\n%s", summary[-2], summary[-1])

    t0 = time.perf_counter()
    result = Decomposer(config).run(rec)
    wall = time.perf_counter() - t0
    units = list(result.units)
    report = match_units(trains, [u.discharge_samples for u in units], rec.sampling_rate_hz)
    pairs = []
    for m in sorted(report.identified, key=lambda m: int(m.true_key.removeprefix("unit"))):
        assert m.estimated is not None  # identified
        theta = units[int(m.estimated)].theta
        assert theta is not None  # the hybrid fits θ to every unit it keeps
        pairs.append((int(m.true_key.removeprefix("unit")), f"{m.roa:.2f}", theta))
    add(f"hybrid ({len(units)} units kept)", pairs, wall)
    if not args.no_true_trains:
        t0 = time.perf_counter()
        thetas = true_train_theta(rec, [trains[f"unit{k}"] for k in firing], config)
        add("true trains", [(k, "1", t) for k, t in zip(firing, thetas, strict=True)], time.perf_counter() - t0)
    cols = np.degrees(np.asarray(truth["pos_theta_rad"])[0])
    counts = ", ".join(f"{k}: {len(trains['unit' + str(k)])}" for k in firing)
    description = (
        f"**{label}**: MUAPs from MyoGen 0.12.0 (`research/myogen_regenerate.py`, seed {int(truth['seed'])}): "
        f"muscle radius "
        f"{g[0]:g} mm, no bone, fat {g[3]:g} mm, skin {g[2]:g} mm, {n_units} units, fibre density "
        f"{float(truth['density_per_mm2']):g} /mm² ({int(truth['n_fibres'].sum())} fibres), 13×5 grid at 8 mm bent "
        f"to a {float(truth['bending_radius_mm']):g} mm radius: columns at {', '.join(f'{c:.1f}' for c in cols)}° "
        f"(MyoGen's frame), rows along the fibres; MUAPs at {float(truth['fs_muap']):g} Hz (apparent CV, the "
        f"peaks' delay between rows, {float(truth['apparent_cv_m_s']):.2f} m/s; MyoGen labels them "
        f"{float(truth['fs_label_hz']):.2f} Hz, which would make it "
        f"{float(truth['apparent_cv_m_s']) * float(truth['fs_label_hz']) / float(truth['fs_muap']):.1f} m/s). "
        f"Units within {args.seen_deg:g}° of the grid's centre line: {sorted(seen)}. Recording by "
        f"`../shared/data/compose.py` (no resampling: `fs_muap` = 2048 Hz): {args.seconds:g} s, peak excitation "
        f"{args.peak:g}, {args.snr:g} dB, seed {args.seed}, 64 channels; {len(firing)} of {n_units} units fire "
        f"({counts} discharges)."
    )
    command = (f"`nice -n 19 .venv-myogen/bin/python research/myogen_regenerate.py --units {n_units} --density "
               f"{float(truth['density_per_mm2']):g} --seed {int(truth['seed'])} --out "
               f"{muaps.relative_to(REPO) if muaps.is_relative_to(REPO) else muaps}` "
               f"({float(truth['wall_s']):.0f} s, n_jobs=1)")
    return rows, summary, description, command


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--muaps", type=Path, nargs="+",
                   default=[OUT / "myogen_theta_muaps.npz", OUT / "myogen_theta_48u_muaps.npz"])
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--snr", type=float, default=20.0)
    p.add_argument("--peak", type=float, default=1.0, help="peak excitation, a share of the highest threshold")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--hybrid-restarts", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seen-deg", type=float, default=60.0, help="a unit this near the grid's centre line is 'seen'")
    p.add_argument("--no-true-trains", action="store_true")
    p.add_argument("--name", default="myogen_theta_cpu.md")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    rows: list[list[str]] = []
    summary: list[str] = []
    descriptions: list[str] = []
    commands: list[str] = []
    for muaps in args.muaps:
        r, s, d, c = run_setting(Path(muaps).resolve(), args)
        rows += r
        summary += s
        descriptions.append(d)
        commands.append(c)
    notes = "\n".join([
        *[f"{d}\n" for d in descriptions],
        "Truth: depth = muscle radius − distance of the territory centre (the mean of the unit's fibres) from the "
        "axis; angle = atan2(y, x) of that centre (MyoGen renders a fibre at angle θ by turning the electrodes by "
        "−θ, so the grid's centre column is at 0°); 'nearest fibre': the depth of the unit's shallowest fibre; "
        "'innerv. centre': the depth of MyoGen's innervation centre, where it seeds the territory; IZ = MyoGen's "
        "innervation zone z (same origin as the rows' z, the grid's centre row at 0); territory r = √2 × the "
        "fibres' RMS distance from the centre (a uniform disc's radius). Estimates: the hybrid's θ (cylinder of "
        "MyoGen's geometry, `with_cylinder(15, 0, 1, 2)`, the project's default conductivities, "
        f"{args.hybrid_restarts} residual restarts); angle = ml / skin radius (18 mm). 'true trains': the θ fit "
        "alone on every firing unit's true discharges. Wall times on a shared, loaded machine: compare them only "
        "roughly.",
        "",
        *summary,
        "",
        f"Commands: {'; '.join(commands)}; then `nice -n 19 env PYTHONPATH=. .venv/bin/python "
        f"research/myogen_theta.py --seconds {args.seconds:g} --snr {args.snr:g} --peak {args.peak:g} --seed "
        f"{args.seed} --hybrid-restarts {args.hybrid_restarts} --threads {args.threads}`. "
        f"Machine: {machine()}, {args.threads} torch thread(s).",
    ])
    print(write_table(args.name, "θ of the hybrid against the truth on MyoGen recordings (territory centres known)",
                      HEADER, rows, notes))


if __name__ == "__main__":
    main()
