"""View → Grid placement on the demo MRI: turning the grid around the limb moves it over the
phantom's regions of 2, 4 and 8 mm fat (resources/make_demo.py: centred at 0°, 120° and 240°),
and the forward model's layers and the 3D scene follow; Cancel restores the placement it
started from; a saved session brings the placement back; a new placement is unsaved work;
the placement can be saved next to the MRI."""

from __future__ import annotations

from tests.gui.conftest import require_gui

require_gui()

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from bmiss_engine.anatomy import GridPlacement, demo_anatomy_paths, load_grid_placement
from bmiss_engine.io import load_session


@pytest.fixture
def on_mri(window, small_recording_file: Path):  # type: ignore[no-untyped-def]
    """The small recording with the demo MRI (grid over the 4 mm fat region, at 120°)."""
    assert not window.action_by_name["grid_placement"].isEnabled()  # no MRI yet
    assert window.open_file(small_recording_file)
    assert window.open_mri(demo_anatomy_paths().labels)
    assert window.action_by_name["grid_placement"].isEnabled()
    assert window.anatomy.placed.placement.angle_deg == 120.0
    return window


def _dialog(window):  # type: ignore[no-untyped-def]
    assert window.action_by_name["grid_placement"].shortcut().toString() == "Ctrl+Shift+G"
    window.action_by_name["grid_placement"].trigger()
    dialog = window.placement_dialog
    assert dialog is not None
    assert dialog.isVisible()
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
    assert window.config.inversion.fat_mm == pytest.approx(placed.mean_fat_mm)  # the forward model follows
    assert "fat 2.0 mm" in dialog.layers.text()
    electrodes = window.views["anatomy"].scene.electrodes_mm
    assert np.allclose(electrodes, placed.electrode_world_mm)
    assert np.linalg.norm(electrodes - electrodes_before, axis=1).min() > 20.0  # moved round the limb

    dialog.angle.setValue(240.0)  # the 8 mm region
    qtbot.waitUntil(lambda: window.anatomy.placed.placement.angle_deg == 240.0, timeout=20_000)
    assert window.anatomy.placed.mean_fat_mm == pytest.approx(8.0, abs=0.6)

    dialog.reject()  # Cancel
    assert window.anatomy.placed is before
    assert window.config.inversion.fat_mm == pytest.approx(before.mean_fat_mm)
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
    assert window.config.inversion.fat_mm == pytest.approx(placed.mean_fat_mm)


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


def test_a_new_placement_is_unsaved_work_until_saved_or_put_back(qtbot, on_mri, small_result, tmp_path: Path) -> None:
    window = on_mri
    window.session.begin_decomposition(None)
    window.session.finish_decomposition(small_result)
    session = tmp_path / "placed.bmiss"
    assert window.files.save_to(session)
    assert not window.files.dirty
    assert not window.isWindowModified()

    dialog = _dialog(window)
    dialog.angle.setValue(0.0)
    qtbot.waitUntil(lambda: window.anatomy.placed.placement.angle_deg == 0.0, timeout=20_000)
    assert window.files.dirty
    assert window.isWindowModified()
    dialog.reject()  # Cancel: back where it was saved, nothing unsaved
    assert not window.files.dirty
    assert not window.isWindowModified()

    dialog = _dialog(window)
    dialog.angle.setValue(240.0)
    dialog.accept()
    assert window.anatomy.placed.placement.angle_deg == 240.0
    assert window.files.dirty
    asked: list[str] = []
    window.files.ask_unsaved = lambda: asked.append("asked") or "cancel"
    assert not window.close()  # closing asks, like after an edit; Cancel keeps the window
    assert asked == ["asked"]
    assert window.isVisible()

    window.files.ask_unsaved = lambda: "discard"
    assert window.files.save_to(session)
    assert not window.files.dirty
    assert load_session(session).view_state["grid_placement"]["angle_deg"] == 240.0


@pytest.fixture
def own_mri(window, small_recording_file: Path, tmp_path: Path) -> Path:
    """The demo label map alone in a folder of its own (no placement beside it yet), opened."""
    folder = tmp_path / "mri"
    folder.mkdir()
    mri = folder / "labels.nii.gz"
    shutil.copy(demo_anatomy_paths().labels, mri)
    assert window.open_file(small_recording_file)
    assert window.open_mri(mri)
    assert window.anatomy.placed.placement == GridPlacement()  # the default: none saved
    return mri


def test_the_placement_is_saved_next_to_the_mri_and_found_there(qtbot, window, own_mri: Path) -> None:
    saved = own_mri.parent / "grid_placement.json"
    dialog = _dialog(window)
    dialog.angle.setValue(240.0)
    dialog.axial.setValue(-10.0)
    assert dialog.save_button.text() == "Save placement next to the MRI"
    asked: list[Path] = []
    dialog.ask_overwrite = lambda path: asked.append(path) or False
    assert dialog.save_beside_mri() == saved  # waits for the placement the boxes show
    assert asked == []  # nothing to replace yet
    assert json.loads(saved.read_text()) == {"angle_deg": 240.0, "axial_mm": -10.0, "rotation_deg": 0.0}
    assert load_grid_placement(saved) == window.anatomy.placed.placement
    assert str(saved) in dialog.note.text()
    assert sorted(p.name for p in own_mri.parent.iterdir()) == ["grid_placement.json", "labels.nii.gz"]

    dialog.angle.setValue(0.0)
    assert dialog.save_beside_mri() is None  # asked, and the answer was No
    assert asked == [saved]
    assert json.loads(saved.read_text())["angle_deg"] == 240.0
    dialog.ask_overwrite = lambda path: True
    assert dialog.save_beside_mri() == saved
    assert json.loads(saved.read_text())["angle_deg"] == 0.0
    dialog.accept()

    # the MRI opened again (another session, the same grid) is placed where it was saved
    window.anatomy = None
    assert window.open_mri(own_mri)
    assert window.anatomy.placed.placement == GridPlacement(0.0, -10.0, 0.0)
    assert window.anatomy.placed.mean_fat_mm == pytest.approx(2.0, abs=0.4)


def test_a_read_only_folder_is_said_plainly(qtbot, window, own_mri: Path, errors, monkeypatch) -> None:
    folder = own_mri.parent
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):  # root writes anyway: the folder refuses as a read-only one would
            import bmiss_gui.mri

            def refuse(*_args: object, **_kwargs: object) -> None:
                raise PermissionError(errno.EACCES, "Permission denied", str(folder))

            monkeypatch.setattr(bmiss_gui.mri.tempfile, "NamedTemporaryFile", refuse)
        dialog = _dialog(window)
        dialog.angle.setValue(240.0)
        assert dialog.save_beside_mri() is None
    finally:
        folder.chmod(0o755)
    assert len(errors) == 1
    title, message = errors[0]
    assert title == "Cannot save the placement"
    assert f"The folder {folder} is read-only" in message
    assert "File → Save session" in message
    assert sorted(p.name for p in folder.iterdir()) == ["labels.nii.gz"]  # nothing written, no temporary left
    dialog.accept()
    assert window.anatomy.placed.placement.angle_deg == 240.0  # the placement itself still applies


def test_the_cylinder_under_the_grid_is_reported_and_follows(qtbot, on_mri) -> None:  # type: ignore[no-untyped-def]
    """The cylindrical model's limb under the grid: its radii and the arc the grid covers,
    fitted again (off the GUI thread) as the grid moves; a grid wrapped around the limb says so."""
    from bmiss_engine import ElectrodeGrid
    from bmiss_engine.anatomy import place_grid
    from bmiss_gui.scene import cylinder_text, cylinder_under, mri_cylinder

    window = on_mri
    cylinder = mri_cylinder(window.anatomy)
    dialog = _dialog(window)
    assert dialog.cylinder.text() == cylinder_text(cylinder)
    assert f"muscle {cylinder.muscle_radius_mm:.1f} mm" in dialog.cylinder.text()
    # 4 columns 8 mm apart on the skin's radius: an arc of 3·8 mm / radius
    import re

    covered = float(re.search(r"covers (\d+)°", dialog.cylinder.text()).group(1))
    assert covered == pytest.approx(np.degrees(24.0 / cylinder.skin_radius_mm), abs=1.5)
    dialog.axial.setValue(dialog.axial.value() + 20.0)
    qtbot.waitUntil(lambda: window.anatomy.placed.placement.axial_mm == dialog.axial.value(), timeout=20_000)
    moved = mri_cylinder(window.anatomy)  # fitted with the placement, found again here
    assert moved is cylinder_under(window.anatomy.label_map, window.anatomy.placed)
    assert dialog.cylinder.text() == cylinder_text(moved)
    assert set(window.views["anatomy"].scene.cylinder) == {"bone", "muscle", "fat", "skin"}
    dialog.reject()
    # a grid as long as the limb's perimeter goes around it
    labels, placed = window.anatomy.label_map, window.anatomy.placed
    around = ElectrodeGrid.full(4, 32, placed.skin_perimeter_mm() / 32)
    wrapped = cylinder_under(labels, place_grid(labels, around, placed.placement))
    assert "the grid goes around the limb" in cylinder_text(wrapped)
