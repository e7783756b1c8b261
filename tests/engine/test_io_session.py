"""The session file restores exactly what was saved, and never corrupts an earlier save."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from bmiss_engine.errors import RecordingFormatError
from bmiss_engine.io.session import Session, load_session, save_session
from bmiss_engine.results import DecompositionResult, MotorUnit, SeparationModel

FS = 2048.0


def _result() -> DecompositionResult:
    rng = np.random.default_rng(0)
    units = tuple(
        MotorUnit(uid, np.sort(rng.choice(20000, 150, replace=False)), rng.random(20000).astype(np.float32), FS,
                  rng.standard_normal(640).astype(np.float32), status, lag)
        for uid, status, lag in [(0, "accepted", 0), (3, "flagged", -2), (7, "rejected", 5)]
    )
    model = SeparationModel((0, 1, 2, 5), 160, (20.0, 500.0), 50.0, FS)
    return DecompositionResult(units, FS, 20000, model, {"sil_threshold": 0.9}, {"source": "x.npz"})


@pytest.fixture
def recording_file(tmp_path: Path) -> Path:
    path = tmp_path / "rec.npz"
    path.write_bytes(b"pretend recording bytes")
    return path


def test_round_trip_restores_result_edits_settings_and_view(tmp_path: Path, recording_file: Path) -> None:
    edits = ({"kind": "remove_discharges", "unit_id": 3, "samples": [10, 20]}, {"kind": "set_status", "unit_id": 7,
                                                                                  "status": "rejected"})
    session = Session.for_recording(recording_file, _result(), edit_log=edits, settings={"n_iterations": 64},
                                    view_state={"selected_unit": 3})
    path = tmp_path / "study.bmiss"
    save_session(session, path)
    back = load_session(path)
    assert back.recording_path == str(recording_file.resolve())
    assert back.edit_log == edits
    assert back.settings == {"n_iterations": 64}
    assert back.view_state == {"selected_unit": 3}
    for a, b in zip(session.result.units, back.result.units, strict=True):
        assert (a.unit_id, a.status, a.source_lag_samples) == (b.unit_id, b.status, b.source_lag_samples)
        np.testing.assert_array_equal(a.discharge_samples, b.discharge_samples)
        np.testing.assert_array_equal(a.pulse_train, b.pulse_train)
        np.testing.assert_array_equal(a.separation_filter, b.separation_filter)  # type: ignore[arg-type]
    assert back.result.model is not None
    assert back.result.model.channels == (0, 1, 2, 5)
    assert back.result.model.notch_hz == 50.0
    assert back.locate_recording(path) == recording_file.resolve()


def test_recording_is_found_beside_a_moved_session_and_a_changed_one_is_refused(
    tmp_path: Path, recording_file: Path
) -> None:
    session = Session.for_recording(recording_file, _result())
    moved = tmp_path / "moved"
    moved.mkdir()
    save_session(session, moved / "s.bmiss")
    shutil.move(recording_file, moved / recording_file.name)
    assert load_session(moved / "s.bmiss").locate_recording(moved / "s.bmiss") == moved / recording_file.name
    (moved / recording_file.name).write_bytes(b"different content")
    assert load_session(moved / "s.bmiss").locate_recording(moved / "s.bmiss") is None


def test_a_failed_save_leaves_the_previous_session_intact(
    tmp_path: Path, recording_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.bmiss"
    save_session(Session.for_recording(recording_file, _result(), settings={"v": 1}), path)
    before = path.read_bytes()

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(zipfile.ZipFile, "writestr", crash)
    with pytest.raises(OSError, match="disk full"):
        save_session(Session.for_recording(recording_file, _result(), settings={"v": 2}), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.npz", "s.bmiss"]  # no temp file left


@pytest.mark.parametrize("payload", [b"", b"not a zip at all", b"PK\x03\x04truncated"])
def test_damaged_session_files_give_one_clear_error(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "bad.bmiss"
    path.write_bytes(payload)
    with pytest.raises(RecordingFormatError, match="not a BMISS session file"):
        load_session(path)


def test_a_newer_session_format_is_refused_by_name(tmp_path: Path, recording_file: Path) -> None:
    path = tmp_path / "s.bmiss"
    save_session(Session.for_recording(recording_file, _result()), path)
    with zipfile.ZipFile(path) as archive:
        result = archive.read("result.npz")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("session.json", '{"format": "bmiss-session", "version": 99, "recording": {}}')
        archive.writestr("result.npz", result)
    with pytest.raises(RecordingFormatError, match="version 99 is newer"):
        load_session(path)


def test_a_damaged_result_inside_a_session_names_the_session(tmp_path: Path) -> None:
    path = tmp_path / "s.bmiss"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("session.json", '{"format": "bmiss-session", "version": 1, "recording": {"path": "r", "sha256": ""}}')
        archive.writestr("result.npz", b"PK\x03\x04 not an npz")
    with pytest.raises(RecordingFormatError, match=r"s\.bmiss: the session's result is damaged"):
        load_session(path)


def test_the_decomposition_output_and_redo_branch_round_trip(tmp_path: Path, recording_file: Path) -> None:
    from bmiss_engine.editing import EditHistory, RemoveDischarges, SetStatus

    initial = _result()
    history = EditHistory(initial)
    history.do(RemoveDischarges(3, tuple(initial.unit(3).discharge_samples[:5])))
    history.do(SetStatus((0, 7), "flagged"))
    history.undo()
    session = Session.for_recording(recording_file, history.current, edit_log=tuple(history.log),
                                    initial_result=initial, redo_log=tuple(history.redo_log))
    save_session(session, tmp_path / "s.bmiss")
    back = load_session(tmp_path / "s.bmiss")
    assert back.initial_result is not None
    assert back.redo_log == ({"kind": "set_status", "unit_ids": [0, 7],
                                                                  "status": "flagged"},)
    rebuilt = EditHistory.from_log(back.initial_result, back.edit_log, back.redo_log)
    np.testing.assert_array_equal(rebuilt.current.unit(3).discharge_samples, history.current.unit(3).discharge_samples)
    rebuilt.undo()
    np.testing.assert_array_equal(rebuilt.current.unit(3).discharge_samples, initial.unit(3).discharge_samples)
    rebuilt.redo(), rebuilt.redo()
    assert [u.status for u in rebuilt.current.units] == ["flagged", "flagged", "flagged"]


def test_a_session_without_the_decomposition_output_still_loads(tmp_path: Path, recording_file: Path) -> None:
    save_session(Session.for_recording(recording_file, _result()), tmp_path / "s.bmiss")
    back = load_session(tmp_path / "s.bmiss")
    assert back.initial_result is None
    assert back.redo_log == ()
    with zipfile.ZipFile(tmp_path / "s.bmiss") as archive:
        assert "initial.npz" not in archive.namelist()
