"""The analytic forward model: agreement with brute-force integration, and the physics of MUAPs.

Agreement figures (asserted below, measured values in brackets):
* anisotropic half-space, single fibre, point electrodes, against adaptive quadrature of the
  closed-form potential 1/(2π·σmy·√(Ra(x²+y0²) + z²)) along the fibre: max error < 1e-4 of the
  MUAP's peak [1.5e-5, float64];
* layered conductor (skin 1 mm, fat 3 mm, units 1, 6 and 15 mm deep), default frequency grids
  against 4× wider ones: < 1e-4 of the peak [1e-5 – 5e-5]; a single uniform grid instead errs
  by > 5e-3 for the deepest unit [~2e-2];
* float32 (the default) against float64: < 1e-4 of the peak;
* autograd against central finite differences for all 15 parameters: < 1e-3 relative [≤ 2.2e-4].
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.integrate import quad

from bmiss_engine.forward import (
    AnalyticForwardModel,
    AnalyticGenerator,
    AnatomyParameters,
    MotorUnitParameters,
    MotorUnitProperties,
    SpectralGrid,
)
from bmiss_engine.recording import ElectrodeGrid
from bmiss_engine.simulate import SimulationConfig, simulate_recording
from tests.engine._single_thread import single_torch_thread  # noqa: F401  (autouse: one torch thread)

GRID = ElectrodeGrid.full(13, 5, 8.0)  # rows along the fibres, z = −48 … 48 mm; x = −16 … 16 mm
FS = 2048.0


def units(n: int = 1, dtype: torch.dtype = torch.float64, **values: float | list[float]) -> MotorUnitParameters:
    defaults: dict[str, float | list[float]] = {
        "depth_mm": 3.0, "ml_mm": 0.0, "iz_mm": 0.0, "cv_m_s": 4.0, "semi_length_neg_mm": 70.0,
        "semi_length_pos_mm": 70.0, "territory_radius_mm": 2.0, "n_fibres": 200.0,
    }
    defaults.update(values)
    return MotorUnitParameters(**{k: torch.as_tensor(v, dtype=dtype).expand(n).clone() for k, v in defaults.items()})


def channel(row: int, column: int = 2) -> int:
    return row * GRID.n_columns + column


def render(u: MotorUnitParameters, anatomy: AnatomyParameters | None = None, fs: float = FS,
           **settings: object) -> np.ndarray:
    model = AnalyticForwardModel(**settings)  # type: ignore[arg-type]
    with torch.no_grad():
        return model.muaps(u, anatomy or AnatomyParameters.default(), GRID, fs).numpy().astype(np.float64)


def ptp(m: np.ndarray) -> np.ndarray:
    return np.ptp(m, axis=-1)


def test_half_space_single_fibre_matches_quadrature_of_the_point_source_potential() -> None:
    y0, x0, zi, v, neg, pos = 3.0, 2.0, -5.0, 4.0, 40.0, 50.0
    fibre = units(depth_mm=y0, ml_mm=x0, iz_mm=zi, cv_m_s=v, semi_length_neg_mm=neg, semi_length_pos_mm=pos,
                  territory_radius_mm=0.0, n_fibres=1.0)
    bare = AnatomyParameters.default(skin_mm=0.0, fat_mm=0.0)
    settings = {"electrode_radius_mm": 0.0, "iz_spread_mm": 0.0, "end_spread_mm": 0.0, "dtype": torch.float64}
    model = AnalyticForwardModel(**settings)  # type: ignore[arg-type]
    out = render(fibre, bare, **settings)[0]
    onset = model.onset(FS)

    sigma_my, ra = 0.1, 5.0
    scale = 1.01 * np.pi * (25e-6) ** 2 * 1e3  # σi·π·r² with ∂²Vm/∂z² in mV/mm² → V/m²

    def gradient(u: float) -> float:
        return 96 * (3 * u**2 - u**3) * np.exp(-u) if u >= 0 else 0.0

    positions = GRID.positions_mm()
    peak = np.abs(out).max()
    for ch in (channel(0, 0), channel(1, 2), channel(6, 2), channel(8, 4), channel(12, 4)):
        ze, xe = positions[ch]
        rho2 = ra * ((xe - x0) ** 2 + y0**2)
        ref = np.zeros(out.shape[1])
        for n in range(onset + 1, out.shape[1]):
            vt = v * 1e3 * (n - onset) / FS

            def a(z: float, vt: float = vt) -> float:
                if zi <= z <= zi + pos:
                    return -gradient(zi + vt - z)
                if zi - neg <= z < zi:
                    return gradient(z - zi + vt)
                return 0.0

            # φ = ∫ h(ze − z)·∂a/∂z dz = ∫ a(z)·h'(ze − z) dz, h = 1/(2π·σmy·√(ρ² + ζ²))
            def integrand(z: float, ze: float = ze, rho2: float = rho2, a=a) -> float:
                return a(z) * -(ze - z) / (2 * np.pi * sigma_my * (rho2 + (ze - z) ** 2) ** 1.5)

            ref[n] = scale * quad(integrand, zi - neg, zi + pos, points=[zi, zi + vt, zi - vt, ze], limit=300)[0]
        assert np.abs(out[ch] - ref).max() < 1e-4 * peak, ch
    assert 1e-7 < peak < 1e-5  # one fibre 3 mm deep: a few µV


def test_layered_model_is_converged_in_its_frequency_grids() -> None:
    u = units(3, depth_mm=[1.0, 6.0, 15.0], ml_mm=[0.0, 5.0, -3.0], iz_mm=[-6.0, 10.0, 0.0])
    anatomy = AnatomyParameters.default(skin_mm=1.0, fat_mm=3.0)
    default = render(u, anatomy, dtype=torch.float64)
    wide = SpectralGrid(period_along_mm=2048.0, period_across_mm=1024.0, low_frequency_period_mm=8192.0,
                        tolerance=1e-7)
    reference = render(u, anatomy, dtype=torch.float64, spectral=wide)
    # one uniform 512 × 256 mm grid, no low-frequency refinement: the images of deep units show
    uniform = render(u, anatomy, dtype=torch.float64, spectral=SpectralGrid(low_frequency_rad_mm=1e-9))
    single = render(u, anatomy)  # float32
    for k in range(3):
        peak = np.abs(reference[k]).max()
        assert np.abs(default[k] - reference[k]).max() < 1e-4 * peak  # measured 1e-5 – 5e-5
        assert np.abs(single[k] - default[k]).max() < 1e-4 * peak
    assert np.abs(uniform[2] - reference[2]).max() > 5e-3 * np.abs(reference[2]).max()


def test_amplitude_falls_with_depth_and_with_fat() -> None:
    deeper = ptp(render(units(4, depth_mm=[0.5, 3.0, 8.0, 15.0]))).max(axis=1)
    assert np.all(np.diff(deeper) < 0)
    assert deeper[-1] < 0.2 * deeper[0]
    # one anatomy per unit: fat 1, 3, 6, 12 mm
    fat = torch.tensor([1.0, 3.0, 6.0, 12.0], dtype=torch.float64)
    anatomy = AnatomyParameters(**{**AnatomyParameters.default().as_dict(), "fat_mm": fat})
    fatter = ptp(render(units(4), anatomy)).max(axis=1)
    assert np.all(np.diff(fatter) < 0)
    assert fatter[-1] < 0.2 * fatter[0]


def test_superficial_units_have_realistic_amplitudes() -> None:
    # 200 fibres 3 mm into the muscle under 1 mm skin and 2 mm fat: hundreds of µV monopolar
    amplitude_uv = ptp(render(units())).max() * 1e6
    assert 30.0 < amplitude_uv < 2000.0


def test_innervation_zone_reverses_the_single_differential_signal() -> None:
    iz = 4.0  # between rows 6 (z = 0) and 7 (z = 8)
    sd = render(units(iz_mm=iz), spatial_filter="single_differential")[0]
    z = GRID.positions_mm()[:, 0]
    reference = sd[channel(9)]  # z = 24 … 32 mm, above the IZ

    def polarity(ch: int) -> float:
        """Sign of the strongest cross-correlation with the reference, at any lag (the waves
        reach each row at a different time; an inverted copy correlates most negatively)."""
        xc = np.correlate(sd[ch], reference, mode="full")
        return float(np.sign(xc[np.argmax(np.abs(xc))]))

    # SD at a channel spans (z, z + 8 mm); use the pairs wholly on one side of the IZ
    above = {polarity(channel(r)) for r in range(13) if z[channel(r)] > iz}
    below = {polarity(channel(r)) for r in range(13) if z[channel(r)] + 8 < iz}
    assert above == {1.0}
    assert below == {-1.0}
    # the pair straddling the IZ symmetrically sees almost nothing
    assert np.ptp(sd[channel(6)]) < 1e-3 * np.ptp(sd).max()
    # mirror images about the IZ: z = 16…24 and z = −16…−8 are 12–20 mm from it
    assert np.corrcoef(sd[channel(8)], sd[channel(4)])[0, 1] < -0.99


def _delay_samples(a: np.ndarray, b: np.ndarray) -> float:
    """Lag of b behind a by cross-correlation, refined by a parabola through the peak."""
    xc = np.correlate(b, a, mode="full")
    k = int(np.argmax(xc))
    lag = k - (len(a) - 1)
    if 0 < k < len(xc) - 1:
        y0, y1, y2 = xc[k - 1], xc[k], xc[k + 1]
        lag += 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)
    return float(lag)


@pytest.mark.parametrize("cv_m_s", [3.0, 4.0, 5.5])
def test_delay_between_rows_matches_the_conduction_velocity(cv_m_s: float) -> None:
    # IZ at −30 mm, fibres 90 mm towards +z: rows at z = 0 and 16 mm see the wave propagate
    dd = render(units(iz_mm=-30.0, semi_length_pos_mm=90.0, cv_m_s=cv_m_s), spatial_filter="double_differential",
                duration_s=0.045)[0]
    measured = _delay_samples(dd[channel(6)], dd[channel(8)])
    expected = 16.0 / (cv_m_s * 1e3) * FS
    assert measured == pytest.approx(expected, abs=1.0)
    # and towards −z from the same IZ: the wave arrives earlier at the row nearer to it
    back = _delay_samples(dd[channel(2)], dd[channel(1)])
    assert back == pytest.approx(8.0 / (cv_m_s * 1e3) * FS, abs=1.0)


def test_deeper_units_spread_wider_in_space_and_time() -> None:
    shallow, deep = render(units(2, depth_mm=[1.0, 10.0]))

    def spatial_spread(m: np.ndarray) -> int:
        """Electrodes seeing at least half the largest peak-to-peak amplitude."""
        amplitude = ptp(m)
        return int(np.sum(amplitude > 0.5 * amplitude.max()))

    def duration_ms(signal: np.ndarray) -> float:
        """Time spent above half the peak magnitude."""
        return float(np.sum(np.abs(signal) > 0.5 * np.abs(signal).max()) / FS * 1e3)

    assert spatial_spread(deep) > 1.5 * spatial_spread(shallow)
    ch = channel(9)  # 24 mm from the IZ: the propagating potential
    assert duration_ms(deep[ch]) > 1.3 * duration_ms(shallow[ch])


def test_end_of_fibre_components_do_not_propagate() -> None:
    # fibres from the IZ at −40 mm end at +5 mm (spread ±2 mm); rows at 24, 32, 40, 48 mm lie
    # beyond the end: all see the extinction at the same instant, L/v after the discharge
    u = units(iz_mm=-40.0, semi_length_neg_mm=60.0, semi_length_pos_mm=45.0, cv_m_s=4.0, depth_mm=2.0)
    mono = render(u, end_spread_mm=4.0, duration_s=0.040, fs=4096.0)[0]
    onset = AnalyticForwardModel().onset(4096.0)
    beyond = [channel(r) for r in (9, 10, 11, 12)]
    lags = [_delay_samples(mono[beyond[0]], mono[ch]) for ch in beyond[1:]]
    assert max(abs(lag) for lag in lags) < 1.0
    peak_times_ms = [(np.argmax(np.abs(mono[ch])) - onset) / 4096.0 * 1e3 for ch in beyond]
    assert np.ptp(peak_times_ms) < 0.5
    assert np.mean(peak_times_ms) == pytest.approx(45.0 / 4.0, abs=1.5)  # the wave reaches the tendon
    # whereas inside the fibre the same spacing (16 mm) takes 4 ms
    inside = _delay_samples(mono[channel(3)], mono[channel(5)])
    assert inside == pytest.approx(16.0 / 4e3 * 4096.0, abs=2.0)


def test_spatial_filters_are_differences_of_monopolar_potentials() -> None:
    u = units(iz_mm=6.0, ml_mm=3.0)
    mono = render(u)[0]
    sd = render(u, spatial_filter="single_differential")[0]
    dd = render(u, spatial_filter="double_differential")[0]
    peak = np.abs(mono).max()
    for row in range(1, 11):
        for col in range(5):
            c, up, down = channel(row, col), channel(row + 1, col), channel(row - 1, col)
            np.testing.assert_allclose(sd[c], mono[up] - mono[c], atol=1e-5 * peak)
            np.testing.assert_allclose(dd[c], mono[up] - 2 * mono[c] + mono[down], atol=1e-5 * peak)


def test_fibre_angle_rotates_the_unit_over_the_grid() -> None:
    anatomy = AnatomyParameters.default()
    general = AnatomyParameters(**{**anatomy.as_dict(), "fibre_angle_deg": torch.tensor(0.0, requires_grad=True)})
    u = units(ml_mm=4.0, iz_mm=-10.0)
    np.testing.assert_allclose(render(u, general), render(u, anatomy), rtol=0, atol=1e-5 * np.abs(render(u)).max())
    # fibres turned by +90°: fibre coordinates (z, x) = (across, −along) of the grid, which is
    # what a grid with fibre_axis="columns" sees with the unit mirrored medio-laterally
    square = ElectrodeGrid.full(5, 5, 8.0)
    turned = ElectrodeGrid.full(5, 5, 8.0, fibre_axis="columns")
    rotated = AnatomyParameters(**{**anatomy.as_dict(), "fibre_angle_deg": torch.tensor(90.0, dtype=torch.float64)})
    model = AnalyticForwardModel(dtype=torch.float64)
    with torch.no_grad():
        a = model.muaps(u, rotated, square, FS).numpy()
        mirrored = model.muaps(units(ml_mm=-4.0, iz_mm=-10.0), anatomy, turned, FS).numpy()
        unmirrored = model.muaps(u, anatomy, turned, FS).numpy()
    np.testing.assert_allclose(a, mirrored, rtol=0, atol=1e-5 * np.abs(a).max())
    assert np.abs(a - unmirrored).max() > 0.1 * np.abs(a).max()


def test_gradients_are_finite_and_non_zero_for_every_parameter() -> None:
    u = units(2, depth_mm=[4.0, 7.0], ml_mm=[3.0, -6.0], iz_mm=[-8.0, 12.0], cv_m_s=[4.0, 3.5],
              semi_length_neg_mm=[30.0, 35.0], semi_length_pos_mm=[35.0, 30.0], territory_radius_mm=[2.0, 3.0],
              n_fibres=[150.0, 300.0])
    leaves_u = {k: v.clone().requires_grad_(True) for k, v in u.as_dict().items()}
    anatomy = AnatomyParameters.default(fibre_angle_deg=5.0)
    leaves_a = {k: v.clone().requires_grad_(True) for k, v in anatomy.as_dict().items()}
    model = AnalyticForwardModel(spatial_filter="single_differential", duration_s=0.030)
    muaps = model.muaps(MotorUnitParameters(**leaves_u), AnatomyParameters(**leaves_a), GRID, FS)
    weights = torch.randn(muaps.shape, generator=torch.Generator().manual_seed(0))
    (muaps * weights).sum().backward()
    for name, leaf in {**leaves_u, **leaves_a}.items():
        assert leaf.grad is not None, name
        assert bool(torch.isfinite(leaf.grad).all()), name
        assert bool((leaf.grad.abs() > 0).all()), name


def test_no_overflow_over_the_whole_anatomy_range() -> None:
    for fat in (0.5, 20.0):
        anatomy = AnatomyParameters(**{k: v.clone().requires_grad_(True)
                                       for k, v in AnatomyParameters.default(fat_mm=fat, skin_mm=0.5).as_dict().items()})
        u = units(3, depth_mm=[0.0, 15.0, 30.0], territory_radius_mm=[1.0, 5.0, 10.0])
        muaps = AnalyticForwardModel(duration_s=0.02).muaps(u, anatomy, GRID, FS)
        assert bool(torch.isfinite(muaps).all())
        assert bool((muaps.abs().amax(dim=(1, 2)) > 0).all())
        muaps.square().sum().backward()
        assert all(bool(torch.isfinite(v.grad).all()) for v in anatomy.as_dict().values() if v.grad is not None)


def test_generator_drives_the_simulator() -> None:
    cfg = SimulationConfig(n_units=6, duration_s=2.0, ramp_s=0.5, depth_range_mm=(4.0, 9.0), seed=4)
    rec, truth = simulate_recording(cfg, generator=AnalyticGenerator())
    assert rec.n_channels == 64
    assert np.isfinite(rec.emg_v).all()
    assert truth.muaps_v.shape == (6, 64, AnalyticForwardModel().n_samples(cfg.sampling_rate_hz))
    assert truth.muap_onset == AnalyticForwardModel().onset(cfg.sampling_rate_hz)
    amplitude_uv = np.ptp(truth.muaps_v, axis=2).max(axis=1) * 1e6
    # 1–6 mm into the muscle under 1 mm skin and 2 mm fat: tens to hundreds of µV
    assert np.all(amplitude_uv > 10.0)
    assert np.all(amplitude_uv < 3000.0)
    assert np.median(amplitude_uv) > 30.0
    assert all(len(d) > 5 for d in truth.discharge_samples)


def test_generator_converts_depth_below_the_skin() -> None:
    props = MotorUnitProperties(depth_mm=[5.0], ml_mm=[0.0], iz_mm=[0.0], cv_m_s=[4.0], fibre_length_mm=[120.0],
                                territory_radius_mm=[1.0], n_fibres=[100.0])
    muaps, onset = AnalyticGenerator().render(props, GRID, FS)
    direct = render(units(depth_mm=2.0, territory_radius_mm=1.0, n_fibres=100.0, semi_length_neg_mm=60.0,
                          semi_length_pos_mm=60.0))
    np.testing.assert_allclose(muaps, direct, atol=1e-4 * np.abs(direct).max())
    assert onset == AnalyticForwardModel().onset(FS)


def test_gradients_agree_with_finite_differences() -> None:
    # a small grid and coarse frequency grids keep this quick; tolerance 1e-30 keeps the
    # frequency cutoff at Nyquist, so the node set does not move under the perturbations
    grid = ElectrodeGrid.full(4, 2, 8.0)
    spectral = SpectralGrid(step_mm=1.0, period_along_mm=256.0, period_across_mm=128.0,
                            low_frequency_period_mm=1024.0, tolerance=1e-30)
    model = AnalyticForwardModel(spectral=spectral, duration_s=0.025, dtype=torch.float64,
                                 spatial_filter="single_differential")
    base_u = units(depth_mm=4.0, ml_mm=3.0, iz_mm=-6.0, cv_m_s=4.0, semi_length_neg_mm=30.0, semi_length_pos_mm=36.0,
                   territory_radius_mm=2.0, n_fibres=150.0).as_dict()
    base_a = AnatomyParameters.default(fibre_angle_deg=5.0).as_dict()
    weights = torch.randn(1, grid.n_channels, model.n_samples(FS), generator=torch.Generator().manual_seed(1),
                          dtype=torch.float64)

    def loss(u: dict[str, torch.Tensor], a: dict[str, torch.Tensor]) -> torch.Tensor:
        muaps = model.muaps(MotorUnitParameters(**u), AnatomyParameters(**a), grid, FS)
        return (muaps.double() * 1e6 * weights).sum()  # µV, so that float32 output keeps digits

    leaves_u = {k: v.clone().requires_grad_(True) for k, v in base_u.items()}
    leaves_a = {k: v.clone().requires_grad_(True) for k, v in base_a.items()}
    loss(leaves_u, leaves_a).backward()
    for group, base, leaves in (("unit", base_u, leaves_u), ("anatomy", base_a, leaves_a)):
        for name, value in base.items():
            step = 1e-3 * max(1.0, float(value.abs().max()))
            plus = {**base, name: value + step}
            minus = {**base, name: value - step}
            with torch.no_grad():
                if group == "unit":
                    numeric = (loss(plus, base_a) - loss(minus, base_a)) / (2 * step)
                else:
                    numeric = (loss(base_u, plus) - loss(base_u, minus)) / (2 * step)
            grad = leaves[name].grad
            assert grad is not None, name
            assert float(grad.sum()) == pytest.approx(float(numeric), rel=1e-3), name  # measured ≤ 2.2e-4
