"""Closing the window while a decomposition runs: the run is cancelled and the window goes
within about a second and a half, whether the engine stops at once (it checks for Cancel
inside its steps) or is inside a step it cannot leave (then the window hides and closes for
good, releasing the thread, when the step ends; nothing it reports after the close is kept)."""

from __future__ import annotations

from tests.gui.conftest import require_gui

require_gui()

import math
import time
from collections.abc import Generator
from pathlib import Path

from bmiss_engine import DecomposerConfig, DecompositionResult, IterationState, Recording
from bmiss_gui.main_window import CLOSE_WAIT_MS
from tests.gui.conftest import SMALL_CONFIG


def test_closing_mid_run_cancels_and_returns_within_the_limit(qtbot, window, small_recording_file: Path) -> None:
    assert window.open_file(small_recording_file)
    thread_of = {}

    def started(running: bool) -> None:
        if running:
            thread_of["run"] = window.runner._thread

    window.runner.running_changed.connect(started)
    assert window.decompose(SMALL_CONFIG.replace(n_iterations=2000, patience_batches=1000))
    qtbot.waitUntil(lambda: window.session.result is not None and window.session.result.n_units >= 1, timeout=60_000)
    t0 = time.perf_counter()
    window.close()
    took = time.perf_counter() - t0
    assert took < 2.0, f"closing took {took:.1f} s"
    assert not window.isVisible()
    qtbot.waitUntil(lambda: not window.runner.is_running, timeout=10_000)
    assert thread_of["run"].isFinished()
    assert not window.autosave.timer.isActive()  # the close completed (clean exit)


class _StuckInAStep:
    """A decomposition whose first step never checks for Cancel (an import, one long library
    call): it yields one snapshot, then holds the worker for ``step_s``."""

    step_s = 4.0

    def __init__(self, config: DecomposerConfig) -> None:
        self.config = config

    def iterate(self, recording: Recording) -> Generator[IterationState, None, DecompositionResult]:
        yield IterationState(iteration=0, total=1, units=(), current_sil=math.nan, phase="preparing", elapsed_s=0.0,
                             message="preprocessing")
        time.sleep(self.step_s)
        return DecompositionResult((), recording.sampling_rate_hz, recording.n_samples)


def test_a_run_stuck_in_a_step_does_not_hold_the_window(qtbot, window, small_recording_file: Path,
                                                         recovery_dir: Path, monkeypatch) -> None:
    monkeypatch.setattr("bmiss_engine.Decomposer", _StuckInAStep)
    assert window.open_file(small_recording_file)
    kept: list[object] = []
    window.runner.finished.connect(kept.append)
    window.runner.cancelled.connect(kept.append)
    with qtbot.waitSignal(window.runner.snapshot, timeout=10_000):
        assert window.decompose(SMALL_CONFIG)
    t0 = time.perf_counter()
    window.close()
    took = time.perf_counter() - t0
    assert took < CLOSE_WAIT_MS / 1000 + 0.5, f"closing took {took:.1f} s"
    assert not window.isVisible()  # gone for the user
    assert window.runner.is_running  # the step runs on in the background
    qtbot.waitUntil(lambda: not window.runner.is_running, timeout=20_000)
    assert kept == []  # what the run reported after the close is dropped
    assert not window.autosave.timer.isActive()  # the window closed for good after the step
    assert not list(recovery_dir.glob("autosave-*"))
