"""Make the bundled demo: the limb phantom MRI and the EMG recorded on it.

    PYTHONPATH=. python resources/make_demo.py

writes

* ``resources/demo_mri/demo_t1.nii.gz`` (T1, int16) and ``demo_labels.nii.gz`` (uint8, the
  default TissueLabels: skin 1, fat 2, muscle 3, bone 4): :func:`make_demo_phantom`, a
  forearm-sized limb (ellipse 72 × 60 mm, 144 mm long) with skin 1.5 mm and fat 2, 4 and 8 mm
  in three regions around it;
* ``resources/demo_mri/grid_placement.json``: the demo grid over the 4 mm region;
* ``resources/demo_recording.npz`` and ``demo_recording_truth.npz``: as
  ``bmiss simulate --units 20 --duration 15 --compact`` (13×5 grid at 8 mm without its corner,
  2048 Hz, 20 dB, seed 0), but with the analytic layered model and the skin and fat thickness
  measured under that grid on the phantom, so the demo shows MRI and EMG of one limb. The
  units' depth range below the skin (2–8 mm in the default, made for the layer-less
  line-source model) is moved down by the skin and fat above the muscle, so the units lie 2–8
  mm deep in the muscle as before rather than half of them clipped to the muscle surface.
  The truth file also carries the anatomy used (``anatomy_skin_mm``, ``anatomy_fat_mm``,
  ``anatomy_fibre_angle_deg``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from bmiss_engine.anatomy import GridPlacement, demo_anatomy_paths, load_label_map, place_grid
from bmiss_engine.anatomy.phantom import REGION_CENTRES_DEG, write_demo_phantom
from bmiss_engine.forward import AnalyticGenerator
from bmiss_engine.io.npz import save_npz_atomic, write_npz
from bmiss_engine.simulate import SimulationConfig, simulate_recording

RESOURCES = Path(__file__).resolve().parent
DEMO_PLACEMENT = GridPlacement(angle_deg=REGION_CENTRES_DEG[1], axial_mm=0.0, rotation_deg=0.0)
log = logging.getLogger("make_demo")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    paths = write_demo_phantom(demo_anatomy_paths().t1.parent, DEMO_PLACEMENT.as_dict())
    for p in (paths.t1, paths.labels, paths.grid_placement):
        log.info("wrote %s (%.0f kB)", p, p.stat().st_size / 1e3)

    cfg = SimulationConfig(n_units=20, duration_s=15.0, seed=0, muap_generator="analytic")
    probe, _ = simulate_recording(SimulationConfig(n_units=1, duration_s=0.1, seed=0))
    placed = place_grid(load_label_map(paths.labels), probe.grid, DEMO_PLACEMENT)
    anatomy = placed.anatomy_parameters()
    layers = placed.mean_skin_mm + placed.mean_fat_mm
    lo, hi = cfg.depth_range_mm
    cfg = SimulationConfig(**{**cfg.__dict__, "depth_range_mm": (lo + layers, hi + layers)})
    recording, truth = simulate_recording(cfg, AnalyticGenerator(anatomy=anatomy))
    out = RESOURCES / "demo_recording.npz"
    write_npz(recording, out, dtype=np.float16)
    save_npz_atomic(out.with_name("demo_recording_truth.npz"), {
        **truth.as_npz_dict(), "fs_hz": np.float64(cfg.sampling_rate_hz),
        "anatomy_skin_mm": np.float64(placed.mean_skin_mm), "anatomy_fat_mm": np.float64(placed.mean_fat_mm),
        "anatomy_fibre_angle_deg": np.float64(placed.fibre_angle_deg),
    })
    counts = [len(d) for d in truth.discharge_samples]
    log.info("skin %.2f mm, fat %.2f mm under the grid (per electrode %.2f-%.2f mm)", placed.mean_skin_mm,
             placed.mean_fat_mm, placed.fat_thickness_mm.min(), placed.fat_thickness_mm.max())
    log.info("wrote %s (%d units, %d firing, %d discharges, depth %.1f-%.1f mm below the skin)", out, cfg.n_units,
             sum(c > 0 for c in counts), sum(counts), *cfg.depth_range_mm)


if __name__ == "__main__":
    main()
