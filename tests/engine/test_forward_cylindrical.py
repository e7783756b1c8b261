"""The cylindrical volume conductor: exact against a direct solution, limits, and the physics.

Agreement figures (asserted below, measured values in brackets):
* log I_n, log K_n from the ratio recurrences against scipy's ive/kve: < 1e-9 relative [~1e-12];
* the layered transfer (admittance recursion, bone reflection) against a direct solve of the
  boundary-value problem's 6×6 / 8×8 linear system: < 1e-8 relative [~1e-13];
* kz → 0: kz²·H_0 tends to the cable limit 2/Σσ_z·(r_o² − r_i²) within 1e-4 at kz = 1e-4 rad/mm;
  H_n, n ≥ 1, has a finite limit; no inf or nan for kz from 1e-6 to 6 rad/mm and n up to 2000;
* planar limit (same unit, grid and layers, muscle radius R): MUAP normalised RMS difference
  from the planar model < 0.2, 0.04, 0.015 at R = 50, 200, 500 mm [0.086 and 0.166, 0.018 and
  0.033, 0.007 and 0.013 for a unit 2 mm and one 6 mm deep], falling as 1/R;
* the default quadrature against 4× finer and 4× longer grids: < 1e-5 of the peak [~1e-7];
  float32 (the default) against float64: < 1e-5 of the peak [~1e-6];
* autograd against central differences for all 8 unit parameters: < 1e-3 relative.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import special

from bmiss_engine.forward import AnalyticForwardModel, AnatomyParameters, CylindricalGenerator, MotorUnitParameters
from bmiss_engine.forward.cylindrical import (
    AxialGrid,
    CylinderGeometry,
    CylindricalForwardModel,
    log_bessel_i,
    log_bessel_k,
    point_source_transfer,
)
from bmiss_engine.inversion import ThetaSearch
from bmiss_engine.recording import ElectrodeGrid
from bmiss_engine.simulate import SimulationConfig, simulate_recording
from tests.engine._single_thread import single_torch_thread  # noqa: F401  (autouse: one torch thread)

GRID = ElectrodeGrid.full(13, 5, 8.0)
FS = 2048.0
ANATOMY = AnatomyParameters.default()


def units(n: int = 1, dtype: torch.dtype = torch.float64, **values: float | list[float]) -> MotorUnitParameters:
    defaults: dict[str, float | list[float]] = {
        "depth_mm": 3.0, "ml_mm": 0.0, "iz_mm": 0.0, "cv_m_s": 4.0, "semi_length_neg_mm": 55.0,
        "semi_length_pos_mm": 55.0, "territory_radius_mm": 1.0, "n_fibres": 200.0,
    }
    defaults.update(values)
    return MotorUnitParameters(**{k: torch.as_tensor(v, dtype=dtype).expand(n).clone() for k, v in defaults.items()})


def nrmse(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """‖a − b‖ / ‖b‖ per unit."""
    return ((a - b).pow(2).sum(dim=(1, 2)) / b.pow(2).sum(dim=(1, 2))).sqrt().numpy()


def test_log_bessel_recurrences_match_scipy() -> None:
    x = np.array([0.01, 0.3, 2.0, 15.0, 80.0, 400.0])
    n = np.arange(41)[None, :]
    log_i, ratio_i = log_bessel_i(torch.as_tensor(x), 40)
    log_k, ratio_k = log_bessel_k(torch.as_tensor(x), 40)
    with np.errstate(divide="ignore"):
        ref_i = np.log(special.ive(n, x[:, None])) + x[:, None]
        ref_k = np.log(special.kve(n, x[:, None])) - x[:, None]
    for got, ref in ((log_i.numpy(), ref_i), (log_k.numpy(), ref_k)):
        ok = np.isfinite(ref)
        assert ok.mean() > 0.9
        assert np.max(np.abs(got - ref)[ok] / np.maximum(1.0, np.abs(ref[ok]))) < 1e-9
    assert np.allclose(ratio_i.numpy()[:, :5], special.ive(n[:, 1:6], x[:, None]) / special.ive(n[:, :5], x[:, None]))
    assert np.allclose(ratio_k.numpy()[:, :5], special.kve(n[:, 1:6], x[:, None]) / special.kve(n[:, :5], x[:, None]))


def _direct_transfer(g: CylinderGeometry, kz: float, n: int, rho0: float) -> float:
    """Skin potential of a unit point current at ρ0, by solving the interface conditions as one
    linear system (scipy's I_n, K_n; moderate arguments only)."""
    k, kap = abs(kz), abs(kz) * g.anisotropy
    a, b, c, d = g.bone_radius_mm, g.muscle_radius_mm, g.muscle_radius_mm + g.fat_mm, g.skin_radius_mm
    sr, sb, sf, ss = g.sigma_muscle_radial_s_m, g.sigma_bone_s_m, g.sigma_fat_s_m, g.sigma_skin_s_m

    def i(x: float) -> float:
        return float(special.iv(n, x))

    def kk(x: float) -> float:
        return float(special.kv(n, x))

    def ip(x: float) -> float:
        return float(special.ivp(n, x))

    def kp(x: float) -> float:
        return float(special.kvp(n, x))

    c_in, c_out = kk(kap * rho0) / sr, i(kap * rho0) / sr  # primary: c_in·I_n(κρ) inside ρ0, c_out·K_n(κρ) outside
    # unknowns: [A1 (muscle I), B1 (muscle K), A2, B2 (fat), A3, B3 (skin), A0 (bone I)]
    rows, rhs = [], []
    rows.append([i(kap * b), kk(kap * b), -i(k * b), -kk(k * b), 0, 0, 0])
    rhs.append(-c_out * kk(kap * b))
    rows.append([sr * kap * ip(kap * b), sr * kap * kp(kap * b), -sf * k * ip(k * b), -sf * k * kp(k * b), 0, 0, 0])
    rhs.append(-sr * kap * c_out * kp(kap * b))
    rows.append([0, 0, i(k * c), kk(k * c), -i(k * c), -kk(k * c), 0])
    rhs.append(0.0)
    rows.append([0, 0, sf * ip(k * c), sf * kp(k * c), -ss * ip(k * c), -ss * kp(k * c), 0])
    rhs.append(0.0)
    rows.append([0, 0, 0, 0, ip(k * d), kp(k * d), 0])
    rhs.append(0.0)
    if a > 0:
        rows.append([i(kap * a), kk(kap * a), 0, 0, 0, 0, -i(k * a)])
        rhs.append(-c_in * i(kap * a))
        rows.append([sr * kap * ip(kap * a), sr * kap * kp(kap * a), 0, 0, 0, 0, -sb * k * ip(k * a)])
        rhs.append(-sr * kap * c_in * ip(kap * a))
        m = np.array(rows, dtype=np.float64)
    else:  # no bone: the field is regular at the axis, B1 = 0
        m = np.array(rows, dtype=np.float64)[:, [0, 2, 3, 4, 5]]
    sol = np.linalg.solve(m, np.array(rhs))
    a3, b3 = sol[-3:-1] if a > 0 else sol[-2:]
    return float(a3 * i(k * d) + b3 * kk(k * d))


@pytest.mark.parametrize("bone_mm", [0.0, 6.0])
def test_transfer_matches_a_direct_solution_of_the_boundary_value_problem(bone_mm: float) -> None:
    g = CylinderGeometry(muscle_radius_mm=15.0, fat_mm=2.0, skin_mm=1.0, bone_radius_mm=bone_mm, sigma_bone_s_m=0.02,
                         sigma_muscle_radial_s_m=0.09, sigma_muscle_axial_s_m=0.4, sigma_fat_s_m=0.047,
                         sigma_skin_s_m=0.5)
    kz = np.array([0.03, 0.2, 0.9])
    for rho0 in (8.0, 13.5):
        h = point_source_transfer(g, kz, 8, rho0)
        for ki, kzv in enumerate(kz):
            for n in (0, 1, 3, 8):
                ref = _direct_transfer(g, float(kzv), n, rho0)
                assert h[ki, n] == pytest.approx(ref, rel=1e-8), (kzv, n, rho0)


def test_low_frequencies_tend_to_the_cable_and_stay_finite() -> None:
    g = CylinderGeometry(muscle_radius_mm=20.0, fat_mm=3.0, skin_mm=1.5, bone_radius_mm=5.0, sigma_bone_s_m=0.02)
    radii = [0.0, 5.0, 20.0, 23.0, 24.5]
    sigmas = [0.02, g.sigma_muscle_axial_s_m, g.sigma_fat_s_m, g.sigma_skin_s_m]
    cable = 2.0 / sum(s * (ro**2 - ri**2) for s, ri, ro in zip(sigmas, radii[:-1], radii[1:], strict=True))
    h = point_source_transfer(g, np.array([1e-4, 2e-4]), 3, 12.0)
    assert (1e-4**2 * h[0, 0]) == pytest.approx(cable, rel=1e-4)
    # higher harmonics have a finite limit: the transverse potential of a dipole-free mode
    assert np.allclose(h[0, 1:], h[1, 1:], rtol=1e-3)
    wide = point_source_transfer(g, np.geomspace(1e-6, 6.0, 25), 2000, 19.0)
    assert np.isfinite(wide).all()
    assert (wide >= 0).all()


def test_large_radius_tends_to_the_planar_model() -> None:
    u = units(2, depth_mm=[2.0, 6.0], ml_mm=[0.0, 5.0], iz_mm=[0.0, 10.0], cv_m_s=[4.0, 4.5],
              semi_length_neg_mm=[70.0, 60.0], semi_length_pos_mm=[70.0, 80.0], territory_radius_mm=[2.0, 3.0],
              n_fibres=[200.0, 300.0])
    anatomy = AnatomyParameters.default(dtype=torch.float64)
    differences = []
    with torch.no_grad():
        planar = AnalyticForwardModel().muaps(u, anatomy, GRID, FS)
        for radius_mm, limit in ((50.0, 0.2), (200.0, 0.04), (500.0, 0.015)):
            cylinder = CylindricalForwardModel(muscle_radius_mm=radius_mm).muaps(u, anatomy, GRID, FS)
            differences.append(nrmse(cylinder, planar))
            assert (differences[-1] < limit).all(), (radius_mm, differences[-1])
    # O(depth/R): 10× the radius, at least 5× closer
    assert (differences[2] < differences[0] / 5).all()


def test_a_unit_at_angle_phi_is_seen_rotated_by_phi_on_an_electrode_ring() -> None:
    model = CylindricalForwardModel(muscle_radius_mm=15.0)
    d = 18.0
    ring = 2 * np.pi * np.arange(16) / 16
    angle = np.concatenate([ring, ring])
    z = np.concatenate([np.zeros(16), np.full(16, 12.0)])
    u = units(2, ml_mm=[0.0, 2 * np.pi * 3 / 16 * d], depth_mm=4.0)
    with torch.no_grad():
        m = model.muaps_at(u, ANATOMY, angle, z, FS).numpy()
    first = m[0].reshape(2, 16, -1)
    turned = m[1].reshape(2, 16, -1)
    assert np.abs(np.roll(first, 3, axis=1) - turned).max() < 1e-5 * np.abs(first).max()
    # and mirrored angles give the same signal (the conductor is symmetric)
    assert np.abs(first[:, 1] - first[:, 15]).max() < 1e-5 * np.abs(first).max()


def test_deeper_units_are_smaller_and_wider() -> None:
    model = CylindricalForwardModel(muscle_radius_mm=15.0)
    ring = 2 * np.pi * np.arange(36) / 36
    u = units(2, depth_mm=[2.0, 8.0], territory_radius_mm=1.0, iz_mm=-30.0)
    with torch.no_grad():
        m = model.muaps_at(u, ANATOMY, ring, np.zeros(36), FS).numpy()
    ptp = np.ptp(m, axis=-1)  # (2, 36)
    assert ptp[1].max() < 0.5 * ptp[0].max()
    half_width = (ptp >= 0.5 * ptp.max(axis=1, keepdims=True)).sum(axis=1)  # electrodes above half the peak
    assert half_width[1] > half_width[0]
    peak = m[:, 0]  # electrode over the units

    def duration(w: np.ndarray) -> float:
        e = w**2
        return float(np.sqrt((e * (np.arange(w.size) - (e * np.arange(w.size)).sum() / e.sum()) ** 2).sum() / e.sum()))

    assert duration(peak[1]) > duration(peak[0])


def test_larger_electrodes_smooth_the_potential() -> None:
    u = units(1, depth_mm=0.5, territory_radius_mm=0.5)
    with torch.no_grad():
        point = CylindricalForwardModel(electrode_radius_mm=0.0).muaps(u, ANATOMY, GRID, FS)[0].numpy()
        disc = CylindricalForwardModel(electrode_radius_mm=3.0).muaps(u, ANATOMY, GRID, FS)[0].numpy()
        square = CylindricalForwardModel(electrode_shape="rectangular", electrode_size_mm=(6.0, 6.0)).muaps(
            u, ANATOMY, GRID, FS)[0].numpy()
    for big in (disc, square):
        assert np.ptp(big, axis=-1).max() < 0.95 * np.ptp(point, axis=-1).max()
        # less energy in the second difference along the fibres (rows) than the point electrode
        rough = np.diff(big.reshape(13, 5, -1), n=2, axis=0)
        assert (rough**2).sum() / (big**2).sum() < (np.diff(point.reshape(13, 5, -1), n=2, axis=0) ** 2).sum() / (
            point**2).sum()


def test_quadrature_is_converged_and_float32_is_enough() -> None:
    u = units(3, depth_mm=[0.5, 6.0, 12.0], ml_mm=[0.0, 5.0, -10.0], iz_mm=[0.0, 10.0, -5.0],
              territory_radius_mm=[0.5, 3.0, 2.0])
    with torch.no_grad():
        fine = CylindricalForwardModel(dtype=torch.float64, axial=AxialGrid(step_mm=0.125, period_mm=2048.0,
                                                                            tolerance=1e-8)).muaps(u, ANATOMY, GRID, FS)
        default64 = CylindricalForwardModel(dtype=torch.float64).muaps(u, ANATOMY, GRID, FS)
        default32 = CylindricalForwardModel().muaps(u, ANATOMY, GRID, FS)
    peak = fine.abs().amax(dim=(1, 2))
    assert ((default64.double() - fine).abs().amax(dim=(1, 2)) / peak < 1e-5).all()
    assert ((default32.double() - fine).abs().amax(dim=(1, 2)) / peak < 1e-5).all()


def test_a_bone_changes_deep_units_more_than_superficial_ones() -> None:
    u = units(2, depth_mm=[1.0, 9.0])
    with torch.no_grad():
        plain = CylindricalForwardModel().muaps(u, ANATOMY, GRID, FS)
        bone = CylindricalForwardModel(bone_radius_mm=5.0, sigma_bone_s_m=0.02).muaps(u, ANATOMY, GRID, FS)
    change = nrmse(bone, plain)
    assert np.isfinite(bone.numpy()).all()
    assert change[1] > 2 * change[0]


def test_gradients_agree_with_finite_differences() -> None:
    model = CylindricalForwardModel(dtype=torch.float64, bone_radius_mm=3.0)
    base = units(1, depth_mm=4.0, ml_mm=3.0, iz_mm=5.0, cv_m_s=4.2, semi_length_neg_mm=50.0, semi_length_pos_mm=60.0,
                 territory_radius_mm=2.0, n_fibres=150.0)
    weights = torch.randn(1, GRID.n_channels, model.n_samples(FS), dtype=torch.float64,
                          generator=torch.Generator().manual_seed(0))

    def loss(values: dict[str, torch.Tensor]) -> torch.Tensor:
        return (model.muaps(MotorUnitParameters(**values), ANATOMY, GRID, FS).double() * weights).sum() * 1e6

    values = {k: v.clone().requires_grad_(True) for k, v in base.as_dict().items()}
    loss(values).backward()
    for name, value in base.as_dict().items():
        step = 1e-3 * max(1.0, abs(float(value)))  # float32 MUAPs: much smaller steps drown in rounding
        with torch.no_grad():
            up = loss({k: (v + step if k == name else v) for k, v in base.as_dict().items()})
            down = loss({k: (v - step if k == name else v) for k, v in base.as_dict().items()})
        numeric = float(up - down) / (2 * step)
        grad = values[name].grad
        assert grad is not None
        assert float(grad) == pytest.approx(numeric, rel=1e-3, abs=1e-6 * max(1.0, abs(numeric))), name


def test_the_model_serves_the_inversion() -> None:
    search = ThetaSearch(model=CylindricalForwardModel())
    theta = torch.full((2, 8), 0.5)
    theta[1, 0] = 0.1
    with torch.no_grad():
        muaps = search.render(theta, GRID, FS)
    assert muaps.shape == (2, GRID.n_channels, search.model.n_samples(FS))
    assert torch.isfinite(muaps).all()
    assert float(np.ptp(muaps[0].numpy())) > 0


def test_generator_drives_the_simulator() -> None:
    cfg = SimulationConfig(n_units=4, duration_s=1.0, ramp_s=0.25, depth_range_mm=(4.0, 9.0), seed=4)
    rec, truth = simulate_recording(cfg, generator=CylindricalGenerator())
    assert np.isfinite(rec.emg_v).all()
    assert truth.muaps_v.shape == (4, rec.n_channels, CylindricalForwardModel().n_samples(cfg.sampling_rate_hz))
    amplitude_uv = np.ptp(truth.muaps_v, axis=2).max(axis=1) * 1e6
    assert np.all(amplitude_uv > 10.0)
    assert np.all(amplitude_uv < 3000.0)
