"""File → Open MRI: the grid is placed on the subject's skin, the forward model takes the
layers measured under it, and a bad file leaves the app as it was."""

from __future__ import annotations

from tests.gui.conftest import require_gui

require_gui()

from pathlib import Path

import numpy as np
import pytest

from bmiss_engine.anatomy import demo_anatomy_paths


def test_open_demo_mri_places_the_grid_and_sets_the_layers(window, small_recording_file: Path) -> None:
    assert window.open_file(small_recording_file)
    assert window.action_by_name["open_mri"].isEnabled()
    paths = demo_anatomy_paths()
    assert window.open_mri(paths.labels)
    anatomy = window.anatomy
    # the demo placement sits over the phantom's 4 mm fat region, skin 1.5 mm
    assert anatomy.fat_mm == pytest.approx(4.0, abs=0.4)
    assert anatomy.skin_mm == pytest.approx(1.5, abs=0.4)
    layers = window.config.inversion
    assert (layers.fat_mm, layers.skin_mm) == (pytest.approx(anatomy.fat_mm), pytest.approx(anatomy.skin_mm))
    scene = window.views["anatomy"].scene
    assert set(scene.surfaces) == {"skin", "fat", "muscle", "bone"}
    assert scene.electrodes_mm.shape == (32, 3)
    # a unit 5 mm below the muscle surface under the grid centre lies inside the muscle mesh's
    # bounding box, deeper than every electrode along the grid's outward normal
    point = scene.grid_to_world(np.array([5.0]), np.array([0.0]), np.array([0.0]))[0]
    normal = anatomy.placed.centre_normal_world
    depth = (anatomy.placed.centre_world_mm - point) @ normal
    assert depth == pytest.approx(5.0 + anatomy.skin_mm + anatomy.fat_mm, abs=0.5)
    assert "label map" in scene.title


def test_a_bad_mri_is_reported_and_changes_nothing(window, small_recording_file: Path, tmp_path: Path,
                                                   errors: list[tuple[str, str]]) -> None:
    assert window.open_file(small_recording_file)
    before = window.views["anatomy"].scene
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"not a nifti file at all")
    assert not window.open_mri(bad)
    assert errors
    assert errors[-1][0] == "Cannot use the MRI"
    assert "broken.nii.gz" in errors[-1][1]
    assert window.anatomy is None
    assert window.views["anatomy"].scene is before
    assert window.open_file(small_recording_file)  # still usable


def test_mri_needs_a_recording(window, errors: list[tuple[str, str]]) -> None:
    assert not window.action_by_name["open_mri"].isEnabled()
    assert not window.open_mri(demo_anatomy_paths().labels)
    assert errors[-1][0] == "Open a recording first"
