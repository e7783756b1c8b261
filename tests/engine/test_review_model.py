"""The review model in the engine: the unreviewed status, click picking, rate outliers, θ with
its uncertainty in physical units, the per-unit summary, and a unit's filter updated from its
discharges (against the simulation's truth)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from bmiss_engine.editing import (
    EditError,
    EditHistory,
    SetStatus,
    UpdateFilter,
    discharge_near,
    edit_from_dict,
)
from bmiss_engine.io.discharge_tables import SUMMARY_COLUMNS, write_unit_summary_csv
from bmiss_engine.recording import Recording
from bmiss_engine.results import THETA_FIELDS, UNIT_STATUSES, DecompositionResult, MotorUnit
from bmiss_engine.review import instantaneous_rate_hz, rate_outliers
from bmiss_engine.separation.duplicates import rate_of_agreement
from bmiss_engine.simulate import SimulationConfig, SimulationTruth, simulate_recording

FS = 2048.0


def _unit(unit_id: int = 0, **kwargs: object) -> MotorUnit:
    d = np.arange(200, 4000, 200)
    pt = np.full(4096, 0.05, dtype=np.float32)
    pt[d] = 1.0
    return MotorUnit(unit_id, d, pt, FS, **kwargs)  # type: ignore[arg-type]


def test_units_start_unreviewed_and_every_status_can_be_set() -> None:
    result = DecompositionResult((_unit(0), _unit(1)), FS, 4096)
    assert [u.status for u in result.units] == ["unreviewed", "unreviewed"]
    h = EditHistory(result)
    for status in UNIT_STATUSES:
        h.do(SetStatus((1,), status))
        assert h.current.unit(1).status == status
        assert h.current.unit(0).status == "unreviewed"
    with pytest.raises(EditError):
        SetStatus((0,), "maybe")  # type: ignore[arg-type]


def test_a_click_picks_the_discharge_within_its_reach_only() -> None:
    u = _unit()
    assert discharge_near(u, 203, 0.97, sample_radius=8, height_radius=0.1) == 200
    assert discharge_near(u, 215, 1.0, sample_radius=8, height_radius=0.1) is None  # too far in time
    assert discharge_near(u, 200, 0.5, sample_radius=8, height_radius=0.1) is None  # too far below
    assert discharge_near(u, 399, 1.0, sample_radius=8, height_radius=0.1) == 400


def test_rate_outliers_mark_a_missed_and_a_doubled_discharge() -> None:
    d = np.arange(0, 40 * 205, 205)  # 10 Hz
    missed = np.delete(d, 12)  # one interval twice as long: 5 Hz
    doubled = np.sort(np.append(missed, d[25] + 100))  # one interval split: ~20 Hz
    times, rate = instantaneous_rate_hz(doubled, FS)
    marked = rate_outliers(rate)
    assert marked.sum() == 3  # the long interval and the two halves of the split one
    assert sorted(np.round(rate[marked]).tolist()) == [5.0, 20.0, 20.0]
    assert not rate_outliers(instantaneous_rate_hz(d, FS)[1]).any()
    assert not rate_outliers(np.array([10.0, 30.0])).any()
    assert times.size == rate.size


def test_theta_fields_have_the_forward_models_bounds() -> None:
    from bmiss_engine.forward.parameters import MotorUnitParameters

    bounds = MotorUnitParameters.BOUNDS
    assert [f.name for f in THETA_FIELDS] == list(MotorUnitParameters.field_names())
    for f in THETA_FIELDS:
        assert (f.low, f.high, f.log) == (bounds[f.name].low, bounds[f.name].high, bounds[f.name].log)


def test_theta_uncertainty_is_in_physical_units() -> None:
    u = _unit(theta={"depth_mm": 8.0, "n_fibres": 200.0, "iz_mm": 1.0},
              theta_sd={"depth_mm": 0.1, "n_fibres": 0.05, "iz_mm": float("nan")})
    sd = u.theta_uncertainty
    assert sd["depth_mm"] == pytest.approx(3.0)  # 0.1 of the 0–30 mm range
    assert sd["n_fibres"] == pytest.approx(200.0 * math.log(200.0) * 0.05)
    assert math.isnan(sd["iz_mm"])
    assert _unit().theta_uncertainty == {}


def test_the_summary_csv_carries_theta_its_sd_and_the_origin(tmp_path: Path) -> None:
    model_unit = _unit(1, theta={f.name: f.low + 1.0 for f in THETA_FIELDS},
                       theta_sd={f.name: 0.01 for f in THETA_FIELDS}, origin="model", status="accepted")
    result = DecompositionResult((_unit(0), model_unit), FS, 4096)
    path = tmp_path / "units_summary.csv"
    write_unit_summary_csv(result, path)
    rows = list(csv.DictReader(path.read_text().splitlines()))
    assert tuple(rows[0]) == SUMMARY_COLUMNS
    assert [(r["status"], r["origin"]) for r in rows] == [("unreviewed", "blind"), ("accepted", "model")]
    assert rows[0]["depth_mm"] == rows[0]["depth_mm_sd"] == ""
    assert float(rows[1]["iz_mm"]) == pytest.approx(-59.0)
    assert float(rows[1]["iz_mm_sd"]) == pytest.approx(1.2)
    assert float(rows[1]["cv_m_s_sd"]) == pytest.approx(0.035)


@pytest.fixture(scope="module")
def simulated() -> tuple[Recording, SimulationTruth]:
    return simulate_recording(SimulationConfig(
        n_units=6, duration_s=3.0, ramp_s=0.5, grid_shape=(8, 4), missing_corner=False, seed=1,
    ))


def _largest(truth: SimulationTruth) -> int:
    energy = [float(np.ptp(m, axis=1).max()) * d.size ** 0.5 for m, d in zip(truth.muaps_v, truth.discharge_samples,
                                                                                strict=True)]
    return int(np.argmax(energy))


def test_updating_the_filter_restores_discharges_the_reviewer_could_not_see(simulated) -> None:  # type: ignore[no-untyped-def]
    recording, truth = simulated
    true = truth.discharge_samples[_largest(truth)]
    rng = np.random.default_rng(0)
    # a unit that misses a third of its discharges and has a few false ones (no filter: imported)
    kept = np.sort(rng.choice(true, size=2 * true.size // 3, replace=False))
    false = rng.integers(0, recording.n_samples, size=5)
    unit = MotorUnit(3, np.union1d(kept, false), np.zeros(recording.n_samples, np.float32), FS)
    result = DecompositionResult((unit,), FS, recording.n_samples)
    before = rate_of_agreement(true, unit.discharge_samples, FS)

    edit = UpdateFilter.estimate(result, 3, recording)
    h = EditHistory(result)
    updated = h.do(edit).unit(3)
    after = rate_of_agreement(true, updated.discharge_samples, FS)
    assert before < 0.7
    assert after > 0.95, f"RoA with the truth {before:.2f} → {after:.2f}"
    assert updated.separation_filter is not None
    assert updated.sil > 0.9
    assert h.current.model is not None  # the result now says what the filter applies to
    assert h.undo() is result

    # the edit is plain data: saved and replayed it gives the same unit, bit for bit
    again = EditHistory.from_log(result, json.loads(json.dumps(h.redo_log))).current
    assert again.unit(3).pulse_train.tobytes() == updated.pulse_train.tobytes()
    assert np.array_equal(again.unit(3).discharge_samples, updated.discharge_samples)
    assert edit_from_dict(edit.as_dict()).label == edit.label


def test_an_updated_filter_applies_to_the_recording_as_the_decomposers_own(simulated) -> None:  # type: ignore[no-untyped-def]
    from bmiss_engine import Decomposer

    recording, truth = simulated
    true = truth.discharge_samples[_largest(truth)]
    result = DecompositionResult((MotorUnit(0, true, np.zeros(recording.n_samples, np.float32), FS),), FS,
                                 recording.n_samples)
    updated = UpdateFilter.estimate(result, 0, recording).apply(result)
    again = Decomposer().transform(updated, recording).unit(0)
    assert np.array_equal(again.discharge_samples, updated.unit(0).discharge_samples)
    assert np.allclose(again.pulse_train, updated.unit(0).pulse_train, atol=1e-4)


def test_keeping_the_discharges_only_replaces_the_pulse_train_and_filter(simulated) -> None:  # type: ignore[no-untyped-def]
    recording, truth = simulated
    true = truth.discharge_samples[_largest(truth)]
    # a window of the recording: the result's sample 0 is the recording's sample 1000
    part = true[(true >= 1000) & (true < 5000)] - 1000
    result = DecompositionResult((MotorUnit(0, part, np.zeros(4000, np.float32), FS),), FS, 4000)
    edit = UpdateFilter.estimate(result, 0, recording, offset_samples=1000, redetect=False)
    unit = edit.apply(result).unit(0)
    assert np.array_equal(unit.discharge_samples, part)
    assert float(np.mean(unit.pulse_train[part])) == pytest.approx(1.0, rel=1e-4)
    assert unit.pnr_db > 15


def test_an_update_that_cannot_be_made_says_why(simulated) -> None:  # type: ignore[no-untyped-def]
    recording, _ = simulated
    few = DecompositionResult((MotorUnit(0, [10, 500], np.zeros(recording.n_samples, np.float32), FS),), FS,
                              recording.n_samples)
    with pytest.raises(EditError, match="at least 3 discharges"):
        UpdateFilter.estimate(few, 0, recording)
    longer = DecompositionResult((_unit(0),), FS, recording.n_samples + 10)
    with pytest.raises(EditError, match="time window"):
        UpdateFilter.estimate(longer, 0, recording)
    with pytest.raises(EditError, match="no unit 9"):
        UpdateFilter.estimate(longer, 9, recording)
    edit = UpdateFilter(0, np.zeros(3, np.float32), np.zeros(5, np.float32), np.zeros(0, np.int64), 0)
    with pytest.raises(EditError, match="length"):
        edit.apply(few)
