"""The pulse train of the selected unit with its discharges marked, its instantaneous
discharge rate under it (intervals that stand out marked), and its figures in the title, all
redrawn as discharges are edited.

Editing, as in MUedit and DEMUSE: a click near a discharge removes it, a click elsewhere adds
the pulse train's peak under the pointer (in the Remove or Add mode a click only removes or only
adds). Modes (toolbar, or hold a key while dragging): Pan/zoom; Remove (Shift+drag) removes the
discharges inside the box; Add (Ctrl+drag) adds the largest pulse-train peak in the dragged
time range. "Update filter" asks for the unit's filter to be estimated again from its
discharges. The view only asks: it turns a click or a finished box into an intent
(``discharges_remove_requested(unit_id, samples)``, ``discharge_add_requested(unit_id,
sample)``, samples of the result; ``update_filter_requested(unit_id)``) and the controller
makes the edit.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QColor
from PySide6.QtWidgets import QGraphicsRectItem, QToolBar, QVBoxLayout, QWidget

from bmiss_engine import MotorUnit
from bmiss_engine.editing import discharge_near, discharges_in_box, largest_peak
from bmiss_engine.review import instantaneous_rate_hz, rate_outliers
from bmiss_gui.colors import UnitColors
from bmiss_gui.theme import LIGHT, Theme
from bmiss_gui.views.plotting import caption_label, style_plot
from bmiss_gui.views.review_state import ReviewState

MODES = ("pan", "remove", "add")
CLICK_RADIUS_PX = 8  # a click this close to a discharge means it
_PEAK_HALF_WIDTH_S = 0.005  # at least: a click adds the highest peak this close in time
_OUTLIER_COLOUR = "#dc2626"


class _EditViewBox(pg.ViewBox):  # type: ignore[misc]  # pyqtgraph ships no type hints
    """A ViewBox whose left-drag draws a box in the remove/add modes instead of panning."""

    box_drawn = Signal(str, QRectF)  # mode, rectangle in data coordinates
    clicked = Signal(str, QPointF)  # mode, point in data coordinates

    def __init__(self) -> None:
        super().__init__()
        self.mode = "pan"
        self._band = QGraphicsRectItem()
        self._band.setZValue(1e9)
        self._band.hide()
        self.addItem(self._band, ignoreBounds=True)

    def mode_for(self, modifiers: Qt.KeyboardModifier) -> str:
        if modifiers & Qt.KeyboardModifier.ShiftModifier:
            return "remove"
        if modifiers & Qt.KeyboardModifier.ControlModifier:
            return "add"
        return self.mode

    def mouseClickEvent(self, ev: pg.GraphicsScene.mouseEvents.MouseClickEvent) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or ev.double():
            super().mouseClickEvent(ev)
            return
        ev.accept()
        self.clicked.emit(self.mode_for(ev.modifiers()), QPointF(self.mapSceneToView(ev.scenePos())))

    def mouseDragEvent(self, ev: pg.GraphicsScene.mouseEvents.MouseDragEvent, axis: int | None = None) -> None:
        mode = self.mode_for(ev.modifiers())
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
    update_filter_requested = Signal(int)  # unit id

    def __init__(self, colors: UnitColors | None = None) -> None:
        super().__init__()
        self._colors = colors or UnitColors()
        self._state = ReviewState()
        self._theme = LIGHT
        self._make_plots()
        self._make_toolbar()
        self.title = caption_label("Select a unit")
        self.title.setContentsMargins(6, 0, 6, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.title)
        layout.addWidget(self.plot_widget)
        self._shown_unit: int | None = None
        self._drawn: tuple[object, ...] = ()
        self.apply_theme(self._theme)

    def _make_plots(self) -> None:
        """The pulse train over its instantaneous discharge rate, sharing the time axis."""
        self.viewbox = _EditViewBox()
        self.plot_widget = pg.GraphicsLayoutWidget()
        self.plot = self.plot_widget.addPlot(row=0, col=0, viewBox=self.viewbox)
        self.rate_plot = self.plot_widget.addPlot(row=1, col=0)
        self.rate_plot.setXLink(self.plot)
        self.plot.hideAxis("bottom")
        self.plot.setLabel("left", "Pulse train")
        self.rate_plot.setLabel("left", "Rate", units="Hz")
        self.rate_plot.setLabel("bottom", "Time", units="s")
        for plot in (self.plot, self.rate_plot):
            plot.setMenuEnabled(False)
            plot.getAxis("left").setWidth(52)  # fixed: changing tick labels must not re-layout the plots
        self.rate_plot.setMouseEnabled(x=True, y=False)
        self.plot_widget.ci.layout.setRowStretchFactor(0, 3)
        self.plot_widget.ci.layout.setRowStretchFactor(1, 1)
        self.curve = self.plot.plot([], [])
        self.curve.setDownsampling(auto=True, method="peak")
        self.curve.setClipToView(True)
        self.discharges = pg.ScatterPlotItem(size=7, symbol="o")
        self.plot.addItem(self.discharges)
        #: instantaneous rate at each discharge (Hz), and the rates that stand out from their neighbours
        self.rate_points = pg.ScatterPlotItem(size=5, symbol="o")
        self.rate_outliers = pg.ScatterPlotItem(size=9, symbol="x", pen=pg.mkPen(_OUTLIER_COLOUR, width=2),
                                                brush=pg.mkBrush(_OUTLIER_COLOUR))
        self.rate_plot.addItem(self.rate_points)
        self.rate_plot.addItem(self.rate_outliers)
        self.viewbox.box_drawn.connect(self._on_box)
        self.viewbox.clicked.connect(self._on_click)
        # a click on a discharge's dot reaches the dots, not the view box: the same click
        self.discharges.sigClicked.connect(
            lambda _item, _points, ev: self.viewbox.clicked.emit(
                self.viewbox.mode_for(ev.modifiers()), QPointF(self.viewbox.mapSceneToView(ev.scenePos()))))

    def _make_toolbar(self) -> None:
        self.toolbar = QToolBar()
        group = QActionGroup(self)
        self.mode_actions = {}
        for mode, title, tip in (
            ("pan", "Pan / zoom", "Drag to pan, wheel to zoom; click a discharge to remove it, elsewhere to add one"),
            ("remove", "Remove", "Drag a box around discharges to remove them (or Shift+drag); click one to remove it"),
            ("add", "Add", "Drag over a time range to add its largest peak (or Ctrl+drag); click a peak to add it"),
        ):
            action = self.toolbar.addAction(title)
            action.setCheckable(True)
            action.setToolTip(tip)
            action.setData(mode)
            group.addAction(action)
            self.mode_actions[mode] = action
        self.mode_actions["pan"].setChecked(True)
        group.triggered.connect(self._on_mode_action)
        self.toolbar.addSeparator()
        self.update_filter_action = self.toolbar.addAction("Update filter")
        self.update_filter_action.setToolTip(
            "Estimate the unit's filter again from its discharges as edited, then its pulse train and discharges (U)")
        self.update_filter_action.triggered.connect(self._on_update_filter)

    def set_mode(self, mode: str) -> None:
        self.viewbox.mode = mode
        self.mode_actions[mode].setChecked(True)

    def _on_mode_action(self, action: QAction) -> None:
        self.set_mode(str(action.data()))

    def _on_update_filter(self) -> None:
        u = self._state.selected_unit
        if u is not None and not self._state.live:
            self.update_filter_requested.emit(u.unit_id)

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        style_plot(self.plot_widget, [self.plot, self.rate_plot], theme)
        self.redraw(autorange=False, force=True)

    def set_state(self, state: ReviewState, autorange: bool = False) -> None:
        """Show ``state``'s selected unit; ``autorange``: fit the plot to it (a new selection)."""
        self._state = state
        self.update_filter_action.setEnabled(state.selected_unit is not None and not state.live)
        self.redraw(autorange)

    def redraw(self, autorange: bool = False, force: bool = False) -> None:
        u = self._state.selected_unit
        drawn = (u, self._state.live, self._state.offset_samples, self._theme.name)
        if not autorange and not force and drawn == self._drawn:
            return  # a live snapshot re-sends unchanged units: nothing to redraw
        self._drawn = drawn
        if u is None:
            for item in (self.curve, self.discharges, self.rate_points, self.rate_outliers):
                item.setData([], [])
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
        self._draw_rate(u, colour)
        self.title.setText(title_text(u) + ("  (decomposing…)" if self._state.live else ""))
        if autorange or self._shown_unit != u.unit_id:
            self.plot.enableAutoRange()
            self.rate_plot.enableAutoRange(axis="x")
        self._shown_unit = u.unit_id

    def _draw_rate(self, u: MotorUnit, colour: QColor) -> None:
        times, rate = instantaneous_rate_hz(u.discharge_samples, u.sampling_rate_hz)
        times = times + self._state.offset_samples / u.sampling_rate_hz
        odd = rate_outliers(rate)
        # the range follows the steady rates: a doubled discharge (hundreds of Hz) is drawn at the top
        top = max(20.0, 1.3 * float(np.percentile(rate[~odd], 95))) if (~odd).any() else 50.0
        shown = np.minimum(rate, 0.97 * top)
        self.rate_points.setData(times[~odd], shown[~odd], brush=pg.mkBrush(colour), pen=pg.mkPen(None))
        self.rate_outliers.setData(times[odd], shown[odd])
        self.rate_plot.setYRange(0, top, padding=0)

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

    def _on_click(self, mode: str, point: QPointF) -> None:
        seconds_per_px, height_per_px = self.viewbox.viewPixelSize()
        self.edit_click(mode, point.x(), point.y(), CLICK_RADIUS_PX * seconds_per_px,
                        CLICK_RADIUS_PX * height_per_px)

    def edit_click(self, mode: str, t_s: float, height: float, reach_s: float, reach_height: float) -> None:
        """What a click at (``t_s`` in the recording's seconds, pulse-train ``height``) asks
        for: the discharge within reach (``reach_s``, ``reach_height``: the click's radius in
        data units) removed; else the highest pulse-train peak within ``reach_s`` (at least
        5 ms) that is not a discharge added. The Remove mode only removes, the Add mode only adds."""
        u = self._state.selected_unit
        if u is None or self._state.live:
            return
        fs = u.sampling_rate_hz
        sample = t_s * fs - self._state.offset_samples
        near = discharge_near(u, sample, height, reach_s * fs, reach_height)
        if near is not None and mode in ("pan", "remove"):
            self.discharges_remove_requested.emit(u.unit_id, (near,))
        elif near is None and mode in ("pan", "add"):
            half = max(reach_s, _PEAK_HALF_WIDTH_S) * fs
            peak = largest_peak(u, sample - half, sample + half)
            if peak is not None:
                self.discharge_add_requested.emit(u.unit_id, peak)


def title_text(u: MotorUnit) -> str:
    """The pulse train's title: the unit's figures for its discharges as they are now."""
    sil = "–" if not np.isfinite(u.sil) else f"{u.sil:.3f}"
    pnr = "–" if not np.isfinite(u.pnr_db) else f"{u.pnr_db:.1f} dB"
    return f"Unit {u.unit_id} · {u.n_discharges} discharges · SIL {sil} · PNR {pnr} · {u.status}"
