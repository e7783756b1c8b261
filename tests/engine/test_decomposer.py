from __future__ import annotations

import gc
import json
import threading

import numpy as np
import pytest

from bmiss_engine import ConfigError, Decomposer, DecomposerConfig, DecompositionError
from bmiss_engine.metrics import match_units
from bmiss_engine.recording import ElectrodeGrid, Recording
from tests.engine.generators import states_and_result


def _score(result, truth, fs):
    return match_units(truth.discharge_samples, [u.discharge_samples for u in result.units], fs)


def test_baseline_identifies_most_units_of_the_20_unit_simulation(sim20) -> None:
    rec, truth = sim20
    result = Decomposer().run(rec)
    report = _score(result, truth, rec.sampling_rate_hz)
    assert report.n_identified >= 15, report.summary()
    assert report.median_roa_identified >= 0.9
    # precision: nearly every reported unit is a true one
    assert result.n_units - report.n_identified <= 2
    for u in result.units:
        assert u.sil >= 0.9
        assert u.separation_filter is not None
        assert u.pulse_train.shape == (rec.n_samples,)


def test_iterate_yields_growing_snapshots_and_returns_the_result(sim_short) -> None:
    rec, _truth = sim_short
    gen = Decomposer(DecomposerConfig().replace(n_iterations=48)).iterate(rec)
    states, result = states_and_result(gen)
    assert states[0].phase == "preparing"
    assert states[-1].phase == "done"
    iterations = [s.iteration for s in states]
    assert iterations == sorted(iterations)
    assert max(iterations) <= 48
    assert len(states[-1].units) == result.n_units >= 4
    sep = [s for s in states if s.phase == "separating"]
    assert sep
    assert all(s.current_pulse_train.shape == (rec.n_samples,) for s in sep)
    # snapshots are numpy data the consumer cannot corrupt
    u = sep[-1].units[0] if sep[-1].units else result.units[0]
    assert isinstance(u.pulse_train, np.ndarray)
    assert not u.pulse_train.flags.writeable


def test_closing_the_generator_cancels_and_leaves_nothing_behind(sim_short, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    rec, _ = sim_short
    threads_before = threading.active_count()
    gen = Decomposer().iterate(rec)
    for state in gen:
        if state.phase == "separating":
            break
    gen.close()  # runs the generator's finally: device memory released
    with pytest.raises(StopIteration):
        next(gen)
    del gen
    gc.collect()
    assert threading.active_count() <= threads_before
    assert list(tmp_path.iterdir()) == []


def test_transform_applies_learned_filters_to_new_data(sim20) -> None:
    rec, truth = sim20
    fs = rec.sampling_rate_hz
    first = rec.crop(0, 12)
    second = rec.crop(10, 20)
    fitted = Decomposer().run(first)
    applied = Decomposer().transform(fitted, second)
    assert applied.n_units == fitted.n_units
    assert applied.n_samples == second.n_samples
    offset = int(10 * fs)
    later_truth = [d[d >= offset] - offset for d in truth.discharge_samples]
    report = match_units(later_truth, [u.discharge_samples for u in applied.units], fs)
    assert report.n_identified >= 0.8 * fitted.n_units, report.summary()


def test_config_validation() -> None:
    with pytest.raises(ConfigError, match="unknown; use 'fastica', 'hybrid', 'bmiss' or 'joint'"):
        DecomposerConfig().replace(method="ica")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="sil_threshold"):
        DecomposerConfig().replace(sil_threshold=1.5)
    with pytest.raises(ConfigError, match="unknown setting"):
        DecomposerConfig.from_dict({"n_iter": 3})
    assert DecomposerConfig.from_dict({"band_hz": [10, 400]}).separation.band_hz == (10, 400)


def test_the_joint_methods_settings_are_a_section_of_the_config() -> None:
    cfg = DecomposerConfig().replace(method="joint", cycles=2, decode_kappa=2.5)
    assert (cfg.joint.cycles, cfg.joint.decode_kappa) == (2, 2.5)
    again = DecomposerConfig.from_dict(json.loads(json.dumps(cfg.as_dict())))
    assert again == cfg
    assert DecomposerConfig.from_dict({"joint": {"discovery_vectors": 32}}).joint.discovery_vectors == 32
    with pytest.raises(ConfigError, match="templates"):
        DecomposerConfig().replace(templates="mean")
    with pytest.raises(ConfigError, match="unknown setting"):
        DecomposerConfig.from_dict({"joint": {"kappa": 3}})


def test_too_short_or_flat_recordings_are_decomposition_errors() -> None:
    grid = ElectrodeGrid.full(2, 2, 8.0)
    short = Recording(np.random.default_rng(0).standard_normal((4, 500)), 2048.0, grid)
    with pytest.raises(DecompositionError, match="at least"):
        Decomposer().run(short)
    flat = Recording(np.zeros((4, 4096)), 2048.0, grid)
    with pytest.raises(DecompositionError):
        Decomposer().run(flat)


def test_unit_ids_of_the_result_are_those_seen_live(sim_short, monkeypatch) -> None:
    """A unit shown live as unit k is unit k in the result, also when a unit before it is
    dropped as a duplicate at the end (the ids used to be renumbered 0..n-1 there)."""
    import bmiss_engine.methods.fastica as fastica

    monkeypatch.setattr(fastica, "without_duplicates", lambda units, fs, roa, **_: list(range(1, len(units))))
    rec, _truth = sim_short
    for marking in ("peak", "onset"):
        gen = Decomposer(DecomposerConfig().replace(n_iterations=48, discharge_marking=marking)).iterate(rec)
        states, result = states_and_result(gen)
        live = {u.unit_id: u for u in states[-2].units}  # the "finishing" snapshot: all units found
        assert states[-2].phase == "finishing"
        assert len(live) >= 3
        assert [u.unit_id for u in result.units] == sorted(live)[1:]
        assert [u.unit_id for u in states[-1].units] == [u.unit_id for u in result.units]
        for u in result.units:
            seen = live[u.unit_id].discharge_samples
            if marking == "peak":  # the search's own marking: the discharges seen live
                np.testing.assert_array_equal(u.discharge_samples, seen)
            else:  # the same discharges, moved as one to the MUAP's onset, before its energy peak
                shift = u.discharge_samples[0] - seen[0]
                assert shift <= 0
                kept = seen[(seen + shift >= 0) & (seen + shift < rec.n_samples)]
                np.testing.assert_array_equal(u.discharge_samples, kept + shift)


def test_the_joint_method_is_selectable_and_keeps_the_blind_units(sim_short) -> None:
    """method="joint" through the front door: FastICA's units decoded together find at least the
    true units FastICA finds, and the result says which units came beyond it."""
    from bmiss_engine.metrics import match_units

    rec, truth = sim_short
    fs = rec.sampling_rate_hz
    config = DecomposerConfig().replace(n_iterations=48, device="cpu")
    blind = Decomposer(config).run(rec)
    joint = Decomposer(config.replace(method="joint")).run(rec)
    assert joint.config["method"] == "joint"
    assert "joint_new_units" in joint.provenance

    def identified(result) -> int:  # type: ignore[no-untyped-def]
        return match_units(truth.discharge_samples, [u.discharge_samples for u in result.units], fs).n_identified

    assert identified(joint) >= identified(blind)
