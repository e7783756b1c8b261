"""Discharge rates of all units: a raster (one row of ticks per unit) above the smoothed
discharge rate (1 s Hann window), both in the units' colours. Rejected units keep their row,
their ticks faded towards the background, and have no rate curve."""

from __future__ import annotations

import math
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QVBoxLayout, QWidget

from bmiss_engine import MotorUnit
from bmiss_engine.review import smoothed_rate_hz
from bmiss_gui.colors import UnitColors, dimmed
from bmiss_gui.theme import LIGHT, Theme
from bmiss_gui.views.plotting import style_plot
from bmiss_gui.views.review_state import ReviewState

_TICK_HEIGHT = 0.8
# while a decomposition runs, one redraw draws units for this long at most and leaves the rest
# to the next turns of the event loop: after a joint decode every unit's train has changed,
# and drawing 20 of them in one go held the event loop for 70-100 ms
_LIVE_BUDGET_S = 0.025


class DischargeRateView(QWidget):
    """The units of the :class:`ReviewState` given to :meth:`set_state`."""

    def __init__(self, colors: UnitColors | None = None) -> None:
        super().__init__()
        self._colors = colors or UnitColors()
        self._state = ReviewState()
        self._theme = LIGHT
        self.layout_widget = pg.GraphicsLayoutWidget()
        self.raster = self.layout_widget.addPlot(row=0, col=0)
        self.rate = self.layout_widget.addPlot(row=1, col=0)
        self.rate.setXLink(self.raster)
        self.raster.setLabel("left", "Unit")
        self.raster.invertY(True)
        self.raster.hideAxis("bottom")
        self.rate.setLabel("left", "Rate", units="Hz")
        self.rate.setLabel("bottom", "Time", units="s")
        for p in (self.raster, self.rate):
            p.setMenuEnabled(False)
            p.disableAutoRange()
            # fixed width: a new unit's tick label must not re-layout (and re-render) both plots
            p.getAxis("left").setWidth(52)
        self.layout_widget.ci.layout.setRowStretchFactor(0, 3)
        self.layout_widget.ci.layout.setRowStretchFactor(1, 2)
        # unit id -> (unit drawn, (row, selected, offset, theme), raster item, rate item)
        self._drawn: dict[int, tuple[MotorUnit, tuple[int, bool, int, str], pg.PlotDataItem, pg.PlotDataItem]] = {}
        #: unit id -> colour of its raster ticks last drawn
        self.tick_colours: dict[int, QColor] = {}
        self._ticks: list[tuple[int, str]] = []
        self._ranges: tuple[tuple[float, float], float] | None = None
        #: unit id -> (times_s, smoothed rate Hz) last drawn
        self.drawn_rates: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.layout_widget)
        self._rest = QTimer(self)  # the units a live redraw left for later
        self._rest.setSingleShot(True)
        self._rest.setInterval(1)
        self._rest.timeout.connect(self.redraw)
        self.apply_theme(self._theme)

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        style_plot(self.layout_widget, [self.raster, self.rate], theme)  # type: ignore[arg-type]
        self.redraw()

    def set_state(self, state: ReviewState) -> None:
        self._state = state
        self.redraw()

    def redraw(self) -> None:
        r = self._state.result
        shown = list(r.units) if r is not None else []
        selected = set(self._state.selected_ids)
        wanted = {u.unit_id for u in shown}
        for uid in [k for k in self._drawn if k not in wanted]:
            tick, curve = self._drawn.pop(uid)[2:]
            self.raster.removeItem(tick)
            self.rate.removeItem(curve)
            self.drawn_rates.pop(uid, None)
            self.tick_colours.pop(uid, None)
        if r is None:
            return
        fs = r.sampling_rate_hz
        offset = self._state.offset_samples
        deadline = time.perf_counter() + _LIVE_BUDGET_S if self._state.live else math.inf
        n_drawn = 0
        for row, u in enumerate(shown):
            key = (u, row, u.unit_id in selected, offset, self._theme.name)
            drawn = self._drawn.get(u.unit_id)
            # a live decomposition re-sends unchanged units, the joint method as new objects with
            # new pulse trains and the same discharges: redraw only what this view shows changed
            if drawn is not None and drawn[1] == key[1:] and _same_drawing(drawn[0], u):
                continue
            if n_drawn and time.perf_counter() > deadline:  # at least one a turn: always progress
                self._rest.start()
                break
            n_drawn += 1
            if drawn is None:
                tick, curve = pg.PlotDataItem(connect="finite"), pg.PlotDataItem()
                self.raster.addItem(tick)
                self.rate.addItem(curve)
            else:
                tick, curve = drawn[2], drawn[3]
            self._draw_unit(u, row, u.unit_id in selected, tick, curve)
            self._drawn[u.unit_id] = (u, key[1:], tick, curve)
        # fixed ranges, changed only when they must: a range change re-renders the axes,
        # the costliest part of redrawing this view while units keep arriving
        x_range = (offset / fs, (offset + r.n_samples) / fs)
        top = max((float(rate.max()) for _, rate in self.drawn_rates.values() if rate.size), default=0.0)
        y_top = max(10.0, float(np.ceil(top * 1.1 / 10) * 10))
        if (x_range, y_top) != self._ranges:
            self._ranges = (x_range, y_top)
            self.raster.setXRange(*x_range, padding=0.01)
            self.rate.setYRange(0, y_top, padding=0)
        ticks = [(row, str(u.unit_id)) for row, u in enumerate(shown)]
        if ticks != self._ticks:
            self._ticks = ticks
            self.raster.getAxis("left").setTicks([ticks])
            self.raster.setYRange(-0.6, max(len(shown), 1) - 0.4, padding=0)

    def _draw_unit(self, u: MotorUnit, row: int, selected: bool, tick: pg.PlotDataItem,
                   curve: pg.PlotDataItem) -> None:
        """The unit's row of ticks and its smoothed rate (none for a rejected unit, whose ticks
        are faded)."""
        r = self._state.result
        assert r is not None
        fs, offset = r.sampling_rate_hz, self._state.offset_samples
        colour = self._colors.color(u.unit_id)
        rejected = u.status == "rejected"
        if rejected:
            colour = dimmed(colour, QColor(self._theme.plot_background))
        t = (u.discharge_samples + offset) / fs
        # vertical ticks as one line with breaks: x = t t nan, y = row-h row+h nan
        xs = np.repeat(t, 3)
        xs[2::3] = np.nan
        ys = np.tile([row - _TICK_HEIGHT / 2, row + _TICK_HEIGHT / 2, np.nan], t.size)
        tick.setData(xs, ys, connect="finite", pen=pg.mkPen(colour, width=1))
        self.tick_colours[u.unit_id] = colour
        if rejected:
            curve.setData([], [])
            self.drawn_rates.pop(u.unit_id, None)
            return
        times, rate = smoothed_rate_hz(u.discharge_samples, fs, r.n_samples)
        times = times + offset / fs
        curve.setData(times, rate, pen=pg.mkPen(colour, width=2.5 if selected else 1.2))
        self.drawn_rates[u.unit_id] = (times, rate)


def _same_drawing(drawn: MotorUnit, unit: MotorUnit) -> bool:
    """Whether ``unit`` draws as ``drawn`` did: the same discharges and review status (its pulse
    train plays no part here)."""
    return drawn is unit or (drawn.status == unit.status
                             and np.array_equal(drawn.discharge_samples, unit.discharge_samples))
