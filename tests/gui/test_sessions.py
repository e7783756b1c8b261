"""Sessions in the window: save, reopen (menu, recent files, drop), the unsaved mark in the
title, Save/Discard/Cancel on close; a reopened session undoes and redoes as before."""

from __future__ import annotations

from tests.gui.conftest import require_gui

require_gui()

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QFileDialog

from bmiss_engine import DecompositionResult
from tests.gui.conftest import SMALL_CONFIG


def units_of(result: DecompositionResult | None) -> list[tuple[int, str, list[int]]]:
    assert result is not None
    return [(u.unit_id, u.status, u.discharge_samples.tolist()) for u in result.units]


@pytest.fixture
def new_window(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Another main window, as a second start of the application would make."""
    from bmiss_gui.main_window import MainWindow

    made = []

    def make():  # type: ignore[no-untyped-def]
        w = MainWindow(QSettings(str(tmp_path / f"settings{len(made)}.ini"), QSettings.Format.IniFormat))
        w.files.ask_unsaved = lambda: "discard"
        qtbot.addWidget(w)
        w.show()
        made.append(w)
        return w

    yield make
    for w in made:
        w.runner.shutdown()


@pytest.fixture
def edited(window, small_recording_file: Path, small_result: DecompositionResult):  # type: ignore[no-untyped-def]
    """The small recording decomposed, then reviewed: discharges removed from the first unit,
    statuses changed, one edit undone (so there is a redo branch), a unit selected."""
    w = window
    assert w.open_file(small_recording_file)
    w.config = SMALL_CONFIG.replace(sil_threshold=0.87)
    w.session.finish_decomposition(small_result)
    w.live_redraw.flush()
    first, second, third = (u.unit_id for u in small_result.units[:3])
    w.session.select((first,))
    w.views["pulse_train"].edit_box("remove", 0.5, 1.5, -1e9, 1e9)
    w.action_by_name["accept"].trigger()
    w.session.select((second, third))
    w.action_by_name["reject"].trigger()
    w.session.select((third,))
    w.action_by_name["flag"].trigger()
    w.action_by_name["undo"].trigger()  # unit `third` back to rejected; the flag is on the redo branch
    w.session.select((second,))
    return w


def test_saved_session_reopens_with_result_history_selection_and_settings(
    qtbot, edited, new_window, tmp_path: Path, small_result: DecompositionResult, errors
) -> None:
    w = edited
    assert w.isWindowModified()
    assert "[*]" in w.windowTitle()
    assert w.action_by_name["save_session"].isEnabled()
    history = w.session.history
    path = tmp_path / "study.bmiss"
    assert w.files.save_to(path)
    assert not w.isWindowModified()
    assert w.windowTitle().startswith("study.bmiss")
    assert w.recent_files()[0] == str(path.resolve())

    other = new_window()
    assert other.open_file(path), errors
    s = other.session
    assert s.recording is not None
    assert s.recording.source == w.session.recording.source
    assert units_of(s.result) == units_of(w.session.result)
    assert s.selected_ids == w.session.selected_ids
    assert other.config == w.config
    assert not other.isWindowModified()
    assert other.windowTitle().startswith("study.bmiss")
    assert s.history is not None
    assert s.history.log == history.log
    assert s.history.redo_log == history.redo_log
    # undo and redo walk the same states as in the window that saved
    assert other.action_by_name["redo"].isEnabled()
    assert other.action_by_name["redo"].text() == w.action_by_name["redo"].text()
    other.action_by_name["redo"].trigger()
    w.action_by_name["redo"].trigger()
    assert units_of(s.result) == units_of(w.session.result)
    assert other.isWindowModified()  # no longer the result saved
    other.action_by_name["undo"].trigger()
    assert not other.isWindowModified()  # back to it
    while other.action_by_name["undo"].isEnabled():
        other.action_by_name["undo"].trigger()
    assert units_of(s.result) == units_of(small_result)
    # the table shows the restored units
    table = other.views["units"].units_model
    other.live_redraw.flush()
    assert table.rowCount() == small_result.n_units


def test_save_as_and_ctrl_s_use_the_file_dialog_once(edited, tmp_path: Path, monkeypatch) -> None:
    w = edited
    asked: list[str] = []

    def get_save(*args: object, **kwargs: object) -> tuple[str, str]:
        asked.append(str(args[2]))
        return str(tmp_path / "named"), "BMISS session (*.bmiss)"

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(get_save))
    w.action_by_name["save_session"].trigger()  # no file yet: asks where
    assert len(asked) == 1
    assert asked[0].endswith(".bmiss")
    assert (tmp_path / "named.bmiss").is_file()
    assert not w.isWindowModified()
    w.action_by_name["accept"].trigger()
    assert w.isWindowModified()
    w.action_by_name["save_session"].trigger()  # saves in place
    assert len(asked) == 1
    assert not w.isWindowModified()
    w.action_by_name["save_session_as"].trigger()
    assert len(asked) == 2


def test_closing_with_unsaved_changes_asks_save_discard_or_cancel(edited, tmp_path: Path) -> None:
    w = edited
    answers = iter(["cancel", "save"])
    w.files.ask_unsaved = lambda: next(answers)
    w.files.path = tmp_path / "kept.bmiss"  # as if saved once: Save writes there without asking
    assert not w.close()  # Cancel: stays open with its work
    assert w.isVisible()
    assert w.isWindowModified()
    assert w.close()  # Save: written, then closed
    assert (tmp_path / "kept.bmiss").is_file()


def test_opening_another_file_offers_to_save_first(edited, small_recording_file: Path) -> None:
    w = edited
    answers: list[str] = []
    w.files.ask_unsaved = lambda: answers.append("asked") or "cancel"
    assert not w.open_file(small_recording_file)
    assert answers == ["asked"]
    assert w.session.history is not None
    assert w.isWindowModified()


def test_a_session_opens_from_recent_files_and_by_drop(qtbot, edited, new_window, tmp_path: Path) -> None:
    path = tmp_path / "dropped.bmiss"
    assert edited.files.save_to(path)
    other = new_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    other.dropEvent(QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                               Qt.KeyboardModifier.NoModifier))
    qtbot.waitUntil(lambda: other.session.history is not None, timeout=10_000)
    assert units_of(other.session.result) == units_of(edited.session.result)

    third = new_window()
    third.settings.setValue("recent_files", [str(path)])
    third._fill_recent_menu()
    third.recent_menu.actions()[0].trigger()
    assert units_of(third.session.result) == units_of(edited.session.result)


def test_a_session_whose_recording_is_gone_says_so(edited, new_window, tmp_path: Path, errors) -> None:
    import shutil

    recording = tmp_path / "moved.npz"
    shutil.copy(edited.session.recording.source, recording)
    edited.open_file(recording)  # discards the edits (the test's answer), opens the copy
    edited.session.finish_decomposition(DecompositionResult((), 2048.0, edited.session.recording.n_samples))
    path = tmp_path / "orphan.bmiss"
    assert edited.files.save_to(path)
    recording.unlink()
    other = new_window()
    assert not other.open_file(path)
    assert errors
    assert "missing or has changed" in errors[-1][1]
    assert other.session.recording is None


def test_a_damaged_session_file_gives_a_message(window, tmp_path: Path, errors) -> None:
    path = tmp_path / "broken.bmiss"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    assert not window.open_file(path)
    assert errors
    assert errors[-1][0] == "Cannot open the session"
    assert "broken.bmiss" in errors[-1][1]
    assert window.isVisible()


def test_title_names_the_recording_until_saved(window, small_recording_file: Path) -> None:
    assert window.open_file(small_recording_file)
    assert window.windowTitle() == f"{small_recording_file.name}[*] — BMISS"
    assert not window.isWindowModified()
    assert not window.action_by_name["save_session"].isEnabled()  # nothing to save before a result
    assert window.session.filtered_emg() is not None  # band-passed while the file was read


def test_session_reopens_its_mri(qtbot, edited, new_window, tmp_path: Path, errors) -> None:
    from bmiss_engine.anatomy import demo_anatomy_paths

    w = edited
    assert w.open_mri(demo_anatomy_paths().labels)
    path = tmp_path / "with_mri.bmiss"
    assert w.files.save_to(path)
    other = new_window()
    assert other.open_file(path), errors
    assert other.anatomy is not None
    assert other.anatomy.source.resolve() == demo_anatomy_paths().labels.resolve()
    assert other.config.inversion.fat_mm == pytest.approx(w.config.inversion.fat_mm)
    assert set(other.views["anatomy"].scene.surfaces) == {"skin", "fat", "muscle", "bone"}
