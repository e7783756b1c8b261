"""Files from other tools in the window: a file of several grids asks which grid (and a session
remembers the choice); another tool's decomposition opens for review, with the EMG the file
holds (DEMUSE, MUedit, openhdemg) or on a recording (discharge CSV, BIDS events)."""

from __future__ import annotations

from tests.gui.conftest import require_gui

require_gui()

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from bmiss_engine import DecompositionResult, MotorUnit, Recording
from bmiss_engine.io import open_recording, open_result, write_npz, write_result
from bmiss_gui.dialogs.grid_choice import GridChoiceDialog
from tests.engine.test_io_otb import N_TOTAL, _adapter, _device_xml, _otb_plus

GRIDS = [("GR08MM1305", 64), ("GR10MM0804", 32)]


@pytest.fixture
def two_grid_otb(tmp_path: Path) -> Path:
    """An .otb+ of a 13×5 grid (64 channels) and an 8×4 grid (32 channels), 2 s at 2048 Hz."""
    rng = np.random.default_rng(3)
    raw = rng.integers(-200, 200, (N_TOTAL, 4096)).astype(np.int16)
    adapters = _adapter(0, 150, [GRIDS[0][0]] * GRIDS[0][1]) + _adapter(64, 150, [GRIDS[1][0]] * GRIDS[1][1])
    path = tmp_path / "two.otb+"
    _otb_plus(path, _device_xml(adapters), raw)
    return path


def _visible(kind: type) -> object:
    return next(w for w in QApplication.topLevelWidgets() if isinstance(w, kind) and w.isVisible())


def _choose_grid(index: int | None, seen: list[list[str]]) -> None:
    """What a user does in the modal grid dialog: read the rows, pick one (None: Cancel)."""
    dialog = _visible(GridChoiceDialog)
    assert isinstance(dialog, GridChoiceDialog)
    seen.append([dialog.grids.item(i).text() for i in range(dialog.grids.count())])
    seen.append([str(dialog.grid_index())])  # the first grid is the default
    if index is None:
        dialog.buttons.rejected.emit()
        return
    dialog.grids.setCurrentRow(index)
    dialog.ok_button.click()


def _result(recording: Recording, n_units: int = 3, seed: int = 5) -> DecompositionResult:
    """Units with regular discharges and pulse trains peaking there, on ``recording``."""
    rng = np.random.default_rng(seed)
    fs, n = recording.sampling_rate_hz, recording.n_samples
    units = []
    for uid in range(n_units):
        step = int(fs / (8 + 3 * uid))
        discharges = np.arange(200 + 37 * uid, n - 200, step, dtype=np.int64)
        train = rng.normal(0, 0.05, n).astype(np.float32) ** 2
        train[discharges] = 1.0
        units.append(MotorUnit(uid, discharges, train, fs))
    return DecompositionResult(tuple(units), fs, n)


def _discharges(result: DecompositionResult | None) -> list[list[int]]:
    assert result is not None
    return [u.discharge_samples.tolist() for u in result.units]


def test_a_file_of_several_grids_asks_which_and_the_session_remembers(  # type: ignore[no-untyped-def]
    window, two_grid_otb: Path, small_recording_file: Path, tmp_path: Path, errors
) -> None:
    seen: list[list[str]] = []
    QTimer.singleShot(200, lambda: _choose_grid(1, seen))
    assert window.open_file(two_grid_otb), errors
    rec = window.session.recording
    assert (rec.grid.name, rec.n_channels, rec.grid.shape) == ("GR10MM0804", 32, (8, 4))
    np.testing.assert_array_equal(rec.emg_v, open_recording(two_grid_otb, grid_index=1).emg_v)
    assert seen[0] == ["Grid 1: GR08MM1305 · 13×5 · 64 channels · 2048 Hz",
                       "Grid 2: GR10MM0804 · 8×4 · 32 channels · 2048 Hz"]
    assert seen[1] == ["0"]
    assert window.files.grid_index == 1
    assert "two.otb+ (grid 2: GR10MM0804)" in window.file_label.text()

    # the choice is saved with the session, and reopening it asks nothing
    window.session.finish_decomposition(_result(rec))
    assert window.files.save_to(tmp_path / "two.bmiss")
    assert window.open_file(small_recording_file)
    window.files.ask_grid = lambda path, grids: pytest.fail("asked again")
    assert window.open_file(tmp_path / "two.bmiss"), errors
    assert (window.session.recording.grid.name, window.session.recording.n_channels) == ("GR10MM0804", 32)
    assert window.files.grid_index == 1
    assert window.session.result.n_units == 3


def test_cancelling_the_grid_choice_keeps_what_was_open(  # type: ignore[no-untyped-def]
    window, two_grid_otb: Path, small_recording_file: Path, errors
) -> None:
    assert window.open_file(small_recording_file)
    window.session.finish_decomposition(_result(window.session.recording))
    before = window.session.result
    seen: list[list[str]] = []
    QTimer.singleShot(200, lambda: _choose_grid(None, seen))
    assert not window.open_file(two_grid_otb)
    assert seen
    assert window.session.recording.source == str(small_recording_file)
    assert window.session.result is before
    assert not errors


@pytest.mark.parametrize("name", ["units.mat", "units_muedit.mat", "units.json"])
def test_another_tools_decomposition_opens_with_its_emg_for_review(  # type: ignore[no-untyped-def]
    window, small_recording_file: Path, tmp_path: Path, name: str, errors
) -> None:
    """DEMUSE + MUedit .mat, MUedit's own .mat, openhdemg .json: EMG and units in one file."""
    recording = open_recording(small_recording_file)
    written = _result(recording)
    path = tmp_path / name
    write_result(written, path, recording)
    assert window.open_file(path), errors
    s = window.session
    assert s.recording.n_channels == recording.n_channels
    assert s.recording.n_samples == recording.n_samples
    assert _discharges(s.result) == _discharges(open_result(path)) == _discharges(written)
    # the pulse trains the file keeps are shown
    np.testing.assert_allclose(s.result.units[0].pulse_train, written.units[0].pulse_train, rtol=1e-5, atol=1e-6)
    assert window.units_view.model().rowCount() == 3  # the units table lists them
    assert not window.files.dirty

    # reviewed and edited with undo, saved as a session, reopened
    s.select((1,))
    window.action_by_name["delete"].trigger()
    assert [u.unit_id for u in s.result.units] == [0, 2]
    window.action_by_name["undo"].trigger()
    assert [u.unit_id for u in s.result.units] == [0, 1, 2]
    s.select((2,))
    window.action_by_name["reject"].trigger()
    assert window.files.dirty
    assert window.files.save_to(tmp_path / "review.bmiss")
    assert window.open_file(small_recording_file)
    assert window.open_file(tmp_path / "review.bmiss"), errors
    assert _discharges(window.session.result) == _discharges(written)
    assert window.session.result.units[2].status == "rejected"
    assert window.session.history.can_undo


@pytest.mark.parametrize("name", ["units.csv", "units_events.tsv"])
def test_a_discharge_table_opens_on_the_open_recording_when_it_fits(  # type: ignore[no-untyped-def]
    window, small_recording_file: Path, tmp_path: Path, name: str, errors
) -> None:
    assert window.open_file(small_recording_file)
    recording = window.session.recording
    written = _result(recording)
    path = tmp_path / name
    write_result(written, path)
    window.files.ask_recording_for = lambda path: pytest.fail("the open recording fits")
    assert window.open_file(path), errors
    assert window.session.recording is recording
    assert _discharges(window.session.result) == _discharges(open_result(path)) == _discharges(written)
    # a table keeps no length: the units span the whole recording
    assert window.session.result.n_samples == recording.n_samples
    assert window.session.result.units[0].pulse_train.shape == (recording.n_samples,)


def test_a_discharge_table_asks_for_its_recording_otherwise(  # type: ignore[no-untyped-def]
    window, small_recording_file: Path, tmp_path: Path, errors
) -> None:
    recording = open_recording(small_recording_file)
    written = _result(recording)
    table = tmp_path / "units.csv"
    write_result(written, table)
    short = tmp_path / "short.npz"
    write_npz(recording.crop(0.0, 1.0), short)

    # nothing open: the recording is asked for
    asked: list[Path] = []
    window.files.ask_recording_for = lambda path: asked.append(path) or small_recording_file
    assert window.open_file(table), errors
    assert asked == [table]
    assert window.session.recording.source == str(small_recording_file)
    assert _discharges(window.session.result) == _discharges(written)

    # a recording the units do not fit: one line, and what was open stays
    assert window.open_file(short)
    window.files.ask_recording_for = lambda path: short
    before = window.session.recording
    assert not window.open_file(table)
    assert window.session.recording is before
    assert window.session.result is None
    title, text = errors[-1]
    assert title == "Cannot open the decomposition"
    assert "\n" not in text
    assert "units.csv" in text
    assert "not this recording's decomposition" in text

    # Cancel in the file dialog: nothing changes
    window.files.ask_recording_for = lambda path: None
    assert not window.open_file(table)
    assert window.session.recording is before


def test_a_muedit_file_of_two_grids_opens_the_units_of_the_grid_chosen(  # type: ignore[no-untyped-def]
    window, tmp_path: Path, errors
) -> None:
    import scipy.io

    from tests.engine.test_io_mat import _muedit_variables

    variables = _muedit_variables(np.random.default_rng(2))
    signal = variables["signal"]
    # 2 s rather than the engine test's 400 samples: the rates view smooths over 1 s
    for key in ("data", "target", "path"):
        signal[key] = np.pad(signal[key], ((0, 0), (0, 4096 - signal[key].shape[1])))
    for i in range(signal["Pulsetrain"].size):
        signal["Pulsetrain"].flat[i] = np.pad(signal["Pulsetrain"].flat[i], ((0, 0), (0, 4096 - 400)))
    path = tmp_path / "muedit.mat"
    scipy.io.savemat(path, variables)
    seen: list[list[str]] = []
    QTimer.singleShot(200, lambda: _choose_grid(1, seen))
    assert window.open_file(path), errors
    assert seen[0][1].startswith("Grid 2: GR10MM0808 · 8×8 · 64 channels")
    assert window.session.recording.grid.name == "GR10MM0808"
    assert _discharges(window.session.result) == _discharges(open_result(path, grid_index=1)) == [[29, 129]]


@pytest.mark.parametrize(("name", "reader"), [("units.mat", "bmiss_engine.io.matfiles.load_mat"),
                                              ("units_muedit.mat", "bmiss_engine.io.matfiles.load_mat"),
                                              ("units.json", "bmiss_engine.io.openhdemg.read_openhdemg_file")])
def test_a_file_with_emg_and_units_is_read_once(  # type: ignore[no-untyped-def]
    window, small_recording_file: Path, tmp_path: Path, name: str, reader: str, monkeypatch: pytest.MonkeyPatch, errors
) -> None:
    recording = open_recording(small_recording_file)
    written = _result(recording)
    path = tmp_path / name
    write_result(written, path, recording)
    real = _resolve(reader)
    calls: list[Path] = []

    def counted(p: Path) -> object:
        calls.append(Path(p))
        return real(p)

    monkeypatch.setattr(reader, counted)
    assert window.open_file(path), errors
    assert calls == [path]  # the EMG and the units from one reading
    assert window.session.recording.n_channels == recording.n_channels
    assert _discharges(window.session.result) == _discharges(written)
    assert window.units_view.model().rowCount() == 3


def _resolve(dotted: str) -> object:
    import importlib

    module, _, attr = dotted.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def _bmiss_result(recording: Recording, source: str | Path, path: Path) -> DecompositionResult:
    """A result as ``bmiss decompose --out X.npz`` writes it: its provenance names the recording."""
    result = replace(_result(recording), provenance={"source": str(source), "wall_time_s": 1.0})
    write_result(result, path)
    return result


def test_a_bmiss_result_opens_on_the_recording_it_names_for_review(  # type: ignore[no-untyped-def]
    window, small_recording_file: Path, tmp_path: Path, errors
) -> None:
    recording = open_recording(small_recording_file)
    path = tmp_path / "small_result.npz"
    written = _bmiss_result(recording, small_recording_file, path)
    window.files.ask_recording_for = lambda p: pytest.fail("the result names its recording")
    assert window.open_file(path), errors
    s = window.session
    assert s.recording.source == str(small_recording_file)
    assert s.recording.n_channels == recording.n_channels
    assert _discharges(s.result) == _discharges(written)
    np.testing.assert_array_equal(s.result.units[1].pulse_train, written.units[1].pulse_train)
    assert window.units_view.model().rowCount() == 3
    assert not window.files.dirty
    assert not s.history.can_undo  # a fresh result: undo starts here
    assert window.recent.paths()[0] == str(path.resolve())

    # edited with undo, saved as a session, reopened
    s.select((0,))
    window.action_by_name["delete"].trigger()
    assert [u.unit_id for u in s.result.units] == [1, 2]
    assert window.units_view.model().rowCount() == 2
    window.action_by_name["undo"].trigger()
    assert [u.unit_id for u in s.result.units] == [0, 1, 2]
    s.select((1,))
    window.action_by_name["reject"].trigger()
    assert window.files.dirty
    assert window.files.save_to(tmp_path / "reviewed.bmiss")
    assert window.open_file(small_recording_file)
    assert window.open_file(tmp_path / "reviewed.bmiss"), errors
    assert _discharges(window.session.result) == _discharges(written)
    assert window.session.result.units[1].status == "rejected"
    assert window.session.history.can_undo


def test_a_bmiss_result_whose_recording_is_gone_asks_for_it(  # type: ignore[no-untyped-def]
    window, small_recording_file: Path, tmp_path: Path, errors
) -> None:
    recording = open_recording(small_recording_file)
    path = tmp_path / "moved_result.npz"
    written = _bmiss_result(recording, tmp_path / "elsewhere" / "moved.npz", path)

    # Cancel: nothing opens
    asked: list[Path] = []
    window.files.ask_recording_for = lambda p: asked.append(p)
    assert not window.open_file(path)
    assert asked == [path]
    assert window.session.result is None
    assert "moved.npz is missing or unreadable" in window.statusBar().currentMessage()

    window.files.ask_recording_for = lambda p: asked.append(p) or small_recording_file
    assert window.open_file(path), errors
    assert asked == [path, path]
    assert window.session.recording.source == str(small_recording_file)
    assert _discharges(window.session.result) == _discharges(written)
    assert window.units_view.model().rowCount() == 3
    assert not errors


def test_a_unit_summary_opens_the_discharge_csv_beside_it_or_says_which_it_looked_for(  # type: ignore[no-untyped-def]
    window, small_recording_file: Path, tmp_path: Path, errors
) -> None:
    assert window.open_file(small_recording_file)
    recording = window.session.recording
    written = _result(recording)
    summary = tmp_path / "rec_a_summary.csv"
    write_result(written, summary)  # as a batch writes them: X_summary.csv beside X_discharges.csv
    write_result(written, tmp_path / "rec_a_discharges.csv")
    window.files.ask_recording_for = lambda p: pytest.fail("the open recording fits")
    assert window.open_file(summary), errors
    assert window.session.recording is recording
    assert _discharges(window.session.result) == _discharges(written)
    assert window.units_view.model().rowCount() == 3
    window.session.select((2,))
    window.action_by_name["delete"].trigger()
    assert [u.unit_id for u in window.session.result.units] == [0, 1]
    window.action_by_name["undo"].trigger()
    assert window.session.result.n_units == 3

    # a summary alone: one line naming the file looked for, and what was open stays
    lone = tmp_path / "rec_b_summary.csv"
    write_result(written, lone)
    before = window.session.result
    assert not window.open_file(lone)
    assert window.session.result is before
    title, text = errors[-1]
    assert title == "Cannot open the decomposition"
    assert "\n" not in text
    assert "rec_b_discharges.csv" in text
    assert "rec_b_summary.csv" in text
