"""``method="bmiss"`` through the decomposer's generator protocol on a few-unit analytic
simulation."""

from __future__ import annotations

import numpy as np
import pytest

from bmiss_engine import Decomposer, DecomposerConfig
from bmiss_engine.forward import MotorUnitParameters
from bmiss_engine.metrics import match_units
from bmiss_engine.separation.duplicates import rate_of_agreement
from bmiss_engine.simulate import SimulationConfig, simulate_recording
from tests.engine._single_thread import single_torch_thread  # noqa: F401
from tests.engine.generators import states_and_result

N_UNITS = 3


@pytest.fixture(scope="module")
def bmiss_run():
    cfg = SimulationConfig(
        n_units=N_UNITS, duration_s=3.0, grid_shape=(6, 4), missing_corner=False, snr_db=30.0, ramp_s=0.01,
        peak_excitation=0.8, depth_range_mm=(4.0, 8.0), muap_generator="analytic", seed=2,
    )
    rec, truth = simulate_recording(cfg)
    decomposer = Decomposer(DecomposerConfig().replace(
        method="bmiss", device="cpu", inversion_restarts=2, inversion_probe=192, inversion_candidates=4,
        inversion_steps=25, extension_factor=12,
    ))
    states, result = states_and_result(decomposer.iterate(rec))
    return rec, truth, states, result


def test_bmiss_finds_most_units_with_their_theta(bmiss_run) -> None:
    rec, truth, _, result = bmiss_run
    report = match_units(truth.discharge_samples, [u.discharge_samples for u in result.units], rec.sampling_rate_hz)
    assert report.n_identified >= N_UNITS - 1, report.summary()
    assert result.n_units - report.n_identified <= 1  # few false units
    names = set(MotorUnitParameters.field_names())
    for unit in result.units:
        assert unit.theta is not None
        assert set(unit.theta) == names
        assert unit.theta_sd is not None
        assert np.isnan(unit.theta_sd["n_fibres"])
        bounds = MotorUnitParameters.BOUNDS
        assert all(bounds[k].low <= v <= bounds[k].high for k, v in unit.theta.items())
    # identified units sit where the truth puts them (medio-lateral position within 3 mm)
    for m in report.identified:
        unit = result.units[int(m.estimated)]
        assert abs(unit.theta["ml_mm"] - truth.theta_physical["ml_mm"][int(m.true_key)]) < 3.0


def test_bmiss_states_follow_the_generator_protocol(bmiss_run) -> None:
    rec, _, states, result = bmiss_run
    assert states[0].phase == "preparing"
    assert states[-1].phase == "done"
    separating = [s for s in states if s.phase == "separating"]
    # one snapshot after each restart; those between its steps count the restarts done before it
    assert [s.iteration for s in separating if "running" not in s.message] == [1, 2]
    assert {s.iteration for s in separating if "running" in s.message} == {0, 1}
    assert all(s.total == 2 for s in states)
    last = states[-1]
    assert len(last.units) == result.n_units == len(last.theta)
    if result.n_units:
        assert last.templates_v is not None
        assert last.templates_v.shape[:2] == (result.n_units, rec.n_channels)
        assert np.all(np.ptp(last.templates_v, axis=2).max(axis=1) > 0)


def test_bmiss_units_carry_separation_filters_that_transform_applies(bmiss_run) -> None:
    """The inversion gives discharges and θ but no separation vector; each unit gets the CKC
    filter of its discharges, so transform() re-detects it on the same grid."""
    rec, _, _, result = bmiss_run
    assert result.n_units >= 2
    assert result.model is not None
    assert all(u.separation_filter is not None for u in result.units)
    assert result.model.extension_factor == 12  # the configuration's extension
    applied = Decomposer(DecomposerConfig().replace(device="cpu")).transform(result, rec)
    assert applied.n_units == result.n_units
    for before, after in zip(result.units, applied.units, strict=True):
        # at the same instants, not only after a best lag
        assert rate_of_agreement(before.discharge_samples, after.discharge_samples, rec.sampling_rate_hz,
                                 max_lag_s=0.002) >= 0.9
