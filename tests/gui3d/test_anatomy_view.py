"""The 3D anatomy view in the real window: the scene is drawn (pixels, not just actors), each
unit with a position is a sphere in its table colour, and clicking a sphere selects the unit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("pyvista")

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from bmiss_engine import DecompositionResult, MotorUnit


def _units_with_theta() -> DecompositionResult:
    """Three units at known positions under an 8×4 grid (depth below the muscle surface)."""
    fs = 2048.0
    n = 3 * 2048
    positions = [(3.0, -10.0, -20.0, 120.0), (8.0, 0.0, 0.0, 600.0), (14.0, 10.0, 20.0, 1500.0)]
    units = tuple(
        MotorUnit(i, np.arange(100 + 40 * i, n, 200, dtype=np.int64), np.zeros(n, np.float32), fs,
                  theta={"depth_mm": d, "ml_mm": ml, "iz_mm": iz, "n_fibres": nf, "cv_m_s": 4.0})
        for i, (d, ml, iz, nf) in enumerate(positions)
    )
    return DecompositionResult(units, fs, n)


@pytest.mark.parametrize("anatomy", ["planar", "mri"])
def test_scene_spheres_and_picking(window, small_recording_file, qtbot, anatomy) -> None:  # type: ignore[no-untyped-def]
    assert window.open_file(small_recording_file)
    view = window.views["anatomy"]
    window.docks["anatomy"].raise_()
    assert view.plotter is not None, view.note.text()
    assert view.scene.electrodes_mm.shape == (32, 3)
    if anatomy == "planar":
        # the planar scene: skin, fat, muscle and the electrodes on the skin surface (z = 0)
        assert set(view.scene.surfaces) == {"skin", "fat", "muscle"}
        assert np.allclose(view.scene.electrodes_mm[:, 2], 0.0)
    else:
        from bmiss_engine.anatomy import demo_anatomy_paths

        assert window.open_mri(demo_anatomy_paths().labels)
        assert set(view.scene.surfaces) == {"skin", "fat", "muscle", "bone"}
    window.session.finish_decomposition(_units_with_theta())  # redrawn by the live scheduler
    qtbot.waitUntil(lambda: sorted(view.unit_actors) == [0, 1, 2], timeout=10000)
    # a deeper unit lies deeper below the grid centre, along the skin's normal
    top = window.config.inversion.skin_mm + window.config.inversion.fat_mm
    expected = view.scene.grid_to_world(np.array([14.0]), np.array([10.0]), np.array([20.0]))[0]
    assert np.allclose(view.unit_points[2], expected)
    if anatomy == "planar":
        assert view.unit_points[2][2] == pytest.approx(-(top + 14.0))
    # the unit sizes follow the fibre counts
    radii = [view.unit_actors[i].GetLength() for i in range(3)]
    assert radii[0] < radii[1] < radii[2]
    view.plotter.render()
    image = view.plotter.screenshot(None, return_img=True)
    import os
    if os.environ.get("BMISS_SAVE_3D"):
        from PIL import Image
        Image.fromarray(image).save(os.environ["BMISS_SAVE_3D"])
    assert image.std() > 10  # not a black or empty render
    # every sphere is on screen: hiding it changes pixels, in its own colour's direction
    for uid in range(3):
        actor = view.unit_actors[uid]
        actor.SetVisibility(False)
        view.plotter.render()
        without = view.plotter.screenshot(None, return_img=True)
        actor.SetVisibility(True)
        changed = np.abs(image.astype(int) - without.astype(int)).sum(axis=2) > 30
        assert changed.sum() > 15, f"unit {uid} not visible"
        rgb = np.array([int(window.session.colors.hex(uid)[i : i + 2], 16) for i in (1, 3, 5)])
        closer = np.abs(image[changed].astype(int) - rgb).sum(axis=1) < np.abs(without[changed].astype(int) - rgb).sum(axis=1)
        assert closer.mean() > 0.8

    # a click on a sphere selects its unit (through the real Qt → VTK event path)
    for uid in (2, 0):
        x, y = view.display_point(uid)
        widget = view.canvas
        ratio = widget.devicePixelRatioF()
        pos = QPoint(round(x / ratio), round(widget.height() - y / ratio))
        QTest.mouseClick(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)
        qtbot.waitUntil(lambda uid=uid: window.session.selected_ids == (uid,), timeout=2000)
    # selecting in the table dims the others in 3D
    window.session.select((1,))
    assert view.unit_actors[1].GetProperty().GetOpacity() == 1.0
    assert view.unit_actors[0].GetProperty().GetOpacity() < 1.0


def test_units_without_position_are_named(window, small_recording_file, qtbot) -> None:  # type: ignore[no-untyped-def]
    assert window.open_file(small_recording_file)
    view = window.views["anatomy"]
    result = _units_with_theta()
    units = (dataclasses.replace(result.units[0], theta=None), *result.units[1:])
    window.session.finish_decomposition(result.with_units(units))
    qtbot.waitUntil(lambda: sorted(view.unit_actors) == [1, 2], timeout=10000)
    assert "1 of 3 units have no estimated position" in view.caption.text()


def test_hybrid_decomposition_places_its_units_in_3d(window, small_recording_file, qtbot) -> None:  # type: ignore[no-untyped-def]
    """End to end: Decompose with the hybrid method through the real worker; every unit gets
    a depth and CV in the table and a sphere in the 3D view."""
    from tests.gui.conftest import SMALL_CONFIG

    assert window.open_file(small_recording_file)
    qtbot.waitUntil(lambda: window.session.recording is not None, timeout=20000)
    view = window.views["anatomy"]
    config = SMALL_CONFIG.replace(method="hybrid", inversion_probe=128, hybrid_restarts=0)
    with qtbot.waitSignal(window.runner.finished, timeout=240_000) as finished:
        window.decompose(config)
    result = finished.args[0]
    assert result.n_units >= 3
    assert all(u.theta is not None for u in result.units)
    qtbot.waitUntil(lambda: len(view.unit_actors) == result.n_units, timeout=10000)
    table = window.views["units"].units_model
    from bmiss_gui.views.units_table import COLUMNS

    depth_col = COLUMNS.index("Depth mm")
    for row, unit in enumerate(result.units):
        # "depth ± sd": the value first
        assert table.data(table.index(row, depth_col)).split(" ± ")[0] == f"{unit.theta['depth_mm']:.1f}"


def test_grid_placement_moves_the_drawn_grid(window, small_recording_file, qtbot) -> None:  # type: ignore[no-untyped-def]
    """View → Grid placement: the electrodes drawn in 3D follow the new placement (actor and
    pixels), and Cancel draws them where they were."""
    from bmiss_engine.anatomy import demo_anatomy_paths

    assert window.open_file(small_recording_file)
    assert window.open_mri(demo_anatomy_paths().labels)
    view = window.views["anatomy"]
    window.docks["anatomy"].raise_()
    assert view.plotter is not None, view.note.text()

    def drawn_centre() -> np.ndarray:
        b = view.plotter.actors["electrodes"].GetBounds()
        return np.array([(b[0] + b[1]) / 2, (b[2] + b[3]) / 2, (b[4] + b[5]) / 2])

    def image() -> np.ndarray:
        view.plotter.render()
        return view.plotter.screenshot(None, return_img=True).astype(int)

    qtbot.wait(300)  # the window's layout settles first (a resized view renders other pixels)
    before_centre, before_image = drawn_centre(), image()
    assert np.allclose(before_centre, window.anatomy.placed.electrode_world_mm.mean(axis=0), atol=3.0)
    window.action_by_name["grid_placement"].trigger()
    dialog = window.placement_dialog
    dialog.angle.setValue(240.0)
    qtbot.waitUntil(lambda: window.anatomy.placed.placement.angle_deg == 240.0, timeout=20_000)
    moved = drawn_centre()
    assert np.allclose(moved, window.anatomy.placed.electrode_world_mm.mean(axis=0), atol=3.0)
    assert np.linalg.norm(moved - before_centre) > 30.0  # a third of the way round a 60-72 mm limb
    after_image = image()
    assert after_image.shape == before_image.shape, view.caption.text()
    changed = np.abs(after_image - before_image).sum(axis=2) > 30
    assert changed.sum() > 200, changed.sum()
    dialog.reject()
    assert np.allclose(drawn_centre(), before_centre)
