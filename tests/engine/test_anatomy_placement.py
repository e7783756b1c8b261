"""The grid on the phantom's skin: layers under it, coordinate maps, and the forward model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bmiss_engine.anatomy import (
    REGION_CENTRES_DEG,
    AnatomyError,
    GridPlacement,
    LabelMap,
    Tissue,
    load_grid_placement,
    make_phantom,
    place_grid,
    unit_positions_world,
)
from bmiss_engine.anatomy.limb import tissue_fraction
from bmiss_engine.anatomy.volume import world_to_voxel
from bmiss_engine.errors import ConfigError
from bmiss_engine.forward import AnalyticForwardModel, AnatomyParameters, MotorUnitParameters
from bmiss_engine.recording import ElectrodeGrid

FAT_MM = (2.0, 4.0, 8.0)
SKIN_MM = 1.5
VOXEL_MM = (0.8, 0.8, 2.0)


@pytest.fixture(scope="module")
def phantom() -> LabelMap:
    _, labels = make_phantom((100, 88, 40), VOXEL_MM, fat_mm_by_region=FAT_MM)
    return labels


@pytest.fixture(scope="module")
def grid() -> ElectrodeGrid:
    return ElectrodeGrid.full(5, 3, 8.0)


@pytest.mark.parametrize("region", [0, 1, 2])
def test_thickness_under_the_grid_within_one_voxel(phantom, grid, region) -> None:
    placed = place_grid(phantom, grid, GridPlacement(angle_deg=REGION_CENTRES_DEG[region]))
    voxel = max(VOXEL_MM[:2])
    assert np.abs(placed.fat_thickness_mm - FAT_MM[region]).max() <= voxel
    assert np.abs(placed.skin_thickness_mm - SKIN_MM).max() <= voxel
    assert abs(placed.mean_fat_mm - FAT_MM[region]) < 0.2
    start, end = placed.muscle_depth_range_mm.T
    np.testing.assert_allclose(start, placed.skin_thickness_mm + placed.fat_thickness_mm, atol=0.15)
    assert np.all(end > start + 5)
    anatomy = placed.anatomy_parameters()
    assert float(anatomy.fat_mm) == pytest.approx(placed.mean_fat_mm)
    assert float(anatomy.skin_mm) == pytest.approx(placed.mean_skin_mm)
    assert float(anatomy.fibre_angle_deg) == 0.0


def test_electrodes_lie_on_the_skin(phantom, grid) -> None:
    placed = place_grid(phantom, grid, GridPlacement(angle_deg=75.0, axial_mm=6.0, rotation_deg=25.0))
    body = (Tissue.SKIN, Tissue.FAT, Tissue.MUSCLE, Tissue.BONE)

    def fraction(points):
        return tissue_fraction(phantom.labels, world_to_voxel(phantom.affine, points), body)

    # within one voxel of the body's outline: outside one voxel out, inside one voxel in
    assert fraction(placed.electrode_world_mm + 0.8 * placed.normal_world).max() < 0.5
    assert fraction(placed.electrode_world_mm - 0.8 * placed.normal_world).min() > 0.5
    np.testing.assert_allclose(np.linalg.norm(placed.normal_world, axis=1), 1.0)
    np.testing.assert_allclose(placed.fibre_axis_world, [0, 0, 1], atol=1e-3)
    # the patch follows the skin: neighbours along a column are one IED apart along the skin
    rc = grid.channel_rc
    for c in range(grid.n_columns):
        col = placed.electrode_world_mm[rc[:, 1] == c]
        gaps = np.linalg.norm(np.diff(col, axis=0), axis=1)
        assert np.all(np.abs(gaps - 8.0) < 0.3), gaps
    # the grid's axes at its centre are tangent to the skin, rotated 25° off the limb axis
    assert abs(placed.along_world @ placed.centre_normal_world) < 1e-6
    assert np.degrees(np.arccos(placed.along_world @ placed.fibre_axis_world)) == pytest.approx(25.0, abs=0.5)
    assert float(placed.anatomy_parameters().fibre_angle_deg) == -25.0


@pytest.mark.parametrize(
    "placement", [GridPlacement(angle_deg=30.0), GridPlacement(angle_deg=200.0, axial_mm=-8.0, rotation_deg=-15.0)]
)
def test_grid_to_world_and_back(phantom, grid, placement) -> None:
    placed = place_grid(phantom, grid, placement)
    rng = np.random.default_rng(4)
    # up to 12 mm into the muscle (≤ 22 mm below the skin): nearer to the grid's skin than to
    # any other part of this 60 × 72 mm limb, where the map is one-to-one
    depth = rng.uniform(0.0, 12.0, 25)
    ml = rng.uniform(-15.0, 15.0, 25)
    iz = rng.uniform(-20.0, 20.0, 25)
    world = placed.grid_to_world(depth, ml, iz)
    assert world.shape == (25, 3)
    np.testing.assert_allclose(placed.world_to_grid(world), np.stack([depth, ml, iz], axis=1), atol=1e-6)
    np.testing.assert_allclose(unit_positions_world(placed, depth, ml, iz), world)
    # and world → grid → world for points in the muscle under the grid
    back = placed.grid_to_world(*placed.world_to_grid(world).T)
    np.testing.assert_allclose(back, world, atol=1e-6)
    # a unit at the muscle surface under the grid centre sits on the fat–muscle interface
    surface = placed.grid_to_world(0.0, 0.0, 0.0)[0]
    idx = world_to_voxel(phantom.affine, np.stack([surface - 0.6 * placed.centre_normal_world,
                                                     surface + 0.6 * placed.centre_normal_world]))
    inner, outer = tissue_fraction(phantom.labels, idx, (Tissue.MUSCLE, Tissue.BONE))
    assert inner > 0.5 > outer


def test_oblique_affine_and_estimated_axis(grid) -> None:
    """The same limb in a scanner frame turned 30° about z and tilted 15° about x."""
    _, labels = make_phantom((100, 88, 40), VOXEL_MM, fat_mm_by_region=FAT_MM)
    a, b = np.radians(30.0), np.radians(15.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    turn = np.eye(4)
    turn[:3, :3] = rx @ rz
    turn[:3, 3] = [12.0, -30.0, 250.0]
    moved = LabelMap(labels.labels, turn @ labels.affine)
    placed = place_grid(moved, grid, GridPlacement(angle_deg=REGION_CENTRES_DEG[2] + 30.0))
    np.testing.assert_allclose(placed.fibre_axis_world, rx @ [0, 0, 1.0], atol=0.01)
    assert np.abs(placed.fat_thickness_mm - FAT_MM[2]).max() <= 0.8


def test_grid_beyond_the_limb_is_an_error(phantom, grid) -> None:
    with pytest.raises(AnatomyError, match="beyond the imaged part"):
        place_grid(phantom, grid, GridPlacement(axial_mm=200.0))


def test_placement_config(tmp_path) -> None:
    placement = GridPlacement(angle_deg=120, axial_mm=-5.5, rotation_deg=10, limb_axis=(0, 0, 1))
    assert GridPlacement.from_dict(placement.as_dict()) == placement
    path = tmp_path / "placement.json"
    path.write_text('{"angle_deg": 120, "axial_mm": -5.5, "rotation_deg": 10, "limb_axis": [0, 0, 1]}')
    assert load_grid_placement(path) == placement
    with pytest.raises(ConfigError, match="unknown settings"):
        GridPlacement.from_dict({"angle": 3})
    with pytest.raises(ConfigError, match="finite"):
        GridPlacement(angle_deg=float("nan"))


def _peak_to_peak_uv(skin_mm: list[float], fat_mm: list[float], grid: ElectrodeGrid) -> np.ndarray:
    """Largest peak-to-peak MUAP (µV) of one unit 4 mm deep under each anatomy (one batch)."""
    n = len(fat_mm)

    def same(value: float) -> torch.Tensor:
        return torch.full((n,), value)

    units = MotorUnitParameters(
        depth_mm=same(4.0), ml_mm=same(0.0), iz_mm=same(-10.0), cv_m_s=same(4.0), semi_length_neg_mm=same(50.0),
        semi_length_pos_mm=same(50.0), territory_radius_mm=same(2.0), n_fibres=same(200.0),
    )
    base = AnatomyParameters.default(dtype=torch.float32).as_dict()
    anatomy = AnatomyParameters(**{**base, "skin_mm": torch.tensor(skin_mm), "fat_mm": torch.tensor(fat_mm)})
    muaps = AnalyticForwardModel().muaps(units, anatomy, grid, 2048.0).numpy()
    return np.ptp(muaps, axis=2).max(axis=1) * 1e6


def test_muap_amplitude_falls_with_fat_as_the_model_predicts(phantom) -> None:
    grid = ElectrodeGrid.full(5, 3, 8.0)
    skin, fat = [], []
    for region in range(3):
        anatomy = place_grid(phantom, grid, GridPlacement(angle_deg=REGION_CENTRES_DEG[region])).anatomy_parameters()
        skin.append(float(anatomy.skin_mm))
        fat.append(float(anatomy.fat_mm))
    # the phantom's anatomy under the grid, and the model evaluated at the known thicknesses
    amplitude = _peak_to_peak_uv(skin + [SKIN_MM] * 3, fat + list(FAT_MM), grid)
    measured, nominal = amplitude[:3], amplitude[3:]
    assert measured[0] > measured[1] > measured[2]
    assert nominal[2] / nominal[0] < 0.6  # 8 mm of fat takes a good part of the amplitude away
    np.testing.assert_allclose(measured[1:] / measured[0], nominal[1:] / nominal[0], rtol=0.05)
