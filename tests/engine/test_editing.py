from __future__ import annotations

import json

import numpy as np
import pytest

from bmiss_engine.editing import (
    AddDischarges,
    DeleteUnit,
    EditError,
    EditHistory,
    MergeUnits,
    RemoveDischarges,
    SetStatus,
    discharges_in_box,
    edit_from_dict,
    largest_peak,
    replay,
)
from bmiss_engine.results import DecompositionResult, MotorUnit
from bmiss_engine.review import smoothed_rate_hz, spike_triggered_average

FS = 2048.0
N = 20480


def _unit(unit_id: int, period: int, offset: int, seed: int) -> MotorUnit:
    rng = np.random.default_rng(seed)
    d = np.arange(300 + offset, N - 300, period)
    pt = np.abs(rng.standard_normal(N)).astype(np.float32) * 0.1
    pt[d] = 1.0 + rng.standard_normal(d.size).astype(np.float32) * 0.05
    return MotorUnit(unit_id, d, pt, FS)


@pytest.fixture
def result() -> DecompositionResult:
    units = (_unit(0, 150, 0, 0), _unit(1, 200, 37, 1), _unit(2, 180, 91, 2))
    return DecompositionResult(units, FS, N)


def _snapshot(r: DecompositionResult) -> list[tuple[int, str, list[int], float]]:
    return [(u.unit_id, u.status, u.discharge_samples.tolist(), u.sil) for u in r.units]


def test_remove_then_undo_restores_the_exact_result(result: DecompositionResult) -> None:
    h = EditHistory(result)
    before = _snapshot(result)
    u = result.unit(0)
    gone = u.discharge_samples[10:20]
    after = h.do(RemoveDischarges(0, gone))
    assert after.unit(0).n_discharges == u.n_discharges - 10
    assert not np.isin(gone, after.unit(0).discharge_samples).any()
    assert after.unit(0).sil < u.sil  # spikes left among the noise peaks lower SIL
    assert h.undo() is result
    assert _snapshot(h.current) == before
    assert h.redo() is after


def test_add_discharges_adds_and_undo_removes(result: DecompositionResult) -> None:
    h = EditHistory(result)
    new = h.do(AddDischarges(1, [5, 7, 5]))
    assert {5, 7} <= set(new.unit(1).discharge_samples.tolist())
    assert new.unit(1).n_discharges == result.unit(1).n_discharges + 2
    assert h.undo().unit(1).discharge_samples.tolist() == result.unit(1).discharge_samples.tolist()
    with pytest.raises(EditError):
        AddDischarges(1, [N + 5]).apply(result)


def test_status_delete_and_merge(result: DecompositionResult) -> None:
    h = EditHistory(result)
    h.do(SetStatus((1, 2), "flagged"))
    assert [u.status for u in h.current.units] == ["unreviewed", "flagged", "flagged"]
    h.do(DeleteUnit(2))
    assert [u.unit_id for u in h.current.units] == [0, 1]
    merged = h.do(MergeUnits((0, 1)))
    assert [u.unit_id for u in merged.units] == [0]
    expected = np.union1d(result.unit(0).discharge_samples, result.unit(1).discharge_samples)
    assert merged.unit(0).n_discharges <= expected.size
    assert set(merged.unit(0).discharge_samples.tolist()) <= set(expected.tolist())
    assert merged.unit(0).n_discharges > result.unit(0).n_discharges
    for _ in range(3):
        h.undo()
    assert h.current is result
    assert not h.can_undo


def test_merge_counts_coincident_discharges_once(result: DecompositionResult) -> None:
    u = result.unit(0)
    twin = u.replace(unit_id=9, discharge_samples=u.discharge_samples + 2)
    merged = MergeUnits((0, 9)).apply(result.with_units((u, twin)))
    assert merged.unit(0).discharge_samples.tolist() == u.discharge_samples.tolist()


def test_new_edit_after_undo_drops_the_redo_branch(result: DecompositionResult) -> None:
    h = EditHistory(result)
    h.do(DeleteUnit(0))
    h.undo()
    h.do(SetStatus((0,), "rejected"))
    assert not h.can_redo
    assert [e.kind for e in h.edits] == ["set_status"]


def test_invalid_edit_changes_nothing(result: DecompositionResult) -> None:
    h = EditHistory(result)
    with pytest.raises(EditError):
        h.do(DeleteUnit(42))
    with pytest.raises(EditError):
        SetStatus((0,), "maybe")  # type: ignore[arg-type]
    with pytest.raises(EditError):
        MergeUnits((1, 1))
    assert h.current is result
    assert not h.can_undo


def test_log_is_json_and_replays_to_the_same_result(result: DecompositionResult) -> None:
    h = EditHistory(result)
    h.do(RemoveDischarges(0, result.unit(0).discharge_samples[:5]))
    h.do(AddDischarges(2, [1000]))
    h.do(SetStatus((1,), "rejected"))
    h.do(MergeUnits((0, 2)))
    log = json.loads(json.dumps(h.log))
    assert [edit_from_dict(e) for e in log] == list(h.edits)
    assert _snapshot(replay(result, log)) == _snapshot(h.current)


def test_box_and_peak_helpers(result: DecompositionResult) -> None:
    u = result.unit(0)
    inside = discharges_in_box(u, 1000, 3000, 0.5, 2.0)
    assert inside.tolist() == [s for s in u.discharge_samples.tolist() if 1000 <= s <= 3000]
    assert discharges_in_box(u, 1000, 3000, 5.0, 6.0).size == 0
    removed = RemoveDischarges(0, inside).apply(result).unit(0)
    gap_peak = largest_peak(removed, 1000, 3000)
    assert gap_peak in inside.tolist()  # the largest free peak is a discharge just removed
    assert largest_peak(u, 10, 5) is None


def test_spike_triggered_average_recovers_a_template() -> None:
    rng = np.random.default_rng(0)
    template = rng.standard_normal((4, 21)).astype(np.float32)
    d = np.arange(100, 9000, 173)
    emg = rng.standard_normal((4, 9100)).astype(np.float32) * 0.05
    for s in d:
        emg[:, s - 10 : s + 11] += template
    sta = spike_triggered_average(emg, d, 10)
    assert sta.shape == (4, 21)
    np.testing.assert_allclose(sta, template, atol=0.05)


def test_smoothed_rate_reads_the_steady_rate() -> None:
    d = np.arange(0, 20 * 2048, 2048 // 16)  # 16 Hz
    t, rate = smoothed_rate_hz(d, 2048.0, 20 * 2048)
    middle = rate[(t > 3) & (t < 17)]
    assert np.allclose(middle, 16.0, rtol=0.05)


def test_a_recording_shorter_than_the_window_has_a_rate_per_time() -> None:
    """np.convolve(mode="same") gave the 1 s kernel's length for a 0.7 s recording, and the
    rates view failed on the mismatched arrays."""
    t, rate = smoothed_rate_hz(np.arange(0, 1400, 128), 2048.0, 1434)
    assert t.shape == rate.shape == (15,)
    assert rate.max() > 0


def test_history_rebuilt_from_its_logs_undoes_and_redoes_as_before(result: DecompositionResult) -> None:
    h = EditHistory(result)
    h.do(RemoveDischarges(0, tuple(result.units[0].discharge_samples[:3])))
    h.do(SetStatus((1,), "rejected"))
    h.do(MergeUnits((0, 2)))
    h.do(DeleteUnit(1))
    h.undo()
    h.undo()  # two edits on the redo branch
    log, redo_log = json.loads(json.dumps(h.log)), json.loads(json.dumps(h.redo_log))
    assert len(log) == 2
    assert [e["kind"] for e in redo_log] == ["merge_units", "delete_unit"]

    back = EditHistory.from_log(result, log, redo_log)
    assert back.initial is result
    assert _snapshot(back.current) == _snapshot(h.current)
    assert back.undo_label == h.undo_label
    assert back.redo_label == h.redo_label
    back.redo(), h.redo()
    assert _snapshot(back.current) == _snapshot(h.current)
    back.undo(), back.undo(), back.undo()
    assert not back.can_undo
    assert _snapshot(back.current) == _snapshot(result)
