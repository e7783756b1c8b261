"""The 3D view's scene for the cylindrical model: the layers as tubes along the grid (the
subject's, fitted under the grid on the MRI, or the settings' limb without one), and the units
where the model that estimated them puts them. Checked on the scene's arrays; the pixels are
checked in tests/gui3d/test_cylinder_view.py."""

from __future__ import annotations

from tests.gui.conftest import require_gui

require_gui()

from pathlib import Path

import numpy as np
import pytest

from bmiss_engine import DecomposerConfig, DecompositionResult, ElectrodeGrid, MotorUnit
from bmiss_engine.anatomy import demo_anatomy_paths
from bmiss_gui.scene import cylinder_scene, mri_cylinder, tube

CYLINDRICAL = DecomposerConfig().replace(method="hybrid", forward_model="cylindrical")


def _distance_from_axis(points: np.ndarray, centre: np.ndarray, axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distances (n,) of points from the axis line, and their positions (n,) along it."""
    rel = points - centre
    along = rel @ axis
    return np.linalg.norm(rel - along[:, None] * axis, axis=1), along


def _result(config: DecomposerConfig, n: int = 2048) -> DecompositionResult:
    thetas = [(4.0, -6.0, -10.0), (12.0, 8.0, 5.0)]
    units = tuple(MotorUnit(i, np.arange(50 + 10 * i, n, 200, dtype=np.int64), np.zeros(n, np.float32), 2048.0,
                            theta={"depth_mm": d, "ml_mm": ml, "iz_mm": iz, "n_fibres": 300.0})
                  for i, (d, ml, iz) in enumerate(thetas))
    return DecompositionResult(units, 2048.0, n, config=config.as_dict())


def test_a_tube_winds_outwards() -> None:
    centre, axis, reference = np.zeros(3), np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0])
    vertices, faces = tube(10.0, (-5.0, 5.0), centre, axis, reference, facets=24)
    radius, along = _distance_from_axis(vertices, centre, axis)
    assert np.allclose(radius, 10.0)
    assert set(np.round(along, 9)) == {-5.0, 5.0}
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    normals = np.cross(b - a, c - a)
    middle = (a + b + c) / 3
    outward = middle - (middle @ axis)[:, None] * axis
    assert np.all(np.einsum("ij,ij->i", normals, outward) > 0)


@pytest.mark.parametrize("grid_around", [False, True])
def test_the_cylinder_without_an_mri(grid_around: bool) -> None:
    grid = ElectrodeGrid.full(13, 5, 8.0)
    inv = CYLINDRICAL.replace(limb="thigh", grid_around=grid_around).inversion
    scene = cylinder_scene(grid, inv)
    muscle, bone = inv.cylinder_radii_mm
    skin_radius = muscle + inv.fat_mm + inv.skin_mm
    expected = {"bone": bone, "muscle": muscle, "fat": muscle + inv.fat_mm, "skin": skin_radius}
    assert set(scene.cylinder) == set(expected)
    assert not scene.surfaces
    centre, axis = np.array([0.0, 0.0, -skin_radius]), np.array([0.0, 1.0, 0.0])
    along_grid = grid.positions_mm()[:, 0]
    for name, (vertices, _faces) in scene.cylinder.items():
        radius, along = _distance_from_axis(vertices, centre, axis)
        assert radius == pytest.approx(expected[name]), name
        assert along.min() < along_grid.min()
        assert along.max() > along_grid.max()
    # the electrodes on the skin, the grid centre on top (the planar scene's skin at z = 0)
    radius, along = _distance_from_axis(scene.electrodes_mm, centre, axis)
    assert radius == pytest.approx(skin_radius)
    assert np.allclose(np.sort(along), np.sort(along_grid))
    angles = np.arctan2(scene.electrodes_mm[:, 0], scene.electrodes_mm[:, 2] + skin_radius)
    across = grid.positions_mm()[:, 1]
    if grid_around:  # five columns 72° apart: all around the limb
        assert np.ptp(np.degrees(angles)) == pytest.approx(4 * 72.0)
    else:  # an arc as long as the grid is wide
        assert np.allclose(angles * skin_radius, across)
    # a unit at depth d below the muscle surface lies at radius muscle − d, at angle ml / skin radius
    point = scene.grid_to_world(np.array([6.0]), np.array([10.0]), np.array([-4.0]))[0]
    radius, along = _distance_from_axis(point[None], centre, axis)
    assert radius[0] == pytest.approx(muscle - 6.0)
    assert along[0] == pytest.approx(-4.0)
    assert np.arctan2(point[0], point[2] + skin_radius) == pytest.approx(10.0 / skin_radius)
    assert "thigh" in scene.title
    assert "no MRI" in scene.title


def test_the_scene_follows_the_model_of_the_units_shown(window, small_recording_file: Path) -> None:  # type: ignore[no-untyped-def]
    assert window.open_file(small_recording_file)
    view = window.views["anatomy"]
    assert not view.scene.cylinder  # the planar model by default
    window.session.finish_decomposition(_result(CYLINDRICAL))
    assert set(view.scene.cylinder) == {"bone", "muscle", "fat", "skin"}
    assert view.scene.title.startswith("Cylindrical model (default forearm)")
    # an edit of the result rebuilds nothing
    scene = view.scene
    window.session.select((0,))
    window.session.set_status("accepted")
    assert window.session.result.units[0].status == "accepted"
    assert view.scene is scene
    window.session.finish_decomposition(_result(DecomposerConfig().replace(method="hybrid")))
    assert not view.scene.cylinder
    assert view.scene.title.startswith("Planar model")


def test_the_mri_shows_the_cylinder_under_the_grid(window, small_recording_file: Path) -> None:  # type: ignore[no-untyped-def]
    assert window.open_file(small_recording_file)
    assert window.open_mri(demo_anatomy_paths().labels)
    view = window.views["anatomy"]
    cylinder = mri_cylinder(window.anatomy)
    assert cylinder is not None
    # drawn whatever the model: the fitted layers over the MRI's tissues
    assert set(view.scene.surfaces) == {"skin", "fat", "muscle", "bone"}
    assert set(view.scene.cylinder) == {"bone", "muscle", "fat", "skin"}
    for name, (vertices, _faces) in view.scene.cylinder.items():
        radius, along = _distance_from_axis(vertices, cylinder.centre_world_mm, cylinder.axis_world)
        assert radius == pytest.approx(cylinder.layer_radii_mm[name]), name
        assert along.min() < cylinder.axial_mm.min()
        assert along.max() > cylinder.axial_mm.max()
    assert "cylinder under the grid" in view.scene.title
    depth, ml, iz = np.array([4.0, 12.0]), np.array([-6.0, 8.0]), np.array([-10.0, 5.0])
    # planar θ: placed as before, along the skin's normal
    window.session.finish_decomposition(_result(DecomposerConfig().replace(method="hybrid")))
    assert np.allclose(view.scene.grid_to_world(depth, ml, iz), window.anatomy.placed.grid_to_world(depth, ml, iz))
    # cylindrical θ: at radius muscle − depth, at the angle of its arc on the skin
    window.session.finish_decomposition(_result(CYLINDRICAL))
    points = view.scene.grid_to_world(depth, ml, iz)
    assert np.allclose(points, cylinder.to_world(depth, ml, iz))
    radius, along = _distance_from_axis(points, cylinder.centre_world_mm, cylinder.axis_world)
    assert radius == pytest.approx(cylinder.muscle_radius_mm - depth)
    assert along == pytest.approx(iz)
