"""MyoGen MUAPs with each unit's territory centre saved (issue 23, 2c).

usage: nice -n 19 .venv-myogen/bin/python research/myogen_regenerate.py [--units 12] [--density 1.0]
       [--seed 7] [--out bench/.cache/myogen_theta/myogen_theta_muaps.npz]

Runs in the MyoGen venv (.venv-myogen, recipe in ../shared/data/README.md); it does not import
bmiss_engine. The muscle of ../shared/data/gen_myogen.py (radius 15 mm, length 120 mm, fibres
110 ± 5 mm, fat 2 mm, skin 1 mm, recruitment range 30; 13×5 grid at 8 mm, monopolar) with two
changes: a low fibre density (MyoGen costs ~0.3 s per fibre on one core) and the grid's
bending radius set to the skin radius (18 mm), so the columns sit 8 mm apart on the skin
(gen_myogen.py left it at 0, which MyoGen turns into float32 eps: columns at 0°, ±48°, ±96°,
research/README.md section 12). The true electrode angles and axial positions are saved too.

Saved per unit: the territory centre (mean of its fibres' (x, y) in the muscle's cross-section,
origin on the axis; its angle arctan2(y, x) is the angle the electrode angles are measured
against, since MyoGen renders a fibre at angle θ with the electrodes turned by −θ), MyoGen's own
innervation centre, the territory radius (the farthest fibre from the centre, and √2 × the
fibres' RMS distance, the radius of a uniform disc with that spread), the fibre count, and the
innervation zone z (mm, same origin as the electrodes' z). MyoGen draws the IZs inside
``simulate_muaps`` and keeps them nowhere, so the first uniform draw of that call (one per
unit) is recorded through a wrapper around its random generator.

MUAPs are (n_units, 128, 65) with channel c at row c // 5, column c % 5, sampled at 2048 Hz
(``fs_muap``): MyoGen computes the window at its internal 10 kHz over 128 / 2048 s and resamples
it to 128 samples, though it labels the signal with another rate (section 12). The script
checks that by the apparent conduction velocity (the delay of the MUAPs' peaks between rows
8 mm apart: ≈ 4.2 m/s, MyoGen's, at 2048 Hz).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import myogen
import myogen.simulator.core.emg.surface.surface_emg as surface_emg_module
import numpy as np
import quantities as pq
from myogen import simulator as S

FS_HZ = 2048.0
MUSCLE_RADIUS_MM, FAT_MM, SKIN_MM = 15.0, 2.0, 1.0
ROWS, COLS, IED_MM = 13, 5, 8.0


class _RecordingGenerator:
    """Wraps MyoGen's random generator and keeps what its ``uniform`` draws return."""

    def __init__(self, generator: Any, draws: list[np.ndarray]) -> None:
        self._generator = generator
        self._draws = draws

    def uniform(self, *args: Any, **kwargs: Any) -> Any:
        out = self._generator.uniform(*args, **kwargs)
        self._draws.append(np.array(out, dtype=np.float64))
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._generator, name)


def apparent_cv(muaps: np.ndarray, fs: float) -> tuple[float, int]:
    """Conduction velocity (m/s) from how fast the MUAPs' peaks move along the rows, and the
    number of units it is measured on: on each unit's largest column, the median step of the
    peak time between adjacent rows off the earliest row (the IZ) and off the grid's end rows
    (fibre ends); the median over the units whose peaks move (units far round the limb show a
    standing, nearly common-mode bump at the discharge instead)."""
    per_unit = []
    for muap in muaps:
        grid = muap.reshape(muap.shape[0], ROWS, COLS)
        x = grid[:, :, int(np.argmax(np.ptp(grid, axis=0).max(axis=0)))]
        peak = np.argmax(np.abs(x), axis=0).astype(np.float64)  # (rows,)
        first = int(np.argmin(peak))
        steps = [abs(peak[r + 1] - peak[r]) for r in range(1, ROWS - 2) if r != first and r + 1 != first]
        if steps and np.median(steps) >= 1:
            per_unit.append(float(np.median(steps)))
    if not per_unit:
        return float("nan"), 0
    step = float(np.median(per_unit))  # samples per row
    return IED_MM * 1e-3 / (step / fs), len(per_unit)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--units", type=int, default=12)
    p.add_argument("--density", type=float, default=1.0, help="fibres per mm² (gen_myogen.py: 2.5)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--area-ratio", type=float, default=0.25,
                   help="MyoGen's largest innervation area over the muscle's (its default 1/4)")
    p.add_argument("--bending-radius", type=float, default=MUSCLE_RADIUS_MM + FAT_MM + SKIN_MM,
                   help="mm; 0 keeps MyoGen's default (eps: columns 48° apart)")
    p.add_argument("--out", default="bench/.cache/myogen_theta/myogen_theta_muaps.npz")
    args = p.parse_args()
    myogen.set_random_seed(args.seed)
    t0 = time.time()
    rt, _ = S.RecruitmentThresholds(N=args.units, recruitment_range__ratio=30, mode="konstantin")
    muscle = S.Muscle(recruitment_thresholds=rt, radius__mm=MUSCLE_RADIUS_MM * pq.mm, length__mm=120 * pq.mm,
                      mean_fiber_length__mm=110 * pq.mm, var_fiber_length__mm=5 * pq.mm,
                      fiber_density__fibers_per_mm2=args.density * pq.mm**-2, fat_thickness__mm=FAT_MM * pq.mm,
                      skin_thickness__mm=SKIN_MM * pq.mm,
                      max_innervation_area_to_total_muscle_area__ratio=args.area_ratio, autorun=True)
    grid = S.SurfaceElectrodeArray(num_rows=ROWS, num_cols=COLS, inter_electrode_distance__mm=IED_MM * pq.mm,
                                   electrode_radius__mm=1.5 * pq.mm, center_point__mm_deg=(0 * pq.mm, 0 * pq.deg),
                                   bending_radius__mm=args.bending_radius * pq.mm, differentiation_mode="monopolar")
    pos_z = np.asarray(grid.pos_z.rescale(pq.mm).magnitude, dtype=np.float64)  # (rows, cols)
    pos_theta = np.asarray(grid.pos_theta.rescale(pq.rad).magnitude, dtype=np.float64)
    n_fibres = np.asarray(muscle.resulting_number_of_innervated_fibers, dtype=np.int64)
    print(f"muscle: {muscle.number_of_muscle_fibers} fibres, per unit {n_fibres.tolist()} "
          f"({time.time() - t0:.0f} s)", flush=True)
    print("column angles (deg):", np.round(np.degrees(pos_theta[0]), 2).tolist(),
          "row z (mm):", pos_z[:, 0].tolist(), flush=True)

    fibre_xy = np.asarray(muscle.muscle_fiber_centers__mm.rescale(pq.mm).magnitude, dtype=np.float64)
    fibre_unit = np.nan_to_num(np.asarray(muscle.assignment, dtype=np.float64), nan=-1).astype(np.int64)
    centres, radius_max, radius_disc = [], [], []
    for k in range(args.units):
        xy = np.asarray(muscle.resulting_fiber_assignment(k).rescale(pq.mm).magnitude, dtype=np.float64)
        c = xy.mean(axis=0) if len(xy) else np.full(2, np.nan)
        dist = np.linalg.norm(xy - c, axis=1) if len(xy) else np.zeros(1)
        centres.append(c)
        radius_max.append(float(dist.max()))
        radius_disc.append(float(np.sqrt(2.0 * np.mean(dist**2))))
    centre_xy = np.array(centres)
    innervation_xy = np.asarray(muscle.innervation_center_positions__mm.rescale(pq.mm).magnitude, dtype=np.float64)

    semg = S.SurfaceEMG(muscle_model=muscle, electrode_arrays=[grid], sampling_frequency__Hz=FS_HZ * pq.Hz,
                        sampling_points_in_t_and_z_domains=128)
    draws: list[np.ndarray] = []
    original = surface_emg_module.get_random_generator
    surface_emg_module.get_random_generator = lambda: _RecordingGenerator(original(), draws)  # type: ignore[assignment]
    try:
        block = semg.simulate_muaps(n_jobs=1, verbose=False)
    finally:
        surface_emg_module.get_random_generator = original
    iz_mm = draws[0]
    assert iz_mm.shape == (args.units,), iz_mm.shape
    muaps = np.stack([np.asarray(seg.analogsignals[0].magnitude, dtype=np.float64)
                      for seg in block.groups[0].segments])
    label = float(block.groups[0].segments[0].analogsignals[0].sampling_rate.rescale(pq.Hz).magnitude)
    wall = time.time() - t0
    cv, n_cv = apparent_cv(muaps, FS_HZ)
    depth = MUSCLE_RADIUS_MM - np.linalg.norm(centre_xy, axis=1)
    angle = np.degrees(np.arctan2(centre_xy[:, 1], centre_xy[:, 0]))
    print(f"muaps {muaps.shape} in {wall:.0f} s; MyoGen's label {label:.2f} Hz; apparent CV "
          f"at {FS_HZ:g} Hz: {cv:.2f} m/s over {n_cv} units (at the label's rate: {cv * label / FS_HZ:.2f})", flush=True)
    for k in range(args.units):
        print(f"unit {k}: {n_fibres[k]} fibres, depth {depth[k]:.2f} mm, angle {angle[k]:.1f}°, "
              f"radius {radius_disc[k]:.2f} (max {radius_max[k]:.2f}) mm, IZ {iz_mm[k]:+.2f} mm, "
              f"p2p {np.ptp(muaps[k], axis=0).max():.3g}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out, muaps=muaps, rt=np.asarray(rt, dtype=np.float64), fs=FS_HZ, fs_muap=FS_HZ, fs_label_hz=label,
        rows=ROWS, ied_mm=IED_MM, pos_z_mm=pos_z, pos_theta_rad=pos_theta, bending_radius_mm=args.bending_radius,
        centre_xy_mm=centre_xy, innervation_centre_xy_mm=innervation_xy, depth_mm=depth, angle_deg=angle,
        territory_radius_mm=np.array(radius_disc), territory_radius_max_mm=np.array(radius_max),
        n_fibres=n_fibres, iz_mm=iz_mm, apparent_cv_m_s=cv, apparent_cv_units=n_cv,
        muscle_radius_mm=MUSCLE_RADIUS_MM, fat_mm=FAT_MM, skin_mm=SKIN_MM,
        fibre_xy_mm=fibre_xy, fibre_unit=fibre_unit, area_ratio=args.area_ratio, density_per_mm2=args.density,
        seed=args.seed, wall_s=wall,
    )
    print("saved", out, flush=True)


if __name__ == "__main__":
    main()
