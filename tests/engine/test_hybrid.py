"""``method="hybrid"``: the baseline's units with θ fitted to their spike-triggered MUAPs."""

from __future__ import annotations

import numpy as np
import pytest

from bmiss_engine import ConfigError, Decomposer, DecomposerConfig
from bmiss_engine.metrics import match_units
from bmiss_engine.separation.duplicates import rate_of_agreement
from bmiss_engine.simulate import SimulationConfig, simulate_recording
from tests.engine._single_thread import single_torch_thread  # noqa: F401
from tests.engine.generators import states_and_result

# the θ fit of the baseline's units only; the residual restarts have their own test
SMALL = dict(n_iterations=32, batch_size=8, extension_factor=8, device="cpu", hybrid_restarts=0)


@pytest.fixture(scope="module")
def recording_and_truth():
    return simulate_recording(SimulationConfig(
        n_units=4, duration_s=3.0, grid_shape=(6, 4), missing_corner=False, snr_db=25.0, ramp_s=0.3,
        peak_excitation=0.7, depth_range_mm=(1.0, 6.0), muap_generator="analytic", seed=3,
    ))


@pytest.fixture(scope="module")
def hybrid_run(recording_and_truth):
    rec, _ = recording_and_truth
    return states_and_result(Decomposer(DecomposerConfig().replace(method="hybrid", **SMALL)).iterate(rec))


def test_hybrid_keeps_the_baseline_discharges(recording_and_truth, hybrid_run) -> None:
    rec, _ = recording_and_truth
    _, result = hybrid_run
    baseline = Decomposer(DecomposerConfig().replace(method="fastica", **SMALL)).run(rec)
    assert result.n_units == baseline.n_units >= 2
    for h, b in zip(result.units, baseline.units, strict=True):
        assert np.array_equal(h.discharge_samples, b.discharge_samples)
        assert h.separation_filter is not None  # transform() still works on hybrid results
    assert result.config["method"] == "hybrid"


def test_hybrid_theta_is_near_the_truth(recording_and_truth, hybrid_run) -> None:
    rec, truth = recording_and_truth
    _, result = hybrid_run
    report = match_units(truth.discharge_samples, [u.discharge_samples for u in result.units], rec.sampling_rate_hz)
    assert report.n_identified >= 2, report.summary()
    for m in report.identified:
        unit = result.units[int(m.estimated)]
        k = int(m.true_key)
        assert unit.theta is not None
        assert unit.theta_sd is not None
        # the model that simulated the data fits it: position within a few mm, CV within 0.8 m/s
        # (a unit whose STA other units blur fits worse: measured 4.4 → 5.0 m/s, residual 0.37)
        assert abs(unit.theta["depth_mm"] - truth.theta_physical["depth_mm"][k]) < 2.0
        assert abs(unit.theta["ml_mm"] - truth.theta_physical["ml_mm"][k]) < 3.0
        assert abs(unit.theta["iz_mm"] - truth.theta_physical["iz_mm"][k]) < 3.0
        assert abs(unit.theta["cv_m_s"] - truth.theta_physical["cv_m_s"][k]) < 0.8
        assert np.isfinite(unit.theta_sd["depth_mm"])


def test_hybrid_states_show_the_fit_progress(hybrid_run) -> None:
    states, result = hybrid_run
    finishing = [s for s in states if s.phase == "finishing" and s.theta]
    assert finishing, "no state carried θ while fitting"
    assert len(finishing[-1].theta) == result.n_units
    assert states[-1].phase == "done"
    assert states[-1].templates_v is not None
    assert states[-1].templates_v.shape[0] == result.n_units


def test_hybrid_cancel_while_fitting(recording_and_truth) -> None:
    rec, _ = recording_and_truth
    gen = Decomposer(DecomposerConfig().replace(method="hybrid", **SMALL)).iterate(rec)
    for state in gen:
        if state.phase == "finishing" and state.message.startswith("estimated"):
            break
    gen.close()  # no exception, no hang
    with pytest.raises(StopIteration):
        next(gen)


def test_anatomy_out_of_range_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="fat_mm"):
        DecomposerConfig().replace(method="hybrid", fat_mm=40.0)


def test_layer_ranges_are_the_forward_models_bounds() -> None:
    from bmiss_engine.config import LAYER_RANGES_MM
    from bmiss_engine.forward.parameters import AnatomyParameters

    for name, (low, high) in LAYER_RANGES_MM.items():
        bound = AnatomyParameters.BOUNDS[name]
        assert (bound.low, bound.high) == (low, high)
    clipped = DecomposerConfig().with_layers(0.1, 25.0)
    assert (clipped.inversion.skin_mm, clipped.inversion.fat_mm) == (0.5, 20.0)


def test_model_marking_puts_discharges_at_the_motor_neuron_firing(recording_and_truth, hybrid_run) -> None:
    """The fitted model knows when the unit fired (its MUAP starts a propagation time later):
    "model" marking moves the discharges there, closer to the truth than the MUAP onset."""
    rec, truth = recording_and_truth
    _, onset_result = hybrid_run
    model_result = Decomposer(DecomposerConfig().replace(method="hybrid", discharge_marking="model", **SMALL)).run(rec)
    fs = rec.sampling_rate_hz

    def lags(result):  # |best lag| of each identified unit, samples
        report = match_units(truth.discharge_samples, [u.discharge_samples for u in result.units], fs)
        return [abs(m.lag_samples) for m in report.identified]

    onset_lags, model_lags = lags(onset_result), lags(model_result)
    assert len(model_lags) == len(onset_lags) >= 2
    assert max(model_lags) <= 3  # within 1.5 ms of the firing
    assert sum(model_lags) < sum(onset_lags)
    with pytest.raises(ConfigError, match="model"):
        DecomposerConfig().replace(method="fastica", discharge_marking="model")


def test_hybrid_residual_restarts_add_units_beyond_the_baseline(recording_and_truth) -> None:
    rec, truth = recording_and_truth
    fs = rec.sampling_rate_hz
    # a baseline cut short (2 separation vectors, no second look) finds 1 of the 4 units
    short = {**SMALL, "n_iterations": 2, "batch_size": 2, "polish": False}
    del short["hybrid_restarts"]
    cfg = DecomposerConfig().replace(method="hybrid", hybrid_restarts=2, inversion_probe=96, inversion_candidates=4,
                           inversion_steps=25, **short)
    gen = Decomposer(cfg).iterate(rec)
    states, result = states_and_result(gen)
    baseline = Decomposer(DecomposerConfig().replace(method="fastica", **short)).run(rec)
    n = baseline.n_units
    # the baseline's units come first, unchanged; what the residual search adds follows
    for h, b in zip(result.units[:n], baseline.units, strict=True):
        assert np.array_equal(h.discharge_samples, b.discharge_samples)
    residual = [s for s in states if s.message.startswith("residual restart")]
    # a snapshot after each restart, and snapshots between its steps (so Cancel acts within one)
    done = [s.message.split(":")[0] for s in residual if "running" not in s.message]
    assert done == ["residual restart 1/2", "residual restart 2/2"]
    assert any("running" in s.message for s in residual)
    # what the progress bar shows: restarts done, of all
    assert [(s.iteration, s.total) for s in residual if "running" not in s.message] == [(1, 2), (2, 2)]
    assert {(s.iteration, s.total) for s in residual if "running" in s.message} == {(0, 2), (1, 2)}
    assert result.provenance["residual_units"] == result.n_units - n
    before = match_units(truth.discharge_samples, [u.discharge_samples for u in baseline.units], fs).n_identified
    after = match_units(truth.discharge_samples, [u.discharge_samples for u in result.units], fs).n_identified
    # every unit the residual search adds is a true unit the baseline did not have
    assert after >= before + 1
    assert after - before == result.n_units - n
    for extra in result.units[n:]:
        assert extra.theta is not None
        assert extra.unit_id >= n
        assert extra.separation_filter is not None  # the CKC filter of its discharges
    # transform() re-detects every unit, those of the residual search too
    applied = Decomposer(DecomposerConfig().replace(device="cpu")).transform(result, rec)
    assert applied.n_units == result.n_units
    for before, again in zip(result.units, applied.units, strict=True):
        assert rate_of_agreement(before.discharge_samples, again.discharge_samples, fs, max_lag_s=0.002) >= 0.9
    assert states[-1].templates_v is not None
    assert states[-1].templates_v.shape[0] == result.n_units


def test_a_unit_must_fire_as_a_motor_unit_does() -> None:
    from bmiss_engine.separation.quality import fires_steadily as _fires_steadily

    fs = 2048.0
    rng = np.random.default_rng(0)
    steady = np.cumsum(rng.normal(0.1, 0.015, 150) * fs).astype(np.int64)  # 10 Hz, CoV 0.15
    sparse = np.cumsum(rng.uniform(0.2, 1.2, 19) * fs).astype(np.int64)  # the false D_15dB unit's 2 Hz
    assert _fires_steadily(steady, fs)
    assert not _fires_steadily(sparse, fs)
    assert not _fires_steadily(steady[:1], fs)
