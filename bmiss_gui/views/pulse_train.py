"""The pulse train of the selected unit with its discharges marked; drag a box to edit.

Modes (toolbar, or hold a key while dragging): Pan/zoom; Remove (Shift+drag) removes the
discharges inside the box; Add (Ctrl+drag) adds the largest pulse-train peak in the dragged
time range. The view only asks: it turns a finished box into an intent
(``discharges_remove_requested(unit_id, samples)``, ``discharge_add_requested(unit_id,
sample)``, samples of the result) and the controller makes the edit.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QColor
from PySide6.QtWidgets import QGraphicsRectItem, QHBoxLayout, QToolBar, QVBoxLayout, QWidget

from bmiss_engine.editing import discharges_in_box, largest_peak
from bmiss_gui.colors import UnitColors
from bmiss_gui.theme import LIGHT, Theme
from bmiss_gui.views.plotting import caption_label, style_plot
from bmiss_gui.views.review_state import ReviewState

MODES = ("pan", "remove", "add")


class _EditViewBox(pg.ViewBox):  # type: ignore[misc]  # pyqtgraph ships no type hints
    """A ViewBox whose left-drag draws a box in the remove/add modes instead of panning."""

    box_drawn = Signal(str, QRectF)  # mode, rectangle in data coordinates

    def __init__(self) -> None:
        super().__init__()
        self.mode = "pan"
        self._band = QGraphicsRectItem()
        self._band.setZValue(1e9)
        self._band.hide()
        self.addItem(self._band, ignoreBounds=True)

    def _mode_for(self, modifiers: Qt.KeyboardModifier) -> str:
        if modifiers & Qt.KeyboardModifier.ShiftModifier:
            return "remove"
        if modifiers & Qt.KeyboardModifier.ControlModifier:
            return "add"
        return self.mode

    def mouseDragEvent(self, ev: pg.GraphicsScene.mouseEvents.MouseDragEvent, axis: int | None = None) -> None:
        mode = self._mode_for(ev.modifiers())
        if ev.button() != Qt.MouseButton.LeftButton or mode == "pan":
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        a = self.mapSceneToView(ev.buttonDownScenePos())
        b = self.mapSceneToView(ev.scenePos())
        rect = QRectF(QPointF(a), QPointF(b)).normalized()
        if ev.isFinish():
            self._band.hide()
            self.box_drawn.emit(mode, rect)
        else:
            colour = QColor("#dc2626" if mode == "remove" else "#16a34a")
            self._band.setPen(pg.mkPen(colour, width=1))
            fill = QColor(colour)
            fill.setAlpha(40)
            self._band.setBrush(fill)
            self._band.setRect(rect)
            self._band.show()


class PulseTrainView(QWidget):
    """The selected unit of the :class:`ReviewState` given to :meth:`set_state`."""

    discharges_remove_requested = Signal(int, object)  # unit id, tuple of samples of the result
    discharge_add_requested = Signal(int, int)  # unit id, sample of the result

    def __init__(self, colors: UnitColors | None = None) -> None:
        super().__init__()
        self._colors = colors or UnitColors()
        self._state = ReviewState()
        self._theme = LIGHT
        self.viewbox = _EditViewBox()
        self.plot_widget = pg.PlotWidget(viewBox=self.viewbox)
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setLabel("bottom", "Time", units="s")
        self.plot.setLabel("left", "Pulse train")
        self.plot.setMenuEnabled(False)
        self.plot.getAxis("left").setWidth(52)  # fixed: changing tick labels must not re-layout the plot
        self.curve = self.plot.plot([], [])
        self.curve.setDownsampling(auto=True, method="peak")
        self.curve.setClipToView(True)
        self.discharges = pg.ScatterPlotItem(size=7, symbol="o")
        self.plot.addItem(self.discharges)
        self.viewbox.box_drawn.connect(self._on_box)

        self.toolbar = QToolBar()
        group = QActionGroup(self)
        self.mode_actions = {}
        for mode, title, tip in (
            ("pan", "Pan / zoom", "Drag to pan, wheel to zoom"),
            ("remove", "Remove discharges", "Drag a box around discharges to remove them (or Shift+drag)"),
            ("add", "Add discharge", "Drag over a time range to add its largest peak (or Ctrl+drag)"),
        ):
            action = self.toolbar.addAction(title)
            action.setCheckable(True)
            action.setToolTip(tip)
            action.setData(mode)
            group.addAction(action)
            self.mode_actions[mode] = action
        self.mode_actions["pan"].setChecked(True)
        group.triggered.connect(self._on_mode_action)
        self.title = caption_label("Select a unit")
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 6, 0)
        header.addWidget(self.toolbar)
        header.addWidget(self.title, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(header)
        layout.addWidget(self.plot_widget)

        self._shown_unit: int | None = None
        self._drawn: tuple[object, ...] = ()
        self.apply_theme(self._theme)

    def set_mode(self, mode: str) -> None:
        self.viewbox.mode = mode
        self.mode_actions[mode].setChecked(True)

    def _on_mode_action(self, action: QAction) -> None:
        self.set_mode(str(action.data()))

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        style_plot(self.plot_widget, [self.plot], theme)
        self.redraw()

    def set_state(self, state: ReviewState, autorange: bool = False) -> None:
        """Show ``state``'s selected unit; ``autorange``: fit the plot to it (a new selection)."""
        self._state = state
        self.redraw(autorange)

    def redraw(self, autorange: bool = False) -> None:
        u = self._state.selected_unit
        drawn = (u, self._state.live, self._state.offset_samples, self._theme.name)
        if not autorange and drawn == self._drawn:
            return  # a live snapshot re-sends unchanged units: nothing to redraw
        self._drawn = drawn
        if u is None:
            self.curve.setData([], [])
            self.discharges.setData([], [])
            self.title.setText("Select a unit in the table")
            self._shown_unit = None
            return
        fs = u.sampling_rate_hz
        offset = self._state.offset_samples
        t = (np.arange(u.pulse_train.size) + offset) / fs
        colour = self._colors.color(u.unit_id)
        self.curve.setData(t, u.pulse_train, pen=pg.mkPen(self._theme.plot_foreground, width=1))
        d = u.discharge_samples
        self.discharges.setData(
            (d + offset) / fs, u.pulse_train[np.clip(d, 0, u.pulse_train.size - 1)],
            brush=pg.mkBrush(colour), pen=pg.mkPen(None),
        )
        self.title.setText(
            f"Unit {u.unit_id}: {u.n_discharges} discharges, SIL {u.sil:.3f}, {u.status}"
            + ("  (decomposing…)" if self._state.live else "")
        )
        if autorange or self._shown_unit != u.unit_id:
            self.plot.enableAutoRange()
        self._shown_unit = u.unit_id

    def _on_box(self, mode: str, rect: QRectF) -> None:
        self.edit_box(mode, rect.left(), rect.right(), rect.top(), rect.bottom())

    def edit_box(self, mode: str, t0_s: float, t1_s: float, low: float, high: float) -> None:
        """What a finished box drag asks for (also the entry point for scripted review): the
        shown unit's discharges inside the box (times in seconds of the recording, heights in
        pulse-train units) removed, or the largest pulse-train peak between the two times that
        is not a discharge yet added. Nothing is asked when the box holds nothing to change."""
        u = self._state.selected_unit
        if u is None:
            return
        a, b = self._state.to_result_samples(t0_s, t1_s)
        if mode == "remove":
            gone = discharges_in_box(u, a, b, min(low, high), max(low, high))
            if gone.size:
                self.discharges_remove_requested.emit(u.unit_id, tuple(int(g) for g in gone))
        elif mode == "add":
            peak = largest_peak(u, a, b)
            if peak is not None:
                self.discharge_add_requested.emit(u.unit_id, peak)
