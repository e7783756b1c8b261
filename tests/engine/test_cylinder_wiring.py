"""The cylindrical volume conductor as the inversion's forward model (issue 23, items 3 and 4):
settings, θ bounds from the limb and the grid, grids on an arc and around the limb, the
simulator, the MRI's cylinder, and hybrid and bmiss end to end.

Measured (asserted below with margin): on a 4-unit forearm recording simulated with the
cylinder (6×4 grid, 3 s, 25 dB), the hybrid with the cylinder identifies 4/4 with depth within
0.15 mm, ml within 0.25 mm, IZ within 0.25 mm and CV within 0.06 m/s of the truth; on the demo
MRI the skin radius under the grid is within 0.2 mm of the phantom's ellipse at every
electrode, the bone's equivalent radius 9.02 mm (the phantom's 9 mm disc).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bmiss_engine import ConfigError, Decomposer, DecomposerConfig
from bmiss_engine.anatomy import (
    GridPlacement,
    cylinder_under_grid,
    demo_anatomy_paths,
    load_grid_placement,
    load_label_map,
    place_grid,
)
from bmiss_engine.anatomy.phantom import DEMO_FAT_MM_BY_REGION, fat_thickness_mm
from bmiss_engine.config import LIMB_PRESETS
from bmiss_engine.forward import LIMBS, AnatomyParameters, CylindricalForwardModel, MotorUnitParameters
from bmiss_engine.inversion import InversionConfig, ThetaSearch
from bmiss_engine.io import open_recording
from bmiss_engine.metrics import match_units
from bmiss_engine.recording import ElectrodeGrid
from bmiss_engine.simulate import SimulationConfig, simulate_recording
from tests.engine._single_thread import single_torch_thread  # noqa: F401
from tests.engine.generators import states_and_result

FS = 2048.0


def test_limb_presets_agree_without_torch() -> None:
    assert set(LIMB_PRESETS) == set(LIMBS)
    for name, preset in LIMBS.items():
        assert LIMB_PRESETS[name] == {"skin_radius_mm": preset.skin_radius_mm, "bone_radius_mm": preset.bone_radius_mm,
                                      "fat_mm": preset.fat_mm, "skin_mm": preset.skin_mm}


def test_settings_name_the_cylinder_and_its_limb() -> None:
    cfg = DecomposerConfig().replace(method="hybrid", forward_model="cylindrical")
    inv = cfg.inversion_config()
    assert inv.forward_model == "cylindrical"
    # the forearm's skin radius less the layers set (the planar defaults, 1 and 2 mm)
    assert inv.muscle_radius_mm == pytest.approx(41.0 - 1.0 - 2.0)
    assert inv.bone_radius_mm == LIMBS["forearm"].bone_radius_mm
    assert not inv.grid_around

    thigh = cfg.with_limb("thigh")  # the limb's whole cylinder, its layers included
    assert (thigh.inversion.skin_mm, thigh.inversion.fat_mm) == (1.5, 8.0)
    assert thigh.inversion_config().muscle_radius_mm == pytest.approx(LIMBS["thigh"].muscle_radius_mm)
    # the JSON key does the same, nested or flat, and what the same settings give wins
    nested = DecomposerConfig.from_dict({"inversion": {"limb": "thigh", "fat_mm": 5.0, "forward_model": "cylindrical"}})
    flat = DecomposerConfig.from_dict({"limb": "thigh", "fat_mm": 5.0, "forward_model": "cylindrical"})
    assert nested.inversion == flat.inversion
    assert (nested.inversion.skin_mm, nested.inversion.fat_mm) == (1.5, 5.0)
    assert DecomposerConfig.from_dict(nested.as_dict()).inversion == nested.inversion

    measured = cfg.with_cylinder(muscle_radius_mm=30.0, bone_radius_mm=8.0, skin_mm=1.4, fat_mm=25.0)
    assert measured.inversion_config().muscle_radius_mm == 30.0
    assert measured.inversion.fat_mm == 20.0  # kept within the model's range, as with_layers does
    around = DecomposerConfig.from_dict({"forward_model": "cylindrical", "grid_around": True})
    assert around.inversion_config().grid_around

    for bad in ({"limb": "calf"}, {"muscle_radius_mm": 2.0}, {"bone_radius_mm": 40.0}, {"forward_model": "fem"}):
        with pytest.raises(ConfigError):
            DecomposerConfig().replace(**bad)


def test_bounds_follow_the_limb_and_the_grid() -> None:
    anatomy = AnatomyParameters.default(skin_mm=1.0, fat_mm=2.0)
    search = ThetaSearch(InversionConfig(forward_model="cylindrical", muscle_radius_mm=15.0, bone_radius_mm=5.0),
                         anatomy=anatomy)
    assert isinstance(search.model, CylindricalForwardModel)
    assert search.model.axial.tolerance == 1e-3
    grid = ElectrodeGrid.full(13, 5, 8.0)
    bounds = search.bounds(grid)
    assert bounds["depth_mm"].high == pytest.approx(15.0 - 5.0 - 1.0)  # 1 mm above the bone
    assert bounds["ml_mm"].high == pytest.approx(16.0 + 24.0)  # the outer column + 24 mm
    wide = search.bounds(ElectrodeGrid.full(8, 16, 8.0))
    assert wide["ml_mm"].high == pytest.approx(math.pi * 18.0)  # wider than half the limb: all around
    assert search.bounds(grid)["cv_m_s"] == MotorUnitParameters.BOUNDS["cv_m_s"]
    planar = ThetaSearch(InversionConfig())
    assert planar.bounds(grid) is MotorUnitParameters.BOUNDS


@pytest.mark.parametrize("forward_model", ["cylindrical", "analytic"])
def test_the_territory_reported_is_the_one_rendered(forward_model: str) -> None:
    """A territory reaching past the muscle surface (or into the bone) renders as the largest
    that fits, so a search free to wander to any larger radius reports that one."""
    cfg = InversionConfig(forward_model=forward_model, muscle_radius_mm=15.0, bone_radius_mm=5.0)
    search = ThetaSearch(cfg, anatomy=AnatomyParameters.default(skin_mm=1.0, fat_mm=2.0))
    grid = ElectrodeGrid.full(4, 5, 8.0)
    names = MotorUnitParameters.field_names()
    physical = {n: torch.full((3,), float(MotorUnitParameters.BOUNDS[n].low + MotorUnitParameters.BOUNDS[n].high) / 2,
                              dtype=torch.float64) for n in names}
    physical["depth_mm"] = torch.tensor([2.0, 4.0, 8.5], dtype=torch.float64)
    physical["ml_mm"] = torch.zeros(3, dtype=torch.float64)
    physical["territory_radius_mm"] = torch.tensor([9.0, 3.0, 9.0], dtype=torch.float64)
    units = MotorUnitParameters(**physical)
    shown = search.rendered(units)
    # 2 mm below the surface: 2 mm; 3 mm fits 4 mm deep; 8.5 mm deep in a 15 mm muscle is 1.5 mm
    # from a 5 mm bone in the cylinder (the planar model has no bone)
    expected = [2.0, 3.0, 1.5 if forward_model == "cylindrical" else 8.5]
    assert shown.territory_radius_mm.tolist() == pytest.approx(expected)
    with torch.no_grad():
        muaps = search.model.muaps(units, search.anatomy, grid, FS)
        again = search.model.muaps(shown, search.anatomy, grid, FS)
    assert torch.allclose(muaps, again, rtol=1e-5, atol=1e-6 * float(muaps.abs().max()))


def _depth_gradient(search: ThetaSearch, grid: ElectrodeGrid, depth_unit: float) -> float:
    theta = torch.full((1, len(MotorUnitParameters.field_names())), 0.5, dtype=torch.float32)
    theta[0, 0] = depth_unit
    theta.requires_grad_(True)
    search.render(theta, grid, FS).pow(2).sum().backward()
    assert theta.grad is not None
    return float(theta.grad[0, 0])


def test_the_deepest_bound_is_not_a_flat_region() -> None:
    # a 15 mm muscle around a 5 mm bone: the planar bound (30 mm deep) would put most of the
    # search where the model clamps the unit to the bone, with no gradient at all
    cfg = InversionConfig(forward_model="cylindrical", muscle_radius_mm=15.0, bone_radius_mm=5.0)
    grid = ElectrodeGrid.full(4, 5, 8.0)
    search = ThetaSearch(cfg)
    assert abs(_depth_gradient(search, grid, 1.0)) > 0.0

    class Planar(ThetaSearch):
        def bounds(self, grid: ElectrodeGrid):  # type: ignore[no-untyped-def]
            return MotorUnitParameters.BOUNDS

    assert _depth_gradient(Planar(cfg), grid, 1.0) == 0.0


def test_a_grid_around_the_limb_closes_on_itself() -> None:
    # 8 columns around a 20 mm skin radius: the seam between the first and last column is
    # like any other gap between neighbours, whatever the grid's ied
    grid = ElectrodeGrid.full(3, 8, 5.0)
    model = CylindricalForwardModel(muscle_radius_mm=17.0, grid_around=True)
    anatomy = AnatomyParameters.default(skin_mm=1.0, fat_mm=2.0)
    d = 20.0

    def muap(ml_mm: float) -> torch.Tensor:
        units = MotorUnitParameters(**{k: torch.tensor([v], dtype=torch.float64) for k, v in {
            "depth_mm": 3.0, "ml_mm": ml_mm, "iz_mm": 0.0, "cv_m_s": 4.0, "semi_length_neg_mm": 50.0,
            "semi_length_pos_mm": 50.0, "territory_radius_mm": 1.0, "n_fibres": 200.0}.items()})
        with torch.no_grad():
            return model.muaps(units, anatomy, grid, FS)[0].reshape(3, 8, -1)

    seam = muap(math.pi * d)  # halfway between column 7 and column 0
    torch.testing.assert_close(seam[:, 0], seam[:, 7], rtol=1e-4, atol=1e-9)
    inner = muap(0.0)  # halfway between columns 3 and 4: the same picture, rotated
    torch.testing.assert_close(seam, torch.roll(inner, shifts=4, dims=1), rtol=1e-3, atol=1e-9)
    assert model.unit_bounds(anatomy, grid)["ml_mm"].high == pytest.approx(math.pi * d)


def test_the_simulator_renders_cylindrical_recordings_with_their_geometry() -> None:
    cfg = SimulationConfig(n_units=6, duration_s=1.0, ramp_s=0.2, grid_shape=(4, 16), ied_mm=8.0, missing_corner=False,
                           muap_generator="cylindrical", limb="forearm", grid_around=True, muscle_width_mm=1e9,
                           depth_range_mm=(5.0, 12.0), seed=5)
    rec, truth = simulate_recording(cfg)
    assert rec.n_channels == 64
    g = truth.geometry
    assert (g["skin_mm"], g["fat_mm"], g["bone_radius_mm"], g["grid_around"]) == (1.2, 3.0, 9.0, 1.0)
    assert g["skin_radius_mm"] == pytest.approx(41.0)
    # units all around the limb, their depth below the muscle surface
    ml = truth.theta_physical["ml_mm"]
    assert np.all(np.abs(ml) <= math.pi * 41.0)
    assert np.ptp(ml) > math.pi * 41.0
    np.testing.assert_allclose(truth.theta_physical["depth_mm"], truth.properties.depth_mm - 4.2)
    saved = truth.as_npz_dict()
    assert float(saved["geometry_muscle_radius_mm"]) == pytest.approx(36.8)
    # each unit is largest on the column nearest its angle
    per_column = np.ptp(truth.muaps_v, axis=2).reshape(6, 4, 16).max(axis=1)
    angle_step = 2 * math.pi / 16
    nearest = np.round(ml / 41.0 / angle_step + 7.5).astype(int) % 16
    offset = np.abs((per_column.argmax(axis=1) - nearest + 8) % 16 - 8)
    assert np.all(offset <= 1)

    with pytest.raises(ConfigError):
        SimulationConfig(grid_around=True)  # a wrapped grid needs the cylinder
    with pytest.raises(ConfigError):
        SimulationConfig(muap_generator="cylindrical", muscle_radius_mm=10.0, bone_radius_mm=12.0)


def test_the_mri_gives_the_cylinder_under_the_grid() -> None:
    paths = demo_anatomy_paths()
    labels = load_label_map(paths.labels)
    recording = open_recording(paths.t1.parents[1] / "demo_recording.npz")
    placed = place_grid(labels, recording.grid, load_grid_placement(paths.grid_placement))
    cylinder = cylinder_under_grid(labels, placed)
    # the phantom: an ellipse of semi-axes 36 × 30 mm (x, y) scaled by 1 + 0.06·cos(π·z/71 mm)
    # along the limb, skin 1.5 mm, 4 mm of fat where the grid lies, a 9 mm bone
    angle = np.radians(cylinder.angle_deg)
    scale = 1.0 + 0.06 * np.cos(np.pi * cylinder.axial_mm / 71.0)
    ellipse = 1.0 / np.hypot(np.sin(angle) / (36.0 * scale), np.cos(angle) / (30.0 * scale))
    np.testing.assert_allclose(cylinder.skin_radius_by_electrode_mm, ellipse, atol=0.3)
    assert cylinder.skin_radius_mm == pytest.approx(float(np.mean(ellipse)), abs=0.1)
    assert cylinder.fat_mm == pytest.approx(4.0, abs=0.3)
    assert cylinder.skin_mm == pytest.approx(1.5, abs=0.3)
    assert cylinder.muscle_radius_mm == pytest.approx(cylinder.skin_radius_mm - cylinder.skin_mm - cylinder.fat_mm)
    assert cylinder.bone_radius_mm == pytest.approx(9.0, abs=0.3)
    assert not cylinder.grid_around
    # the grid is centred at 120° around the axis and spans its arc (±16 mm)
    assert float(np.mean(cylinder.angle_deg)) == pytest.approx(120.0, abs=1.0)
    assert np.ptp(cylinder.angle_deg) == pytest.approx(np.degrees(32.0 / cylinder.skin_radius_mm), abs=3.0)
    # units on the grid's centre line at the muscle surface lie under the grid centre, at the
    # muscle's radius from the axis (the 3D view draws them so)
    at_surface = cylinder.to_world(0.0, 0.0, 0.0)[0]
    assert np.linalg.norm(at_surface - cylinder.centre_world_mm) == pytest.approx(cylinder.muscle_radius_mm)
    below = placed.centre_world_mm - cylinder.centre_world_mm
    assert np.dot(below, at_surface - cylinder.centre_world_mm) / np.linalg.norm(below) == pytest.approx(
        cylinder.muscle_radius_mm, rel=0.01)
    geometry = cylinder.geometry()
    assert geometry.skin_radius_mm == pytest.approx(cylinder.skin_radius_mm)
    cfg = DecomposerConfig().with_cylinder(cylinder.muscle_radius_mm, cylinder.bone_radius_mm, cylinder.skin_mm,
                                           cylinder.fat_mm)
    assert cfg.inversion_config().muscle_radius_mm == pytest.approx(cylinder.muscle_radius_mm)

    # a grid wrapped around the limb: the fat of all three regions, averaged around
    perimeter = placed.skin_perimeter_mm()
    around = ElectrodeGrid.full(4, 32, perimeter / 32)
    wrapped = cylinder_under_grid(labels, place_grid(labels, around, GridPlacement(angle_deg=0.0)))
    assert wrapped.grid_around
    assert np.ptp(wrapped.angle_deg) > 340.0
    fat = fat_thickness_mm(wrapped.angle_deg, DEMO_FAT_MM_BY_REGION)  # angles as the placement's
    assert wrapped.fat_mm == pytest.approx(float(np.mean(fat)), abs=0.3)
    assert wrapped.skin_radius_mm == pytest.approx(perimeter / (2 * np.pi), abs=0.5)


@pytest.fixture(scope="module")
def forearm_recording():
    return simulate_recording(SimulationConfig(
        n_units=4, duration_s=3.0, grid_shape=(6, 4), missing_corner=False, snr_db=25.0, ramp_s=0.3,
        peak_excitation=0.7, depth_range_mm=(5.0, 10.0), muap_generator="cylindrical", seed=3,
    ))


def test_hybrid_with_the_cylinder_fits_theta_of_a_cylindrical_recording(forearm_recording) -> None:
    rec, truth = forearm_recording
    cfg = DecomposerConfig().replace(method="hybrid", forward_model="cylindrical", n_iterations=32, batch_size=8,
                                     extension_factor=8, device="cpu", hybrid_restarts=0).with_limb("forearm")
    _, result = states_and_result(Decomposer(cfg).iterate(rec))
    assert result.config["inversion"]["forward_model"] == "cylindrical"
    report = match_units(truth.discharge_samples, [u.discharge_samples for u in result.units], rec.sampling_rate_hz)
    assert report.n_identified >= 3, report.summary()
    for m in report.identified:
        unit, k = result.units[int(m.estimated)], int(m.true_key)
        assert unit.theta is not None
        assert unit.theta_sd is not None
        assert abs(unit.theta["depth_mm"] - truth.theta_physical["depth_mm"][k]) < 1.0
        assert abs(unit.theta["ml_mm"] - truth.theta_physical["ml_mm"][k]) < 1.5
        assert abs(unit.theta["iz_mm"] - truth.theta_physical["iz_mm"][k]) < 1.5
        assert abs(unit.theta["cv_m_s"] - truth.theta_physical["cv_m_s"][k]) < 0.3
        assert np.isfinite(unit.theta_sd["depth_mm"])
        # the territory as rendered: never past the muscle surface
        assert unit.theta["territory_radius_mm"] <= unit.theta["depth_mm"] + 1e-6


def test_bmiss_runs_with_the_cylinder(forearm_recording) -> None:
    rec, truth = forearm_recording
    cfg = DecomposerConfig().replace(method="bmiss", forward_model="cylindrical", device="cpu", inversion_restarts=1,
                                     inversion_probe=128, inversion_candidates=4, inversion_steps=20,
                                     extension_factor=12).with_limb("forearm")
    states, result = states_and_result(Decomposer(cfg).iterate(rec))
    assert states[-1].phase == "done"
    report = match_units(truth.discharge_samples, [u.discharge_samples for u in result.units], rec.sampling_rate_hz)
    assert report.n_identified >= 1, report.summary()
    for unit in result.units:
        assert unit.theta is not None
        assert 0.0 <= unit.theta["depth_mm"] <= 36.8 - 9.0 - 1.0


def test_theta_is_fitted_to_the_templates_given(forearm_recording) -> None:
    """``fit_units(templates_v=...)`` fits θ to the MUAP estimates given instead of the
    spike-triggered averages: each unit's exact MUAP gives its own θ, and the templates handed
    over in reverse order give the units' θ in reverse order."""
    rec, truth = forearm_recording
    cfg = DecomposerConfig().replace(forward_model="cylindrical").with_limb("forearm")
    search = ThetaSearch(cfg.inversion_config(), anatomy=cfg.anatomy())
    fs = rec.sampling_rate_hz
    max_lag_s = 0.01
    lag = round(max_lag_s * fs)
    start = search.model.onset(fs) + lag - truth.muap_onset  # where the truth's MUAP sits in a window
    width = search.model.n_samples(fs) + 2 * lag
    templates = np.zeros((len(truth.discharge_samples), rec.n_channels, width), dtype=np.float32)
    for k, muap in enumerate(truth.muaps_v):
        lo, hi = max(0, start), min(width, start + muap.shape[1])
        templates[k, :, lo:hi] = muap[:, lo - start : hi - start]
    emg = torch.tensor(rec.emg_v)  # a copy: the recording's array is read-only
    trains = list(truth.discharge_samples)
    for order in (slice(None), slice(None, None, -1)):
        fitted = search.fit_units(emg, rec.grid, fs, trains, max_lag_s,
                                    templates_v=torch.as_tensor(np.ascontiguousarray(templates[order])))
        expected = truth.theta_physical["depth_mm"][order]
        for unit, depth in zip(fitted, expected, strict=True):
            # the hybrid's tolerance; the units' depths lie 2.5-2.8 mm from their reverse's
            assert abs(unit.theta_physical["depth_mm"] - depth) < 1.0
