"""Bare EMG matrices (CSV, NPY): the import dialog asks for the grid and the rate, refuses a grid
that does not match the channel count (and says why), and the file opens as described."""

from __future__ import annotations

from tests.gui.conftest import require_gui

require_gui()

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from bmiss_engine.io import MatrixShape, TabularDescription, open_recording, peek_matrix
from bmiss_engine.io.matrix_import import guess_shape
from bmiss_gui.dialogs.import_dialog import ImportDialog


@pytest.fixture
def emg_uv(small_recording_file: Path) -> np.ndarray:
    """The small recording's EMG in µV, (32 channels, n_samples)."""
    return open_recording(small_recording_file).emg_v.astype(np.float64) * 1e6


def test_shape_is_read_without_the_values_and_the_grid_guessed(tmp_path: Path, emg_uv: np.ndarray) -> None:
    np.save(tmp_path / "m.npy", emg_uv)
    csv = tmp_path / "m.csv"
    np.savetxt(csv, emg_uv[:, :500].T, delimiter=",", header=",".join(f"ch{i}" for i in range(32)), comments="")
    assert peek_matrix(tmp_path / "m.npy") == MatrixShape(32, emg_uv.shape[1], False)
    assert peek_matrix(csv) == MatrixShape(32, 500, True)
    assert [guess_shape(n) for n in (64, 32, 65, 128, 7)] == [(8, 8), (8, 4), (13, 5), (16, 8), (7, 1)]


def test_the_dialog_refuses_a_grid_that_does_not_match_and_says_why(qtbot) -> None:
    dialog = ImportDialog("emg.csv", MatrixShape(64, 20480, True))
    qtbot.addWidget(dialog)
    # 64 channels: the common OT Bioelettronica 13×5 grid (one corner empty) is the default
    assert dialog.grid_code.currentData() == "GR08MM1305"
    assert (dialog.rows.value(), dialog.columns.value(), dialog.ied.value()) == (13, 5, 8.0)
    assert not dialog.rows.isEnabled()
    assert dialog.ok_button.isEnabled()
    dialog.grid_code.setCurrentIndex(dialog.grid_code.findData(""))  # custom
    assert dialog.rows.isEnabled()
    dialog.rows.setValue(8)
    dialog.columns.setValue(7)
    assert not dialog.ok_button.isEnabled()
    assert "8 × 7 = 56 electrodes" in dialog.problem.text()
    assert "64 channels" in dialog.problem.text()
    dialog.columns.setValue(8)
    assert dialog.ok_button.isEnabled()
    assert dialog.problem.isHidden()
    dialog.fs.setValue(4096)
    dialog.ied.setValue(10)
    dialog.unit.setCurrentIndex(dialog.unit.findData("mV"))
    assert dialog.description() == TabularDescription("", 8, 8, 10.0, 4096.0, "mV")


def _drive_import_dialog(rows: int, columns: int, fs: float, seen: list[str]) -> None:
    """What a user does in the modal dialog: a custom grid, the rate, Open."""
    dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, ImportDialog) and w.isVisible())
    dialog.grid_code.setCurrentIndex(dialog.grid_code.findData(""))
    dialog.rows.setValue(rows)
    dialog.columns.setValue(columns + 1)
    seen.append(dialog.problem.text())  # the mismatch is explained before it is fixed
    dialog.columns.setValue(columns)
    dialog.fs.setValue(fs)
    dialog.ok_button.click()


@pytest.mark.parametrize("suffix", [".csv", ".npy"])
def test_opening_a_bare_matrix_asks_then_opens_it_as_described(
    qtbot, window, tmp_path: Path, emg_uv: np.ndarray, suffix: str, errors
) -> None:
    path = tmp_path / f"bare{suffix}"
    if suffix == ".npy":
        np.save(path, emg_uv)
    else:
        np.savetxt(path, emg_uv.T, delimiter=";", fmt="%.4f")
    seen: list[str] = []
    QTimer.singleShot(200, lambda: _drive_import_dialog(8, 4, 2048.0, seen))
    assert window.open_file(path), errors
    rec = window.session.recording
    assert rec is not None
    assert rec.n_channels == 32
    assert rec.grid.shape == (8, 4)
    assert rec.sampling_rate_hz == 2048.0
    np.testing.assert_allclose(rec.emg_v * 1e6, emg_uv, atol=1e-3 if suffix == ".csv" else 1e-6)
    assert seen
    assert "rows × columns must equal 32" in seen[0]
    # the description is kept with the session, so the file reopens without asking; the spacing
    # stays that of the 32-electrode grid proposed first (HD10MM0804, 10 mm)
    assert window.files.recording_description == TabularDescription("", 8, 4, 10.0, 2048.0, "uV")


def test_cancelling_the_import_keeps_what_was_open(window, tmp_path: Path, emg_uv: np.ndarray,
                                                   small_recording_file: Path) -> None:
    assert window.open_file(small_recording_file)
    np.save(tmp_path / "bare.npy", emg_uv)
    window.files.ask_import = lambda path, shape: None
    assert not window.open_file(tmp_path / "bare.npy")
    assert window.session.recording is not None
    assert window.session.recording.source == str(small_recording_file)


def test_a_session_of_a_bare_matrix_reopens_without_asking(  # type: ignore[no-untyped-def]
    window, tmp_path: Path, emg_uv: np.ndarray, small_result, small_recording_file: Path, errors
) -> None:
    np.save(tmp_path / "bare.npy", emg_uv)
    window.files.ask_import = lambda path, shape: TabularDescription("", 8, 4, 8.0, 2048.0, "uV")
    assert window.open_file(tmp_path / "bare.npy")
    window.session.finish_decomposition(small_result)
    assert window.files.save_to(tmp_path / "bare.bmiss")
    assert window.open_file(small_recording_file)  # something else in between
    window.files.ask_import = lambda path, shape: pytest.fail("asked again")
    assert window.open_file(tmp_path / "bare.bmiss"), errors
    assert window.session.recording.grid.shape == (8, 4)
    assert window.session.result.n_units == small_result.n_units
