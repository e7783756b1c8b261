"""Work is never lost: decomposing again asks first and keeps the autosave until the new result
arrives; steady editing is autosaved within the maximum delay; a live window's lock outlives
its saves, so another window never offers (or deletes) its autosave; a session file written by
another window since this one opened it is not overwritten without asking; a failed autosave
is told in the status bar; what a killed process left in the recovery and temporary folders
is removed at start."""

from __future__ import annotations

from tests.gui.conftest import require_gui

require_gui()

import errno
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from bmiss_engine import DecompositionResult
from bmiss_engine.io import load_session
from tests.gui.conftest import SMALL_CONFIG


def _statuses(result: DecompositionResult | None) -> dict[int, str]:
    assert result is not None
    return {u.unit_id: u.status for u in result.units}


def _edit(w, status: str = "rejected", unit: int = 0) -> None:  # type: ignore[no-untyped-def]
    """One edit through the window's actions: the status of the ``unit``-th unit."""
    assert w.session.result is not None
    w.session.select((w.session.result.units[unit].unit_id,))
    w.action_by_name[{"rejected": "reject", "flagged": "flag", "accepted": "accept"}[status]].trigger()


@pytest.fixture
def reviewing(window, small_recording_file: Path, small_result: DecompositionResult):  # type: ignore[no-untyped-def]
    assert window.open_file(small_recording_file)
    window.session.finish_decomposition(small_result)
    window.live_redraw.flush()
    return window


@pytest.fixture
def other_window(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A second main window, as a second start of the application would make."""
    from bmiss_gui.main_window import MainWindow

    made = []

    def make():  # type: ignore[no-untyped-def]
        w = MainWindow(QSettings(str(tmp_path / f"other{len(made)}.ini"), QSettings.Format.IniFormat))
        w.files.ask_unsaved = lambda: "discard"
        qtbot.addWidget(w)
        made.append(w)
        return w

    yield make
    for w in made:
        w.runner.shutdown()


# -- decomposing again --------------------------------------------------------------------------
def test_decomposing_again_with_unsaved_edits_asks_and_cancel_keeps_the_work(reviewing) -> None:
    w = reviewing
    _edit(w, "rejected")
    edited, log = w.session.result, list(w.session.history.log)
    questions: list[str] = []
    w.files.ask_unsaved = lambda: questions.append(w.files._question) or "cancel"
    assert not w.decompose(SMALL_CONFIG)
    assert len(questions) == 1
    assert "decomposing again" in questions[0]
    assert not w.runner.is_running
    assert w.session.result is edited  # the same result, with its undo history
    assert w.session.history.log == log
    assert w.action_by_name["undo"].isEnabled()


def test_decomposing_again_keeps_the_autosave_until_the_new_result(qtbot, reviewing) -> None:
    w = reviewing
    _edit(w, "rejected")
    w.autosave.save_now(wait=True)
    saved = load_session(w.autosave.path).result
    assert _statuses(saved) == _statuses(w.session.result)
    w.files.ask_unsaved = lambda: "discard"
    with qtbot.waitSignal(w.runner.finished, timeout=120_000):
        assert w.decompose(SMALL_CONFIG)
        assert w.runner.is_running
        # the run started: the work it is to replace is still in the autosave
        assert w.autosave.path.is_file()
        assert w.autosave.path.with_suffix(".lock").is_file()
    new = w.session.result
    assert new is not None
    assert new is not saved
    qtbot.waitUntil(lambda: w.autosave.saves >= 2, timeout=20_000)  # the new result is autosaved in its place
    assert [u.unit_id for u in load_session(w.autosave.path).result.units] == [u.unit_id for u in new.units]


def test_saving_first_when_decomposing_again_writes_the_session(qtbot, reviewing, tmp_path: Path) -> None:
    w = reviewing
    _edit(w, "flagged")
    w.files.path = tmp_path / "before.bmiss"  # saved once: Save writes there without a dialog
    w.files.ask_unsaved = lambda: "save"
    with qtbot.waitSignal(w.runner.finished, timeout=120_000):
        assert w.decompose(SMALL_CONFIG)
    assert _statuses(load_session(tmp_path / "before.bmiss").result)[0] == "flagged"


# -- autosave -----------------------------------------------------------------------------------
def test_steady_editing_is_autosaved_within_the_maximum_delay(qtbot, reviewing) -> None:
    """Edits closer together than the short delay restart it every time; the maximum delay
    still saves while the user keeps editing."""
    w = reviewing
    w.autosave.save_now(wait=True)
    saves = w.autosave.saves
    w.autosave.after_edit.setInterval(60_000)  # as if the user never paused long enough
    w.autosave.max_delay.setInterval(1500)
    statuses = ("rejected", "flagged")
    for i in range(16):  # one edit every 200 ms for 3.2 s
        _edit(w, statuses[i % 2])
        qtbot.wait(200)
    assert w.autosave.saves > saves, "steady edits were never autosaved"
    w.autosave.task.wait()
    on_disk = load_session(w.autosave.path)
    assert len(on_disk.edit_log) >= 5  # the edits up to at least 1.5 s in


def test_saving_keeps_the_lock_and_another_window_never_offers_a_live_autosave(
    qtbot, reviewing, other_window, tmp_path: Path, recovery_dir: Path,
) -> None:
    w = reviewing
    _edit(w, "rejected")
    w.autosave.save_now(wait=True)
    lock = w.autosave.path.with_suffix(".lock")
    assert lock.is_file()
    assert w.files.save_to(tmp_path / "saved.bmiss")
    assert not w.autosave.path.exists()  # safe in its session file
    assert lock.is_file()  # but the window lives: its lock stays
    _edit(w, "flagged")
    w.autosave.save_now(wait=True)
    assert w.autosave.path.is_file()
    second = other_window()
    second.autosave.ask_restore = lambda orphan: pytest.fail(f"a live window's autosave was offered: {orphan}")
    assert not second.autosave.offer_recovery()
    assert w.autosave.path.is_file()  # nor deleted
    assert lock.is_file()
    w.close()
    assert not list(recovery_dir.glob("autosave-*")), "a clean close removes its autosave and lock"


def test_a_failed_autosave_is_told_in_the_status_bar(reviewing, monkeypatch) -> None:
    w = reviewing

    def full_disk(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("bmiss_gui.autosave.save_session", full_disk)
    _edit(w, "rejected")
    w.autosave.save_now(wait=True)
    assert "No space left on device" in w.autosave.last_error
    message = w.statusBar().currentMessage()
    assert "Autosave failed" in message
    assert "No space left on device" in message
    assert not w.autosave.path.exists()


def _dead_pid() -> int:
    """The id of a process that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_what_killed_processes_left_is_removed_at_start(
    reviewing, other_window, recovery_dir: Path, tmp_path: Path, monkeypatch,
) -> None:
    w = reviewing
    _edit(w, "rejected")
    w.autosave.save_now(wait=True)  # a live window with its lock
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    dead = _dead_pid()
    left = [
        temp / f"bmiss-session-{dead}-abc123",  # a session save's folder, killed mid-save
        recovery_dir / f".autosave-{dead}-0badc0de.bmiss.x1y2z3.tmp",  # a half-written autosave
    ]
    kept = [
        temp / f"bmiss-session-{os.getpid()}-def456",  # this process's own save in progress
        recovery_dir / f".{w.autosave.path.name}.q7r8s9.tmp",  # the live window's, mid-write
        temp / "someone-elses",
    ]
    for path in (left[0], kept[0], kept[2]):
        path.mkdir()
        (path / "result.npz").write_bytes(b"x")
    for path in (left[1], kept[1]):
        path.write_bytes(b"half")
    second = other_window()
    second.autosave.ask_restore = lambda orphan: None
    second.autosave.offer_recovery()
    assert [p for p in left if p.exists()] == []
    assert [p for p in kept if not p.exists()] == []


# -- two windows on one session ------------------------------------------------------------
def test_saving_over_a_session_another_window_wrote_asks_first(
    qtbot, reviewing, other_window, tmp_path: Path,
) -> None:
    path = tmp_path / "shared.bmiss"
    first = reviewing
    assert first.files.save_to(path)
    second = other_window()
    assert second.open_file(path)
    _edit(first, "rejected", unit=0)
    assert first.files.save_to(path)  # first saves since the second opened it
    _edit(second, "flagged", unit=1)
    asked: list[Path] = []
    second.files.ask_overwrite = lambda p: asked.append(p) or "cancel"
    assert not second.files.save()
    assert asked == [path]
    on_disk = _statuses(load_session(path).result)
    assert on_disk[first.session.result.units[0].unit_id] == "rejected"  # the first window's save stands
    assert second.isWindowModified()
    second.files.ask_overwrite = lambda p: asked.append(p) or "overwrite"
    assert second.files.save()
    assert _statuses(load_session(path).result)[second.session.result.units[1].unit_id] == "flagged"
    # its own saves since are no conflict
    _edit(second, "rejected", unit=1)
    assert second.files.save()
    assert len(asked) == 2
