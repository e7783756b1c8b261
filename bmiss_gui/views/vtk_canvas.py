"""A VTK scene drawn off screen and shown as an image in a plain widget.

pyvistaqt's ``QtInteractor`` is a ``QOpenGLWidget``. Its mere presence makes Qt composite the
whole main window with OpenGL on every repaint of any widget; on software OpenGL (Mesa's
llvmpipe: Xvfb, VMs, machines without a GPU driver) that tripled the event-loop stalls of a
live decomposition (demo, Xvfb, load ~7: p99 142 ms with it, 54 ms without). Its context also
goes with the window when its dock floats, which crashed VTK. Here VTK renders into its own
off-screen render window (a pyvista ``Plotter(off_screen=True)``), and the widget paints the
last frame as an image: the window stays a plain raster window, and floating the dock moves
a picture.

Renders happen on request, at most one per display frame (``request_render`` merges requests
of ~16 ms), and only while the widget is visible (a request while hidden renders when shown).
Mouse and wheel events drive VTK's trackball camera (drag rotates, right drag or wheel zooms,
middle drag pans); a click (press and release within a few pixels) is ``clicked(x, y)`` in
VTK's display pixels (origin bottom-left).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QMouseEvent, QPainter, QPaintEvent, QResizeEvent, QShowEvent, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

log = logging.getLogger(__name__)

FRAME_MS = 16  # requests within one display frame give one render
_CLICK_SLOP_PX = 4


class VtkCanvas(QWidget):
    """The widget showing ``plotter``'s off-screen render window."""

    clicked = Signal(int, int)
    render_failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        import pyvista as pv
        from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera
        from vtkmodules.vtkRenderingUI import vtkGenericRenderWindowInteractor

        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(200, 160)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMouseTracking(False)
        self.plotter: Any = pv.Plotter(off_screen=True, window_size=list(self._device_size()))
        render_window: Any = self.plotter.ren_win
        # no multisampling: 8× MSAA tripled a frame on software OpenGL; FXAA smooths the edges
        render_window.SetMultiSamples(0)
        self.plotter.enable_anti_aliasing("fxaa")
        self.plotter.show(auto_close=False, interactive=False)  # set up for render() and screenshots
        self._iren = vtkGenericRenderWindowInteractor()
        self._iren.SetRenderWindow(render_window)
        self._iren.SetInteractorStyle(vtkInteractorStyleTrackballCamera())
        self._iren.SetSize(*self._device_size())
        # every render (ours, or the trackball's as the mouse moves the camera) is shown
        render_window.AddObserver("EndEvent", lambda *_: self._take_frame())
        self._frame: QImage | None = None
        self._press: QPointF | None = None
        self._button = Qt.MouseButton.NoButton
        self._dirty = False  # a render was asked for while hidden
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(FRAME_MS)
        self._timer.timeout.connect(self.render_now)
        self.renders = 0  # completed renders (for tests and benchmarks)

    # -- rendering ------------------------------------------------------------------------------
    def request_render(self) -> None:
        """Render soon: requests within one display frame give one render; none while hidden."""
        if not self.isVisible():
            self._dirty = True
        elif not self._timer.isActive():
            self._timer.start()

    def render_now(self) -> None:
        """Render now (if visible) and show the frame."""
        self._timer.stop()
        if not self.isVisible():
            self._dirty = True
            return
        self._dirty = False
        try:
            self.plotter.render()  # the EndEvent observer takes the frame
        except Exception as exc:  # VTK and pyvista raise many kinds; the window must not go down
            log.exception("the 3D render failed")
            self.render_failed.emit(f"{type(exc).__name__}: {exc}")

    def _take_frame(self) -> None:
        """Copy the render window's pixels (device pixels, RGB) into the image painted."""
        from vtkmodules.util.numpy_support import vtk_to_numpy
        from vtkmodules.vtkRenderingCore import vtkWindowToImageFilter

        grab = vtkWindowToImageFilter()
        grab.SetInput(self.plotter.ren_win)
        grab.SetInputBufferTypeToRGB()
        grab.ReadFrontBufferOff()
        grab.ShouldRerenderOff()
        grab.Update()
        image = grab.GetOutput()
        w, h, _ = image.GetDimensions()
        scalars = vtk_to_numpy(image.GetPointData().GetScalars())  # type: ignore[no-untyped-call]
        pixels = np.ascontiguousarray(np.asarray(scalars, dtype=np.uint8).reshape(h, w, 3)[::-1])
        frame = QImage(pixels.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        frame.setDevicePixelRatio(self.devicePixelRatioF())
        self._frame = frame
        self.renders += 1
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        if self._frame is None:
            painter.fillRect(self.rect(), self.palette().base())
        else:
            painter.drawImage(0, 0, self._frame)
        painter.end()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._dirty:
            self.request_render()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        w, h = self._device_size()
        self.plotter.window_size = [w, h]
        self._iren.SetSize(w, h)
        self._iren.ConfigureEvent()
        self.request_render()

    def _device_size(self) -> tuple[int, int]:
        ratio = self.devicePixelRatioF()
        return max(1, round(self.width() * ratio)), max(1, round(self.height() * ratio))

    # -- the mouse ------------------------------------------------------------------------------
    def _tell_vtk(self, event: QMouseEvent | QWheelEvent, repeat: int = 0) -> None:
        ratio = self.devicePixelRatioF()
        pos = event.position()
        mods = event.modifiers()
        self._iren.SetEventInformationFlipY(round(pos.x() * ratio), round(pos.y() * ratio),
                                            int(bool(mods & Qt.KeyboardModifier.ControlModifier)),
                                            int(bool(mods & Qt.KeyboardModifier.ShiftModifier)), "\0", repeat, "")

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._tell_vtk(event)
        self._button, self._press = event.button(), event.position()
        {Qt.MouseButton.LeftButton: self._iren.LeftButtonPressEvent,
         Qt.MouseButton.RightButton: self._iren.RightButtonPressEvent,
         Qt.MouseButton.MiddleButton: self._iren.MiddleButtonPressEvent}.get(event.button(), lambda: None)()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self._tell_vtk(event)
        self._iren.MouseMoveEvent()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._tell_vtk(event)
        {Qt.MouseButton.LeftButton: self._iren.LeftButtonReleaseEvent,
         Qt.MouseButton.RightButton: self._iren.RightButtonReleaseEvent,
         Qt.MouseButton.MiddleButton: self._iren.MiddleButtonReleaseEvent}.get(self._button, lambda: None)()
        press, self._press = self._press, None
        if press is None or self._button != Qt.MouseButton.LeftButton:
            return
        moved = event.position() - press
        if abs(moved.x()) + abs(moved.y()) <= _CLICK_SLOP_PX:  # a click, not a drag
            ratio = self.devicePixelRatioF()
            self.clicked.emit(round(event.position().x() * ratio),
                              round((self.height() - event.position().y()) * ratio))

    def wheelEvent(self, event: QWheelEvent) -> None:
        self._tell_vtk(event)
        if event.angleDelta().y() > 0:
            self._iren.MouseWheelForwardEvent()
        elif event.angleDelta().y() < 0:
            self._iren.MouseWheelBackwardEvent()

    # -- teardown -------------------------------------------------------------------------------
    def close_plotter(self) -> None:
        """Release the render window."""
        self._timer.stop()
        self.plotter.ren_win.RemoveAllObservers()
        self.plotter.close()
