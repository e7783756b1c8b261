"""The 3D view floated and docked again: it keeps its scene, draws selections and picks units
in either window, and a drawing error stops only the 3D view. Before issue 25, selecting a unit
after floating the dock segfaulted in the OpenGL driver (the QOpenGLWidget's context went with
the old window); the view now renders off screen and shows images. A closed 3D panel makes no
render window until it is shown (one never realized crashed Qt's compositor)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyvista")

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from tests.gui3d.test_anatomy_view import _units_with_theta

REPO = Path(__file__).resolve().parents[2]


def _image(view) -> np.ndarray:  # type: ignore[no-untyped-def]
    view.plotter.render()
    return view.plotter.screenshot(None, return_img=True).astype(int)


def _changed_pixels(a: np.ndarray, b: np.ndarray) -> int:
    return int((np.abs(a - b).sum(axis=2) > 30).sum())


def _click(view, uid: int) -> None:  # type: ignore[no-untyped-def]
    x, y = view.display_point(uid)
    widget = view.canvas
    ratio = widget.devicePixelRatioF()
    pos = QPoint(round(x / ratio), round(widget.height() - y / ratio))
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)


def test_float_select_and_dock_again(window, small_recording_file, qtbot) -> None:  # type: ignore[no-untyped-def]
    assert window.open_file(small_recording_file)
    view, dock = window.views["anatomy"], window.docks["anatomy"]
    window.session.finish_decomposition(_units_with_theta())
    qtbot.waitUntil(lambda: sorted(view.unit_actors) == [0, 1, 2], timeout=10_000)
    for floating in (True, False):
        dock.setFloating(floating)
        qtbot.waitUntil(lambda floating=floating: dock.isFloating() == floating and view.isVisible(), timeout=5000)
        qtbot.wait(200)  # the new window is exposed and painted
        for uid in (2, 0):  # each differs from the selection before it
            before = _image(view)
            window.session.select((uid,))
            after = _image(view)
            assert sorted(view.unit_actors) == [0, 1, 2]  # the scene still holds every sphere
            opacities = {i: a.GetProperty().GetOpacity() for i, a in view.unit_actors.items()}
            assert opacities[uid] == 1.0
            assert all(o < 1.0 for i, o in opacities.items() if i != uid)
            assert _changed_pixels(before, after) > 15, f"selecting unit {uid} drew nothing (floating={floating})"
        # a click on a sphere picks its unit in this window too
        _click(view, 1)
        qtbot.waitUntil(lambda: window.session.selected_ids == (1,), timeout=2000)
        # a drag rotates the camera and shows the new frame; it selects nothing
        camera, renders = view.plotter.camera_position.position, view.canvas.renders
        centre = view.canvas.rect().center()
        QTest.mousePress(view.canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, centre)
        for step in range(1, 6):
            QTest.mouseMove(view.canvas, centre + QPoint(10 * step, 4 * step))
        QTest.mouseRelease(view.canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                           centre + QPoint(50, 20))
        assert not np.allclose(view.plotter.camera_position.position, camera)
        assert view.canvas.renders > renders
        assert window.session.selected_ids == (1,)
    assert set(view.scene.surfaces) == {"skin", "fat", "muscle"}
    assert _image(view).std() > 10


def test_a_drawing_error_stops_only_the_3d_view(window, small_recording_file, qtbot) -> None:  # type: ignore[no-untyped-def]
    assert window.open_file(small_recording_file)
    view = window.views["anatomy"]
    window.session.finish_decomposition(_units_with_theta())
    qtbot.waitUntil(lambda: sorted(view.unit_actors) == [0, 1, 2], timeout=10_000)

    def broken(_looks: object) -> bool:
        raise RuntimeError("driver said no")

    view.spheres.show = broken
    window.session.select((2,))  # must not raise out of the slot
    assert view.plotter is None
    assert "driver said no" in view.note.text()
    assert view.note.isVisible()
    assert window.session.selected_ids == (2,)  # the rest of the window carries on
    window.session.select((0,))
    assert window.views["units"].isVisible()


_CLOSED_3D_PANEL = """
import os, sys, time
os.environ["QT_QPA_PLATFORM"] = "xcb"
os.environ["BMISS_RECOVERY_DIR"] = sys.argv[2]
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
app = QApplication([])
from bmiss_gui.main_window import MainWindow
from tests.gui3d.test_anatomy_view import _units_with_theta
w = MainWindow(QSettings(sys.argv[2] + "/s.ini", QSettings.Format.IniFormat))
w.files.ask_unsaved = lambda: "discard"
w.docks["anatomy"].hide()  # as a saved layout with the 3D panel closed restores it
w.show()
def pump(s):
    end = time.perf_counter() + s
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.005)
assert w.open_file(sys.argv[1])
view = w.views["anatomy"]
w.session.finish_decomposition(_units_with_theta())
w.run._on_running_changed(True)  # the status bar changes: the window is painted again
pump(1.0)
print("hidden: plotter", view.plotter is not None, "spheres", sorted(view.unit_actors), flush=True)
w.docks["anatomy"].show()
pump(1.0)
view.plotter.render()
image = view.plotter.screenshot(None, return_img=True)
print("shown: spheres", sorted(view.unit_actors), "std", round(float(image.std())), flush=True)
w.close()
"""


def test_a_closed_3d_panel_draws_when_opened(small_recording_file, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """With the 3D panel closed (a restored layout), opening a recording made a QOpenGLWidget
    that was never realized, and the next paint of the window segfaulted in Qt's compositor.
    Nothing is built until the panel is first shown (run apart: a crash is a segfault)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", _CLOSED_3D_PANEL, str(small_recording_file), str(tmp_path)],
                          capture_output=True, text=True, timeout=180, env=env, cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "hidden: plotter False spheres []" in proc.stdout
    shown = proc.stdout.split("shown: spheres ")[1]
    assert shown.startswith("[0, 1, 2]")
    assert int(shown.split("std ")[1]) > 10
