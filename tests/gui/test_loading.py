"""Opening a long recording: reading and band-passing run off the GUI thread, so the window
keeps repainting (synchronously, a 60 s 64-channel recording held it ~0.6-0.9 s here)."""

from __future__ import annotations

from tests.gui.conftest import require_gui

require_gui()

import threading
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QTimer

import bmiss_gui.session_io as session_io
from bmiss_engine import ElectrodeGrid, Recording
from bmiss_engine.io import write_npz


def test_a_60_s_64_channel_recording_opens_without_stalling_the_window(
    qtbot, window, tmp_path: Path, monkeypatch, errors
) -> None:
    rng = np.random.default_rng(0)
    emg = (rng.standard_normal((64, 60 * 2048)) * 2e-5).astype(np.float32)
    path = tmp_path / "long.npz"
    write_npz(Recording(emg, 2048.0, ElectrodeGrid.full(8, 8, 10.0), {}, "long", "npz"), path)
    threads: list[str] = []

    def spied(fn):  # type: ignore[no-untyped-def]
        def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
            threads.append(threading.current_thread().name)
            return fn(*args, **kwargs)
        return spy

    # reading the file, then band-passing the grid chosen
    for name in ("open_recordings", "prepare"):
        monkeypatch.setattr(session_io, name, spied(getattr(session_io, name)))
    qtbot.waitExposed(window)
    qtbot.wait(200)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    ticks.append(time.perf_counter())
    assert window.open_file(path), errors
    ticks.append(time.perf_counter())  # the views' first drawing of the recording counts too
    timer.stop()
    assert len(threads) == 2
    assert threading.main_thread().name not in threads
    assert window.session.recording is not None
    assert window.session.recording.n_samples == 60 * 2048
    gaps = np.diff(ticks)
    assert len(ticks) > 5
    assert gaps.max() < 0.150, (f"event loop stalled {gaps.max() * 1000:.0f} ms; "
                                f"opening took {ticks[-1] - ticks[0]:.2f} s")
