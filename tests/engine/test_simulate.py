from __future__ import annotations

import numpy as np
import pytest

from bmiss_engine.forward import LineSourceGenerator, MotorUnitProperties
from bmiss_engine.recording import ElectrodeGrid
from bmiss_engine.simulate import SimulationConfig, simulate_recording


def test_pool_and_discharges_follow_the_configuration(sim20) -> None:
    rec, truth = sim20
    assert rec.n_channels == 64
    assert rec.n_samples == 20 * 2048
    assert (0, 0) not in {tuple(p) for p in rec.grid.channel_rc.tolist()}
    # thresholds spread exponentially: constant ratio between neighbours, range 30
    ratios = truth.thresholds[1:] / truth.thresholds[:-1]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-9)
    assert truth.thresholds[-1] / truth.thresholds[0] == pytest.approx(30.0)
    assert all(len(d) > 50 for d in truth.discharge_samples)
    # recruitment order: later units start later
    firsts = [d[0] for d in truth.discharge_samples]
    assert firsts == sorted(firsts) or np.corrcoef(firsts, np.arange(20))[0, 1] > 0.95


def test_isi_variability_at_steady_excitation() -> None:
    cfg = SimulationConfig(n_units=3, duration_s=30.0, ramp_s=0.001, isi_cov=0.15, seed=1)
    _, truth = simulate_recording(cfg)
    for d in truth.discharge_samples:
        isi = np.diff(d)
        assert 0.10 < isi.std() / isi.mean() < 0.20


def test_noise_level_matches_snr() -> None:
    cfg = SimulationConfig(n_units=5, duration_s=5.0, snr_db=10.0, seed=2)
    rec, _truth = simulate_recording(cfg)
    clean = simulate_recording(SimulationConfig(**{**cfg.__dict__, "snr_db": 200.0}))[0].emg_v
    noise = rec.emg_v - clean
    snr = 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean(noise.astype(np.float64) ** 2))
    assert snr == pytest.approx(10.0, abs=0.2)


def _muap(depth_mm: float, iz_mm: float = 0.0, fibre_length_mm: float = 120.0, fs: float = 10240.0) -> np.ndarray:
    props = MotorUnitProperties(depth_mm=[depth_mm], ml_mm=[0.0], iz_mm=[iz_mm], cv_m_s=[4.0],
                                fibre_length_mm=[fibre_length_mm], territory_radius_mm=[1.0], n_fibres=[100.0])
    muaps, _ = LineSourceGenerator(seed=0).render(props, ElectrodeGrid.full(13, 5, 8.0), fs)
    return muaps[0]


def test_muap_falls_and_spreads_with_depth() -> None:
    shallow, deep = _muap(3.0), _muap(9.0)
    assert np.ptp(deep, axis=1).max() < 0.5 * np.ptp(shallow, axis=1).max()

    def spread(m: np.ndarray) -> int:
        """Electrodes seeing at least half the largest peak-to-peak amplitude."""
        ptp = np.ptp(m, axis=1)
        return int(np.sum(ptp > 0.5 * ptp.max()))

    assert spread(deep) > 1.5 * spread(shallow)


def test_innervation_zone_shows_as_phase_reversal() -> None:
    m = _muap(3.0, iz_mm=0.0)
    col = [m[r * 5 + 2] for r in range(13)]
    # the waves leaving the IZ (row 6) in opposite directions are mirror images: single
    # differential signals on either side have opposite sign
    above, below = col[4] - col[3], col[9] - col[8]
    assert np.corrcoef(above, below)[0, 1] < -0.8


def test_propagation_delay_matches_conduction_velocity() -> None:
    fs = 10240.0
    m = _muap(4.0, iz_mm=-60.0, fibre_length_mm=240.0, fs=fs)  # the wave runs along the whole grid
    sd = [m[(r + 1) * 5 + 2] - m[r * 5 + 2] for r in range(12)]  # single differential along the fibres
    # rows 4 and 10 are 6 × 8 mm = 48 mm apart: 12 ms at 4 m/s
    delay_s = (np.argmax(np.abs(sd[10])) - np.argmax(np.abs(sd[4]))) / fs
    assert delay_s == pytest.approx(0.012, rel=0.05)


def test_units_of_a_grid_wider_than_the_muscle_stay_over_the_muscle() -> None:
    from bmiss_engine.forward import MotorUnitParameters

    _, truth = simulate_recording(SimulationConfig(
        n_units=60, duration_s=1.0, grid_shape=(4, 32), ied_mm=5.0, missing_corner=False,
        muap_generator="analytic", seed=4,
    ))
    ml = np.asarray(truth.theta_physical["ml_mm"])
    assert np.abs(ml).max() <= 40.0  # within the forward model's bound, so θ can be fitted
    assert np.abs(ml).max() > 30.0  # and spread over the muscle, not bunched at the centre
    bound = MotorUnitParameters.BOUNDS["ml_mm"]
    assert bound.low <= ml.min()
    assert ml.max() <= bound.high
