"""File → Batch decompose of a file of several grids: the grid box picks the grid the batch
decomposes, and "Open result" shows the result on that grid, not the file's first.

The batch runs on an in-process Dask cluster, as in test_batch.py.
"""

from __future__ import annotations

from tests.gui.conftest import require_gui

require_gui()

from pathlib import Path

import numpy as np
import pytest

from bmiss_engine import DecomposerConfig
from bmiss_engine.io import open_recording, open_result
from bmiss_engine.simulate import SimulationConfig, simulate_recording
from tests.engine.test_io_otb import N_TOTAL, _adapter, _device_xml, _otb_plus

pytestmark = pytest.mark.timeout(300)

BATCH_CONFIG = DecomposerConfig().replace(n_iterations=8, batch_size=8, extension_factor=8, device="cpu", min_discharges=5)
RUN_S = 120_000  # ms: a generous bound on the shared test machine


@pytest.fixture
def two_grid_study(tmp_path: Path) -> Path:
    """A study of one .otb+: a 13×5 grid (64 channels) of noise, then an 8×4 grid (32 channels)
    holding a simulated contraction, 3 s at 2048 Hz."""
    rec, _ = simulate_recording(SimulationConfig(n_units=5, duration_s=3.0, grid_shape=(8, 4), missing_corner=False,
                                                 ramp_s=0.5, seed=4))
    rng = np.random.default_rng(3)
    raw = rng.integers(-20, 20, (N_TOTAL, rec.n_samples)).astype(np.int16)
    raw[64:96] = np.rint(rec.emg_v / np.abs(rec.emg_v).max() * 20000).astype(np.int16)
    adapters = _adapter(0, 150, ["GR08MM1305"] * 64) + _adapter(64, 150, ["GR10MM0804"] * 32)
    study = tmp_path / "study"
    study.mkdir()
    _otb_plus(study / "two.otb+", _device_xml(adapters), raw)
    return study


def test_open_result_shows_the_grid_the_batch_decomposed(  # type: ignore[no-untyped-def]
    qtbot, window, two_grid_study: Path, scheduler: str, tmp_path: Path, errors
) -> None:
    window.config = BATCH_CONFIG
    window.action_by_name["batch"].trigger()
    dialog = window.batch
    assert dialog is not None
    dialog.run_options = {"scheduler": scheduler}
    dialog.add_inputs([two_grid_study])
    dialog.set_output(tmp_path / "out")
    dialog.workers.setValue(1)
    dialog.grid.setValue(2)  # the second grid, as the user reads it
    assert dialog.start()
    dialog.grid.setValue(1)  # changed after the start: the run keeps the grid it began with
    qtbot.waitUntil(lambda: not dialog.runner.is_running, timeout=RUN_S)
    row = dialog.row_texts(0)
    assert row[1] == "done", row
    n_units = int(row[2])
    assert n_units > 0  # the contraction is on the second grid: units there
    result_file = tmp_path / "out" / "two_result.npz"
    assert open_result(result_file).n_units == n_units

    dialog.table.selectRow(0)
    assert dialog.open_selected(), errors
    s = window.session
    second = open_recording(two_grid_study / "two.otb+", grid_index=1)
    assert (s.recording.grid.name, s.recording.n_channels) == ("GR10MM0804", 32)
    np.testing.assert_array_equal(s.recording.emg_v, second.emg_v)
    assert window.files.grid_index == 1  # a session saved now reopens this grid
    assert s.result is not None
    assert s.result.n_units == n_units
    assert window.units_view.model().rowCount() == n_units
    assert "(grid 2: GR10MM0804)" in window.file_label.text()
    assert not errors
