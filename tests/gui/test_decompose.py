"""Decomposing from the window: live units, a responsive event loop, cancel keeps units."""

from __future__ import annotations

from tests.gui.conftest import require_gui

require_gui()

import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QTimer

from bmiss_engine import DecompositionResult, IterationState
from bmiss_gui.worker import DecompositionWorker
from tests.gui.conftest import SMALL_CONFIG


def test_units_appear_live_and_the_event_loop_never_stalls(qtbot, window, small_recording_file: Path) -> None:
    assert window.open_file(small_recording_file)
    qtbot.waitExposed(window)
    qtbot.wait(300)  # the window's first paint is not part of the decomposition
    table = window.views["units"].units_model
    rows_at_snapshot: list[int] = []
    window.runner.snapshot.connect(lambda _s: rows_at_snapshot.append(table.rowCount()))

    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    with qtbot.waitSignal(window.runner.finished, timeout=90_000) as finished:
        assert window.action_by_name["decompose"].isEnabled()
        window.decompose(SMALL_CONFIG)
        assert window.progress.isVisible()
        assert window.cancel_button.isVisible()
        assert not window.action_by_name["decompose"].isEnabled()
    timer.stop()

    result: DecompositionResult = finished.args[0]
    assert len(rows_at_snapshot) > 1, "snapshots must reach the GUI while the decomposition runs"
    assert any(n > 0 for n in rows_at_snapshot[:-1]), "units must show in the table before the end"
    assert result.n_units >= 3
    qtbot.waitUntil(lambda: not window.runner.is_running and window.live_redraw.idle, timeout=5000)
    assert table.rowCount() == result.n_units
    assert [table.data(table.index(r, 0)) for r in range(table.rowCount())] == [str(u.unit_id) for u in result.units]
    gaps = np.diff(ticks)
    assert ticks
    assert gaps.max() < 0.100, (f"event loop stalled {gaps.max() * 1000:.0f} ms over {len(ticks)} ticks; "
                                f"99th percentile {np.percentile(gaps, 99) * 1000:.0f} ms")
    assert not window.progress.isVisible()
    assert window.session.history is not None
    assert window.session.history.current is result


def test_cancel_keeps_the_units_found_so_far(qtbot, window, small_recording_file: Path) -> None:
    window.open_file(small_recording_file)
    # a run that cannot end by itself within the test: many vectors, no early stop
    config = SMALL_CONFIG.replace(n_iterations=2000, patience_batches=1000)
    table = window.views["units"].units_model
    window.decompose(config)
    qtbot.waitUntil(lambda: table.rowCount() >= 1, timeout=60_000)
    with qtbot.waitSignal(window.runner.cancelled, timeout=30_000) as cancelled:
        window.action_by_name["cancel"].trigger()
    state: IterationState = cancelled.args[0]
    assert state.iteration < config.separation.n_iterations
    qtbot.waitUntil(lambda: not window.runner.is_running and window.live_redraw.idle, timeout=5000)
    kept = window.session.result
    assert kept is not None
    assert kept.n_units == len(state.units) >= 1
    assert table.rowCount() == kept.n_units
    assert window.session.can_edit  # the partial result can be reviewed and exported
    assert window.action_by_name["export"].isEnabled()
    assert window.action_by_name["decompose"].isEnabled()


def test_worker_throttles_but_always_delivers_the_last_snapshot(qtbot, small_recording_file: Path) -> None:
    from bmiss_engine.io import open_recording

    # an interval no run reaches: the first snapshot and the final one are all that pass
    worker = DecompositionWorker(SMALL_CONFIG, open_recording(small_recording_file), min_interval_s=1e9)
    seen: list[IterationState] = []
    results: list[DecompositionResult] = []
    worker.snapshot.connect(seen.append)
    worker.finished.connect(results.append)
    worker.run()  # synchronously, in this thread: deterministic
    assert len(results) == 1
    assert [s.phase for s in seen] == ["preparing", "done"]
    assert seen[-1].units == results[0].units


def test_worker_hands_on_units_with_their_quality_figures_computed(qtbot, small_recording_file: Path) -> None:
    """SIL, PNR, CoV ISI and rate are computed in the worker before a snapshot leaves it, so
    the views of the GUI thread only read them (the joint method makes new units every step)."""
    from bmiss_engine.io import open_recording

    worker = DecompositionWorker(SMALL_CONFIG.replace(method="joint", cycles=0), open_recording(small_recording_file),
                                 min_interval_s=0.0)
    computed: list[bool] = []
    worker.snapshot.connect(lambda s: computed.extend(
        all(name in u.__dict__ for name in ("sil", "pnr_db", "cov_isi", "mean_rate_hz")) for u in s.units))
    worker.run()
    assert len(computed) > 10
    assert all(computed)


def test_worker_reports_engine_errors_as_messages(qtbot, small_recording_file: Path) -> None:
    from bmiss_engine.io import open_recording

    rec = open_recording(small_recording_file)
    worker = DecompositionWorker(SMALL_CONFIG.replace(window_s=(0.0, 0.5)), rec)
    messages: list[str] = []
    worker.failed.connect(messages.append)
    with qtbot.waitSignal(worker.done, timeout=10_000):
        worker.run()
    assert len(messages) == 1
    assert "at least 1 s" in messages[0]


def test_ctrl_d_opens_the_settings_and_starts_with_them(qtbot, window, small_recording_file: Path, monkeypatch) -> None:
    from PySide6.QtWidgets import QDialog

    from bmiss_gui.dialogs.decompose import DecomposeDialog

    window.open_file(small_recording_file)
    started: list[object] = []
    monkeypatch.setattr(window, "decompose", started.append)

    def fill_and_accept(dialog: DecomposeDialog) -> int:
        dialog.iterations.setValue(24)
        dialog.device.setCurrentIndex(dialog.device.findData("cpu"))
        return int(QDialog.DialogCode.Accepted)

    monkeypatch.setattr(DecomposeDialog, "exec", fill_and_accept)
    assert window.action_by_name["decompose"].shortcut().toString() == "Ctrl+D"
    window.action_by_name["decompose"].trigger()
    assert len(started) == 1
    assert (started[0].separation.n_iterations, started[0].device, started[0].method) == (24, "cpu", "joint")


def test_a_failing_decomposition_is_reported_and_the_app_stays_usable(
    qtbot, window, errors, small_recording_file: Path
) -> None:
    window.open_file(small_recording_file)
    with qtbot.waitSignal(window.runner.failed, timeout=30_000):
        window.decompose(SMALL_CONFIG.replace(window_s=(0.0, 0.5)))
    qtbot.waitUntil(lambda: not window.runner.is_running, timeout=5000)
    assert len(errors) == 1
    assert errors[0][0] == "The decomposition failed"
    assert "at least 1 s" in errors[0][1]
    assert window.session.result is None
    assert window.action_by_name["decompose"].isEnabled()


def test_a_windowed_decomposition_lines_up_with_the_recording(
    qtbot, window, small_recording_file: Path, tmp_path: Path
) -> None:
    window.open_file(small_recording_file)
    config = SMALL_CONFIG.replace(window_s=(1.0, 2.5), n_iterations=16)
    with qtbot.waitSignal(window.runner.finished, timeout=90_000) as finished:
        window.decompose(config)
    result: DecompositionResult = finished.args[0]
    fs = result.sampling_rate_hz
    assert result.n_samples == round(1.5 * fs) == window.session.result.n_samples
    if result.n_units:
        qtbot.waitUntil(lambda: window.live_redraw.idle, timeout=5000)
        t, _ = window.views["pulse_train"].curve.getOriginalDataset()
        assert t[0] == 1.0
        assert abs(t[-1] - (2.5 - 1 / fs)) < 1e-9
        # exported discharge samples count from the recording's start, like its time axis
        out = tmp_path / "w.csv"
        assert window.export_to(out)
        samples = [int(line.split(",")[1]) for line in out.read_text().splitlines()[1:]]
        expected = sorted(int(s) + round(fs) for u in result.units for s in u.discharge_samples)
        assert sorted(samples) == expected


def test_closing_the_window_mid_run_stops_and_joins_the_thread(qtbot, window, small_recording_file: Path) -> None:
    window.open_file(small_recording_file)
    config = SMALL_CONFIG.replace(n_iterations=2000, patience_batches=1000)
    window.decompose(config)
    thread = window.runner._thread
    assert thread is not None
    assert thread.isRunning()
    qtbot.waitUntil(lambda: window.session.result is not None and window.session.result.n_units >= 1, timeout=60_000)
    window.close()
    assert not window.runner.is_running
    assert thread.isFinished()


def test_the_experimental_bmiss_method_runs_through_the_worker(qtbot, window, tmp_path: Path, errors) -> None:
    """method="bmiss" (the biophysical inversion) drains through the same worker and reaches
    the table: snapshots while it runs, then a result the history holds."""
    from bmiss_engine import DecomposerConfig
    from bmiss_engine.io import write_npz
    from bmiss_engine.simulate import SimulationConfig, simulate_recording

    recording, _ = simulate_recording(SimulationConfig(
        n_units=2, duration_s=2.0, grid_shape=(6, 4), missing_corner=False, snr_db=30.0, ramp_s=0.01,
        peak_excitation=0.8, depth_range_mm=(4.0, 8.0), muap_generator="analytic", seed=2,
    ))
    path = tmp_path / "tiny.npz"
    write_npz(recording, path)
    assert window.open_file(path)
    config = DecomposerConfig().replace(method="bmiss", device="cpu", inversion_restarts=1, inversion_probe=48,
                              inversion_candidates=2, inversion_steps=5, extension_factor=6)
    phases: list[str] = []
    window.runner.snapshot.connect(lambda s: phases.append(s.phase))
    with qtbot.waitSignal(window.runner.finished, timeout=120_000) as finished:
        assert window.decompose(config)
    result: DecompositionResult = finished.args[0]
    assert not errors
    assert result.config["method"] == "bmiss"
    assert result.provenance["restarts"] == 1
    assert "separating" in phases
    assert phases[-1] == "done"
    qtbot.waitUntil(lambda: not window.runner.is_running and window.live_redraw.idle, timeout=5000)
    assert window.session.history is not None
    assert window.session.history.current is result
    table = window.views["units"].units_model
    assert table.rowCount() == result.n_units
    assert result.n_units >= 1
    assert all(u.theta is not None for u in result.units)
