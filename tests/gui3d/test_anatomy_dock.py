"""The 3D view floated and docked again: it keeps its scene, draws selections and picks units
in either window, and a drawing error stops only the 3D view. Before the fix, selecting a unit
after floating the dock segfaulted in the OpenGL driver (the render window had lost its
context with the old window)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyvistaqt")

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
    widget = view.plotter.interactor
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
        # a click on a sphere picks its unit in this window too (VTK renders to pick)
        _click(view, 1)
        qtbot.waitUntil(lambda: window.session.selected_ids == (1,), timeout=2000)
    assert set(view.scene.surfaces) == {"skin", "fat", "muscle"}
    assert _image(view).std() > 10


def test_a_rebuilt_render_window_shows_the_same(window, small_recording_file, qtbot) -> None:  # type: ignore[no-untyped-def]
    """What a window change does without shared contexts: a new render window with the same
    scene, spheres and camera."""
    assert window.open_file(small_recording_file)
    view = window.views["anatomy"]
    window.session.finish_decomposition(_units_with_theta())
    qtbot.waitUntil(lambda: sorted(view.unit_actors) == [0, 1, 2], timeout=10_000)
    qtbot.wait(300)  # the window's layout settles first (a resized view renders other pixels)
    view.plotter.camera.azimuth = 30.0
    old_plotter, camera, before = view.plotter, view.plotter.camera_position, _image(view)
    points = view.unit_points
    view.rebuild_render_window()
    assert view.plotter is not old_plotter
    assert sorted(view.unit_actors) == [0, 1, 2]
    assert all(np.allclose(view.unit_points[i], points[i]) for i in range(3))
    now = view.plotter.camera_position
    for a, b in ((now.position, camera.position), (now.focal_point, camera.focal_point), (now.viewup, camera.viewup)):
        assert np.allclose(a, b)
    qtbot.wait(100)
    after = _image(view)
    assert after.shape == before.shape
    assert _changed_pixels(before, after) < 0.01 * after.shape[0] * after.shape[1]


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


_WITHOUT_SHARING = """
import os, sys, time
os.environ["QT_QPA_PLATFORM"] = "xcb"
os.environ["BMISS_RECOVERY_DIR"] = sys.argv[2]
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
app = QApplication([])  # no share_gl_contexts(): the dock's window change loses the GL context
from bmiss_gui.main_window import MainWindow
from tests.gui3d.test_anatomy_view import _units_with_theta
w = MainWindow(QSettings(sys.argv[2] + "/s.ini", QSettings.Format.IniFormat))
w.files.ask_unsaved = lambda: "discard"
w.show()
def pump(s):
    end = time.perf_counter() + s
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.005)
assert w.open_file(sys.argv[1])
w.session.finish_decomposition(_units_with_theta())
pump(1.0)
view, dock = w.views["anatomy"], w.docks["anatomy"]
for floating in (True, False):
    dock.setFloating(floating)
    pump(0.5)
    for uid in (0, 2, 1):
        w.session.select((uid,))
        view.plotter.render()  # a render outside a paint: what crashed
        pump(0.1)
print("spheres", sorted(view.unit_actors), flush=True)
w.close()
"""


def test_without_shared_contexts_the_view_rebuilds(small_recording_file, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An application that made its QApplication without shared contexts: the view rebuilds
    its render window on each window change and survives (run apart: a crash is a segfault)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", _WITHOUT_SHARING, str(small_recording_file), str(tmp_path)],
                          capture_output=True, text=True, timeout=180, env=env, cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "spheres [0, 1, 2]" in proc.stdout


_CLOSED_3D_PANEL = """
import os, sys, time
os.environ["QT_QPA_PLATFORM"] = "xcb"
os.environ["BMISS_RECOVERY_DIR"] = sys.argv[2]
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
from bmiss_gui.views.anatomy3d import share_gl_contexts
share_gl_contexts()
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
    """With the 3D panel closed (a restored layout), opening a recording made a render window
    that was never realized, and the next paint of the window segfaulted in Qt's compositor.
    The render window is now made when the panel is first shown (run apart: a crash is a
    segfault)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", _CLOSED_3D_PANEL, str(small_recording_file), str(tmp_path)],
                          capture_output=True, text=True, timeout=180, env=env, cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "hidden: plotter False spheres []" in proc.stdout
    shown = proc.stdout.split("shown: spheres ")[1]
    assert shown.startswith("[0, 1, 2]")
    assert int(shown.split("std ")[1]) > 10
