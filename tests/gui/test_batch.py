"""File → Batch decompose: a real batch of two small simulated recordings, rows filled live,
the summary written, a finished row opened in the main window; Cancel keeps what is finished,
and a rerun skips it.

The batch runs on an in-process Dask cluster (one worker thread, as ``--workers 1`` but without
starting a worker process and importing torch in it), passed as ``run_options["scheduler"]``.
"""

from __future__ import annotations

from tests.gui.conftest import require_gui

require_gui()

import csv
import threading
from pathlib import Path

import pytest

from bmiss_engine import DecomposerConfig
from bmiss_engine.batch import RecordingOutcome, RecordingTask
from bmiss_engine.batch.tasks import decompose_recording
from bmiss_engine.io import write_npz
from bmiss_engine.simulate import SimulationConfig, simulate_recording

pytestmark = pytest.mark.timeout(300)

BATCH_CONFIG = DecomposerConfig().replace(n_iterations=8, batch_size=8, extension_factor=8, device="cpu", min_discharges=5)
NAMES = ("rec_a.npz", "rec_b.npz")
RUN_S = 120_000  # ms: a generous bound on the shared test machine

# the held task of the cancel test (in-process workers share this module's globals)
HOLD = threading.Event()
HELD_STARTED = threading.Event()


def held_on_b(task: RecordingTask) -> RecordingOutcome:
    """Decompose as usual, except that rec_b waits until the test lets it go."""
    if task.name == NAMES[1]:
        HELD_STARTED.set()
        HOLD.wait(60)
        return RecordingOutcome(task.name, "failed", error="released by the test")
    return decompose_recording(task)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 3 s recordings on a 4×4 grid (16 channels)."""
    root = tmp_path_factory.mktemp("study")
    for seed, name in enumerate(NAMES):
        rec, _ = simulate_recording(SimulationConfig(n_units=5, duration_s=3.0, grid_shape=(4, 4),
                                                     missing_corner=False, ramp_s=0.5, seed=seed))
        write_npz(rec, root / name)
    (root / "notes.txt").write_text("not a recording")
    return root


def _dialog(window, study: Path, out: Path, scheduler: str, **options: object):  # type: ignore[no-untyped-def]
    window.config = BATCH_CONFIG  # the dialog's settings start from the window's
    assert window.action_by_name["batch"].shortcut().toString() == "Ctrl+B"
    window.action_by_name["batch"].trigger()
    dialog = window.batch
    assert dialog is not None
    assert dialog.isVisible()
    dialog.run_options = {"scheduler": scheduler, **options}
    dialog.add_inputs([study])
    dialog.set_output(out)
    dialog.workers.setValue(1)
    return dialog


def _summary_rows(out: Path) -> dict[str, dict[str, str]]:
    with (out / "batch_summary.csv").open() as fh:
        return {row["recording"]: row for row in csv.DictReader(fh)}


def test_batch_fills_rows_live_writes_the_summary_and_opens_a_result(qtbot, window, study, scheduler,
                                                                      tmp_path) -> None:
    out = tmp_path / "out"
    dialog = _dialog(window, study, out, scheduler)
    assert dialog.settings.config().separation.n_iterations == 8
    # each snapshot's rows, as the user saw them (after the dialog's own update)
    seen: list[tuple[str, ...]] = []
    dialog.runner.progress.connect(lambda _p: seen.append(tuple(dialog.row_texts(r)[1] for r in range(2))))
    assert dialog.start()
    assert [dialog.row_texts(r)[:2] for r in range(2)] == [(NAMES[0], "waiting"), (NAMES[1], "waiting")]
    assert not dialog.start_button.isEnabled()
    assert dialog.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: not dialog.runner.is_running, timeout=RUN_S)

    rows = [dialog.row_texts(r) for r in range(2)]
    assert [r[1] for r in rows] == ["done", "done"], rows
    assert all(int(r[2]) > 0 and float(r[3]) > 0 and r[4] == "" for r in rows), rows
    # filled live: one recording was shown done while the other was not yet
    assert any(s[0] == "done" and s[1] != "done" for s in seen), seen
    assert dialog.progress_bar.value() == dialog.progress_bar.maximum() == 2
    table = _summary_rows(out)
    assert {n: table[n]["status"] for n in NAMES} == {NAMES[0]: "ok", NAMES[1]: "ok"}
    assert [table[n]["units"] for n in NAMES] == [r[2] for r in rows]
    assert (out / "rec_a_discharges.csv").is_file()  # the export checked by default
    assert dialog.start_button.isEnabled()
    assert not dialog.cancel_button.isEnabled()

    # Open result: the second recording's units in the main window, on its recording
    dialog.table.selectRow(1)
    assert dialog.open_button.isEnabled()
    assert dialog.open_selected()
    result = window.session.result
    assert result is not None
    assert result.n_units == int(rows[1][2])
    assert Path(window.session.recording.source).name == NAMES[1]
    assert window.session.history is not None
    assert not window.session.history.can_undo
    assert window.config.separation.n_iterations == 8  # the settings it was made with


def test_cancel_keeps_finished_recordings_and_a_rerun_skips_them(qtbot, window, study, scheduler, tmp_path) -> None:
    out = tmp_path / "out"
    HOLD.clear()
    HELD_STARTED.clear()
    dialog = _dialog(window, study, out, scheduler, task=held_on_b)
    try:
        assert dialog.start()
        # one worker thread: rec_a is decomposed first, then rec_b starts (and is held)
        qtbot.waitUntil(HELD_STARTED.is_set, timeout=RUN_S)
        qtbot.waitUntil(lambda: dialog.row_texts(0)[1] == "done", timeout=10_000)
        dialog.cancel_button.click()
        assert not dialog.cancel_button.isEnabled()
        assert "Cancelling" in dialog.status.text()
        qtbot.waitUntil(lambda: not dialog.runner.is_running, timeout=30_000)
    finally:
        HOLD.set()
    assert [dialog.row_texts(r)[1] for r in range(2)] == ["done", "cancelled"]
    table = _summary_rows(out)
    assert (table[NAMES[0]]["status"], table[NAMES[1]]["status"]) == ("ok", "cancelled")
    done_a = out / "rec_a_result.npz"
    assert done_a.is_file()
    assert not (out / "rec_b_result.npz").exists()
    stamp = done_a.stat().st_mtime_ns

    dialog.run_options = {"scheduler": scheduler}  # the real task again
    assert dialog.start()
    qtbot.waitUntil(lambda: not dialog.runner.is_running, timeout=RUN_S)
    rows = [dialog.row_texts(r) for r in range(2)]
    assert [r[1] for r in rows] == ["skipped", "done"], rows
    assert int(rows[0][2]) > 0
    assert done_a.stat().st_mtime_ns == stamp
    assert _summary_rows(out)[NAMES[0]]["status"] == "skipped"
    dialog.table.selectRow(0)
    assert dialog.open_button.isEnabled()  # a skipped row's result opens too
