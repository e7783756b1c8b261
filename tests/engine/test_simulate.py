from __future__ import annotations

import numpy as np
import pytest

from bmiss_engine.forward import LineSourceGenerator, MotorUnitProperties
from bmiss_engine.recording import ElectrodeGrid
from bmiss_engine.simulate import SimulationConfig, simulate_recording


def test_pool_and_discharges_follow_the_configuration(sim20) -> None:
    rec, truth = sim20
    assert rec.n_channels == 64 and rec.n_samples == 20 * 2048
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


def _muap(depth_mm: float, iz_mm: float = 0.0) -> np.ndarray:
    props = MotorUnitProperties(depth_mm=[depth_mm], ml_mm=[0.0], iz_mm=[iz_mm], cv_m_s=[4.0],
                                fibre_length_mm=[120.0], territory_radius_mm=[1.0], n_fibres=[100.0])
    muaps, _ = LineSourceGenerator(seed=0).render(props, ElectrodeGrid.full(13, 5, 8.0), 2048.0)
    return muaps[0]


def test_muap_falls_and_widens_with_depth() -> None:
    shallow, deep = _muap(3.0), _muap(9.0)
    assert np.ptp(deep, axis=1).max() < 0.5 * np.ptp(shallow, axis=1).max()
    centre = 6 * 5 + 2  # row 6, column 2: over the innervation zone

    def width(m: np.ndarray) -> int:
        a = np.abs(m[centre])
        return int(np.sum(a > 0.5 * a.max()))

    assert width(deep) > width(shallow)


def test_propagation_delay_matches_conduction_velocity() -> None:
    m = _muap(4.0, iz_mm=-40.0)  # IZ near one end: the wave runs along the grid
    rows = [m[r * 5 + 2] for r in range(13)]
    # delay between rows 4 and 10 (6 × 8 mm = 48 mm) at 4 m/s = 12 ms
    lags = np.arange(-60, 61)
    xc = [np.dot(rows[4], np.roll(rows[10], -lag)) for lag in lags]
    delay_s = lags[int(np.argmax(xc))] / 2048.0
    assert delay_s == pytest.approx(0.012, abs=0.0015)
