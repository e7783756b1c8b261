"""View → Grid placement on the demo MRI: turning the grid around the limb moves it over the
phantom's regions of 2, 4 and 8 mm fat (resources/make_demo.py: centred at 0°, 120° and 240°),
and the forward model's layers and the 3D scene follow; Cancel restores the placement it
started from; a saved session brings the placement back."""

from __future__ import annotations

from tests.gui.conftest import require_gui

require_gui()

from pathlib import Path

import numpy as np
import pytest

from bmiss_engine.anatomy import demo_anatomy_paths


@pytest.fixture
def on_mri(window, small_recording_file: Path):  # type: ignore[no-untyped-def]
    """The small recording with the demo MRI (grid over the 4 mm fat region, at 120°)."""
    assert not window.actions["grid_placement"].isEnabled()  # no MRI yet
    assert window.open_file(small_recording_file)
    assert window.open_mri(demo_anatomy_paths().labels)
    assert window.actions["grid_placement"].isEnabled()
    assert window.anatomy.placed.placement.angle_deg == 120.0
    return window


def _dialog(window):  # type: ignore[no-untyped-def]
    assert window.actions["grid_placement"].shortcut().toString() == "Ctrl+Shift+G"
    window.actions["grid_placement"].trigger()
    dialog = window.placement_dialog
    assert dialog is not None and dialog.isVisible()
    return dialog


def test_turning_the_grid_changes_the_fat_under_it_and_cancel_restores(qtbot, on_mri) -> None:
    window = on_mri
    before = window.anatomy.placed
    electrodes_before = window.views["anatomy"].scene.electrodes_mm.copy()
    assert before.mean_fat_mm == pytest.approx(4.0, abs=0.4)
    dialog = _dialog(window)
    assert "fat 4.0 mm" in dialog.layers.text()

    dialog.angle.setValue(0.0)  # over the 2 mm region, placed off the GUI thread
    qtbot.waitUntil(lambda: window.anatomy.placed.placement.angle_deg == 0.0, timeout=20_000)
    placed = window.anatomy.placed
    assert placed.mean_fat_mm == pytest.approx(2.0, abs=0.4)
    assert placed.mean_skin_mm == pytest.approx(1.5, abs=0.4)
    assert window.config.fat_mm == pytest.approx(placed.mean_fat_mm)  # the forward model follows
    assert "fat 2.0 mm" in dialog.layers.text()
    electrodes = window.views["anatomy"].scene.electrodes_mm
    assert np.allclose(electrodes, placed.electrode_world_mm)
    assert np.linalg.norm(electrodes - electrodes_before, axis=1).min() > 20.0  # moved round the limb

    dialog.angle.setValue(240.0)  # the 8 mm region
    qtbot.waitUntil(lambda: window.anatomy.placed.placement.angle_deg == 240.0, timeout=20_000)
    assert window.anatomy.placed.mean_fat_mm == pytest.approx(8.0, abs=0.6)

    dialog.reject()  # Cancel
    assert window.anatomy.placed is before
    assert window.config.fat_mm == pytest.approx(before.mean_fat_mm)
    assert np.allclose(window.views["anatomy"].scene.electrodes_mm, electrodes_before)


def test_ok_keeps_it_and_a_session_brings_it_back(qtbot, on_mri, small_result, tmp_path: Path) -> None:
    window = on_mri
    dialog = _dialog(window)
    dialog.angle.setValue(0.0)
    dialog.axial.setValue(5.0)
    dialog.accept()  # OK waits for the placement the boxes show
    placed = window.anatomy.placed
    assert (placed.placement.angle_deg, placed.placement.axial_mm) == (0.0, 5.0)
    assert placed.mean_fat_mm == pytest.approx(2.0, abs=0.4)

    window.session.begin_decomposition(None)
    window.session.finish_decomposition(small_result)
    session = tmp_path / "placed.bmiss"
    assert window.files.save_to(session)
    # back to the saved default (120°), then the session's placement again
    assert window.open_mri(demo_anatomy_paths().labels)
    assert window.anatomy.placed.placement.angle_deg == 120.0
    assert window.open_file(session)
    restored = window.anatomy.placed
    assert (restored.placement.angle_deg, restored.placement.axial_mm) == (0.0, 5.0)
    assert restored.mean_fat_mm == pytest.approx(placed.mean_fat_mm)
    assert window.config.fat_mm == pytest.approx(placed.mean_fat_mm)


def test_a_grid_off_the_limb_is_reported_and_the_last_placement_stays(qtbot, on_mri) -> None:
    window = on_mri
    before = window.anatomy.placed
    dialog = _dialog(window)
    dialog.axial.setValue(400.0)  # far beyond the 144 mm of imaged limb
    qtbot.waitUntil(lambda: not dialog.busy and dialog.note.text() != "", timeout=20_000)
    assert "last placement that fits" in dialog.note.text()
    assert window.anatomy.placed is before
    dialog.axial.setValue(0.0)
    dialog.angle.setValue(240.0)
    qtbot.waitUntil(lambda: window.anatomy.placed.placement.angle_deg == 240.0, timeout=20_000)
    assert dialog.note.text() == ""
