"""The bundled demo: MRI phantom, grid placement and the recording simulated on that anatomy."""

from __future__ import annotations

import numpy as np
import pytest

from bmiss_engine.anatomy import (
    Tissue,
    demo_anatomy_paths,
    load_grid_placement,
    load_label_map,
    load_volume,
    place_grid,
)
from bmiss_engine.io import open_recording


def test_demo_mri_matches_its_generator_and_the_demo_recording() -> None:
    paths = demo_anatomy_paths()
    assert sum(p.stat().st_size for p in (paths.t1, paths.labels)) < 2_000_000
    t1 = load_volume(paths.t1)
    labels = load_label_map(paths.labels, like=t1)
    assert set(np.unique(labels.labels)) == {int(t) for t in Tissue}
    fat, muscle = (float(np.median(t1.data[labels.labels == t])) for t in (Tissue.FAT, Tissue.MUSCLE))
    assert fat > 2 * muscle  # a T1 image: fat bright

    recording = open_recording(paths.t1.parents[1] / "demo_recording.npz")
    placed = place_grid(labels, recording.grid, load_grid_placement(paths.grid_placement))
    demo_truth = np.load(paths.t1.parents[1] / "demo_recording_truth.npz")
    assert float(demo_truth["anatomy_skin_mm"]) == pytest.approx(placed.mean_skin_mm, abs=0.01)
    assert float(demo_truth["anatomy_fat_mm"]) == pytest.approx(placed.mean_fat_mm, abs=0.01)
    assert placed.mean_fat_mm == pytest.approx(4.0, abs=0.2)  # the grid sits on the 4 mm region
    # the units lie in the muscle under the grid
    depth = demo_truth["theta_depth_mm"]
    assert depth.min() >= 1.9
    assert depth.max() <= 8.1
    inside = placed.grid_to_world(depth, demo_truth["theta_ml_mm"], demo_truth["theta_iz_mm"])
    assert np.all(np.linalg.norm(inside - placed.centre_world_mm, axis=1) < 70)
