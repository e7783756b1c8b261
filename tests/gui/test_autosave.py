"""Autosave and crash recovery: a window that dies without closing leaves its last autosave,
and the next start restores the edits exactly (discharges, statuses, undo and redo)."""

from __future__ import annotations

from tests.gui.conftest import require_gui

require_gui()

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bmiss_engine import DecompositionResult
from bmiss_engine.io import write_result

# run in a separate process, which then dies without any cleanup (os._exit): a real crash
_CRASHING_SESSION = textwrap.dedent("""
    import json, os, sys
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication
    from bmiss_engine.io import open_result
    from bmiss_gui.main_window import MainWindow

    recording, result, out, settings = sys.argv[1:5]
    app = QApplication([])
    w = MainWindow(QSettings(settings, QSettings.Format.IniFormat))
    w.show()
    assert w.open_file(recording)
    w.session.finish_decomposition(open_result(result))
    ids = [u.unit_id for u in w.session.result.units]
    w.session.select((ids[0],))
    w.views["pulse_train"].edit_box("remove", 0.4, 1.6, -1e9, 1e9)
    w.action_by_name["accept"].trigger()
    w.session.select((ids[1], ids[2]))
    w.action_by_name["reject"].trigger()
    w.action_by_name["flag"].trigger()
    w.action_by_name["undo"].trigger()  # a redo branch too
    w.session.select((ids[2],))
    w.autosave.save_now(wait=True)
    assert w.autosave.saves == 1, w.autosave.last_error
    h = w.session.history
    state = {
        "units": [[u.unit_id, u.status, u.discharge_samples.tolist()] for u in h.current.units],
        "log": h.log, "redo_log": h.redo_log, "selected": list(w.session.selected_ids),
    }
    with open(out, "w") as fh:
        json.dump(state, fh)
    sys.stdout.flush()
    os._exit(3)  # no close, no cleanup: the recovery file and its lock stay behind
""")


def units_of(result: DecompositionResult | None) -> list[list[object]]:
    assert result is not None
    return [[u.unit_id, u.status, u.discharge_samples.tolist()] for u in result.units]


def test_edits_survive_a_crash_and_are_restored_exactly(
    qtbot, window, tmp_path: Path, recovery_dir: Path, small_recording_file: Path,
    small_result: DecompositionResult, errors,
) -> None:
    result_file = tmp_path / "decomposed.npz"
    write_result(small_result, result_file)
    expected_file = tmp_path / "expected.json"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", BMISS_RECOVERY_DIR=str(recovery_dir),
               PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]))
    crashed = subprocess.run(
        [sys.executable, "-c", _CRASHING_SESSION, str(small_recording_file), str(result_file), str(expected_file),
         str(tmp_path / "crashed.ini")],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert crashed.returncode == 3, crashed.stderr[-3000:]
    expected = json.loads(expected_file.read_text())
    assert list(recovery_dir.glob("autosave-*.bmiss")), "the crash must leave its autosave"

    # the next start: it offers the autosave; the user accepts
    offered = []
    window.autosave.ask_restore = lambda orphan: offered.append(orphan) or True
    assert window.autosave.offer_recovery(), errors
    assert len(offered) == 1
    s = window.session
    assert s.history is not None
    assert units_of(s.result) == expected["units"]
    assert s.history.log == expected["log"]
    assert s.history.redo_log == expected["redo_log"]
    assert list(s.selected_ids) == expected["selected"]
    assert window.isWindowModified()  # recovered work is unsaved until saved
    # undo and redo walk the same states as before the crash
    window.action_by_name["redo"].trigger()
    assert [u.status for u in s.result.units][2] == "flagged"
    while window.action_by_name["undo"].isEnabled():
        window.action_by_name["undo"].trigger()
    assert units_of(s.result) == units_of(small_result)
    # the crashed window's file is gone; this window protects the work under its own name
    window.autosave.task.wait()
    assert [p.name for p in recovery_dir.glob("autosave-*.bmiss")] == [window.autosave.path.name]


@pytest.fixture
def reviewing(window, small_recording_file: Path, small_result: DecompositionResult):  # type: ignore[no-untyped-def]
    assert window.open_file(small_recording_file)
    window.session.finish_decomposition(small_result)
    return window


def test_an_edit_is_autosaved_soon_after_and_a_clean_close_removes_it(qtbot, reviewing, recovery_dir: Path) -> None:
    w = reviewing
    qtbot.waitUntil(lambda: w.autosave.saves >= 1, timeout=10_000)  # the decomposition's result
    saves = w.autosave.saves
    w.action_by_name["accept"].trigger()
    assert w.autosave.after_edit.isActive()
    qtbot.waitUntil(lambda: w.autosave.saves > saves, timeout=10_000)
    assert w.autosave.path.is_file()
    assert w.autosave.path.with_suffix(".lock").is_file()
    w.close()
    assert not list(recovery_dir.iterdir()), "a clean exit leaves nothing to recover"


def test_the_timer_saves_every_interval_and_a_saved_session_needs_no_recovery(
    qtbot, reviewing, tmp_path: Path
) -> None:
    w = reviewing
    w.autosave.after_edit.setInterval(60_000)  # only the timer here
    w.autosave.set_interval(0.3)
    assert float(w.settings.value("autosave/interval_s")) == 0.3  # remembered for the next start
    w.action_by_name["accept"].trigger()
    qtbot.waitUntil(lambda: w.autosave.saves >= 1, timeout=10_000)
    assert w.autosave.path.is_file()
    assert w.files.save_to(tmp_path / "saved.bmiss")
    assert not w.autosave.path.exists()  # the work is safe in its session file


def test_a_running_windows_autosave_is_not_offered_to_another(qtbot, reviewing, new_window_factory) -> None:
    reviewing.autosave.save_now(wait=True)
    assert reviewing.autosave.path.is_file()
    other = new_window_factory()
    other.autosave.ask_restore = lambda orphan: pytest.fail("a live window's autosave was offered")
    assert not other.autosave.offer_recovery()


@pytest.fixture
def new_window_factory(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QSettings

    from bmiss_gui.main_window import MainWindow

    made = []

    def make():  # type: ignore[no-untyped-def]
        w = MainWindow(QSettings(str(tmp_path / f"other{len(made)}.ini"), QSettings.Format.IniFormat))
        w.files.ask_unsaved = lambda: "discard"
        qtbot.addWidget(w)
        made.append(w)
        return w

    return make
