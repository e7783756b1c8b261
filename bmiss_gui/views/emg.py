"""The EMG channels, stacked, band-passed, a page of channels at a time, with a time
scroller, a µV scale bar, and the selected unit's discharges drawn over them.

Only the visible window is drawn, reduced to a min/max envelope of at most ``MAX_COLUMNS``
points per channel (no visible detail is lost at screen resolution), and all channels go
into one curve with NaN breaks: scrolling a 64-channel, 2048 Hz recording stays smooth. A
page holds 16 channels by default (64 traces in a dock a few hundred pixels high are lines, not
signals); the scroll bar beside the plot, or the mouse wheel over it, moves through them.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from numpy.typing import NDArray
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QColor, QWheelEvent
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QScrollBar, QVBoxLayout

from bmiss_engine import Recording
from bmiss_gui.colors import UnitColors
from bmiss_gui.theme import Theme
from bmiss_gui.views.plotting import SinglePlotView
from bmiss_gui.views.review_state import ReviewState

MAX_COLUMNS = 1500
_SCROLL_STEPS_PER_S = 20
PAGE_SIZES = (8, 16, 32, 64, 128, 256)
DEFAULT_PAGE = 16
_SCALE_STEPS_UV = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
_DISCHARGE_ALPHA = 110


def min_max_envelope(x: NDArray[np.floating], max_columns: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(n_channels, n) → sample positions (m,) and values (n_channels, m), m ≤ 2·max_columns:
    each block of samples replaced by its minimum and maximum, in time order."""
    n = x.shape[1]
    if n <= 2 * max_columns:
        return np.arange(n, dtype=np.float64), x.astype(np.float64)
    block = int(np.ceil(n / max_columns))
    m = n // block
    blocks = x[:, : m * block].reshape(x.shape[0], m, block)
    lo, hi = blocks.min(axis=2), blocks.max(axis=2)
    values = np.empty((x.shape[0], 2 * m))
    values[:, 0::2], values[:, 1::2] = lo, hi
    positions = np.repeat(np.arange(m) * block + block / 2, 2)
    return positions, values


def scale_bar_uv(spacing_v: float) -> int:
    """The round µV value (1-2-5 steps) closest below half the distance between two traces."""
    half = spacing_v * 1e6 / 2
    return max((v for v in _SCALE_STEPS_UV if v <= half), default=_SCALE_STEPS_UV[0])


class EmgView(SinglePlotView):
    """The band-passed channels of the recording given to :meth:`set_recording`, and the
    discharges of the selected unit of the :class:`ReviewState` given to :meth:`set_state`."""

    def __init__(self, colors: UnitColors | None = None) -> None:
        super().__init__()
        self._colors = colors or UnitColors()
        self._recording: Recording | None = None
        self._emg: NDArray[np.floating] | None = None
        self._state = ReviewState()
        self.plot.setMouseEnabled(x=False, y=False)  # the scroll bars move; the wheel pages the channels
        self.plot.setLabel("bottom", "Time", units="s")
        self.plot.setLabel("left", "Channel")
        self.plot.getAxis("left").enableAutoSIPrefix(False)  # ticks are channel numbers, not volts
        self.good_curve = self.plot.plot([], [], connect="finite")
        self.bad_curve = self.plot.plot([], [], connect="finite")
        #: the selected unit's discharges in the visible window, one vertical line each
        self.discharge_lines = self.plot.plot([], [], connect="finite")
        self.discharge_lines.setZValue(-1)
        self.scale_bar = self.plot.plot([], [])
        self.scale_label = pg.TextItem(anchor=(0, 0.5))
        self.plot.addItem(self.scale_label, ignoreBounds=True)
        self._make_controls()
        self.plot_widget.viewport().installEventFilter(self)
        self._spacing = 1.0
        self.apply_theme(self._theme)

    def _make_controls(self) -> None:
        self.scroller = QScrollBar(Qt.Orientation.Horizontal)
        self.scroller.valueChanged.connect(self.redraw)
        self.channel_scroller = QScrollBar(Qt.Orientation.Vertical)
        self.channel_scroller.setToolTip("Scroll through the channels (or turn the mouse wheel over the traces)")
        self.channel_scroller.valueChanged.connect(self.redraw)
        self.window_s = QDoubleSpinBox()
        self.window_s.setRange(0.1, 60.0)
        self.window_s.setValue(2.0)
        self.window_s.setSuffix(" s")
        self.window_s.setToolTip("Length of the time window shown")
        self.window_s.valueChanged.connect(self._update_scroller)
        self.page_size = QComboBox()
        self.page_size.setToolTip("How many channels show at once")
        self.page_size.currentIndexChanged.connect(self._update_channel_scroller)
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 0, 4, 2)
        bar.addWidget(self.scroller, 1)
        bar.addWidget(QLabel("Window"))
        bar.addWidget(self.window_s)
        bar.addWidget(QLabel("Channels"))
        bar.addWidget(self.page_size)
        plots = QHBoxLayout()
        plots.setContentsMargins(0, 0, 0, 0)
        plots.setSpacing(0)
        plots.addWidget(self.plot_widget, 1)
        plots.addWidget(self.channel_scroller)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(plots, 1)
        layout.addLayout(bar)

    def apply_theme(self, theme: Theme) -> None:
        super().apply_theme(theme)
        self.good_curve.setPen(pg.mkPen(theme.plot_foreground, width=1))
        self.bad_curve.setPen(pg.mkPen(theme.bad_channel, width=1))
        self.scale_bar.setPen(pg.mkPen(theme.plot_foreground, width=3))
        self.scale_label.setColor(theme.plot_foreground)
        backdrop = QColor(theme.plot_background)
        backdrop.setAlpha(210)
        self.scale_label.fill = pg.mkBrush(backdrop)  # readable over the traces
        self.scale_label.setZValue(10)
        self.scale_bar.setZValue(10)
        self.redraw()

    def set_recording(self, rec: Recording | None, emg: NDArray[np.floating] | None) -> None:
        """Show ``rec`` through its band-passed EMG ``emg`` (n_channels, n_samples), volts."""
        if rec is None or emg is None:
            return
        self._recording, self._emg = rec, emg
        # channels one robust peak-to-peak apart: large MUAPs may overlap a neighbour, noise never.
        # 20 000 samples per channel estimate the percentile as well as all of them, and a long
        # recording's full sort would hold the GUI thread ~0.1 s
        stride = max(1, emg.shape[1] // 20_000)
        self._spacing = float(np.median(np.percentile(np.abs(emg[:, ::stride]), 99.5, axis=1))) * 2.2 or 1.0
        self.page_size.blockSignals(True)
        self.page_size.clear()
        sizes = [k for k in PAGE_SIZES if k < rec.n_channels]
        for k in sizes:
            self.page_size.addItem(str(k), k)
        self.page_size.addItem(f"All {rec.n_channels}", rec.n_channels)
        self.page_size.setCurrentIndex(sizes.index(DEFAULT_PAGE) if DEFAULT_PAGE in sizes else len(sizes))
        self.page_size.blockSignals(False)
        self._set_channel_range()  # drawn once, by the time scroller's update: a long recording's
        self._update_scroller()  # envelope costs ~50 ms of the GUI thread each time

    def set_state(self, state: ReviewState) -> None:
        """Draw the discharges of ``state``'s selected unit over the channels."""
        same = (state.selected_unit, state.offset_samples) == (self._state.selected_unit, self._state.offset_samples)
        before = self._state.selected_unit
        self._state = state
        if same:
            return
        unit = state.selected_unit
        if unit is not None and (before is None or before.unit_id != unit.unit_id) and self._show_first_discharge():
            return  # scrolled: redrawn with the discharges
        self._draw_discharges()

    def _show_first_discharge(self) -> bool:
        """Scroll to the selected unit's first discharge when none is in the window shown;
        whether it scrolled."""
        unit = self._state.selected_unit
        if unit is None or unit.n_discharges == 0 or self._recording is None:
            return False
        times = (unit.discharge_samples + self._state.offset_samples) / unit.sampling_rate_hz
        t0, t1 = self.visible_range_s
        if np.any((times >= t0) & (times <= t1)):
            return False
        start = max(0.0, float(times[0]) - 0.1 * self.window_s.value())
        value = min(self.scroller.maximum(), int(start * _SCROLL_STEPS_PER_S))
        if value == self.scroller.value():
            return False
        self.scroller.setValue(value)
        return True

    def _update_scroller(self) -> None:
        rec = self._recording
        if rec is None:
            return
        span = max(0.0, rec.duration_s - self.window_s.value())
        self.scroller.setRange(0, int(span * _SCROLL_STEPS_PER_S))
        self.scroller.setPageStep(max(1, int(self.window_s.value() * _SCROLL_STEPS_PER_S)))
        self.redraw()

    def _update_channel_scroller(self) -> None:
        self._set_channel_range()
        self.redraw()

    def _set_channel_range(self) -> None:
        rec = self._recording
        if rec is None:
            return
        page = self.channels_per_page
        self.channel_scroller.setRange(0, max(0, rec.n_channels - page))
        self.channel_scroller.setPageStep(page)
        self.channel_scroller.setSingleStep(max(1, page // 4))
        self.channel_scroller.setVisible(page < rec.n_channels)

    @property
    def channels_per_page(self) -> int:
        value = self.page_size.currentData()
        return int(value) if value is not None else DEFAULT_PAGE

    @property
    def visible_channels(self) -> range:
        """The channels on the page shown."""
        if self._recording is None:
            return range(0)
        first = self.channel_scroller.value()
        return range(first, min(self._recording.n_channels, first + self.channels_per_page))

    @property
    def visible_range_s(self) -> tuple[float, float]:
        start = self.scroller.value() / _SCROLL_STEPS_PER_S
        return start, start + self.window_s.value()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if isinstance(event, QWheelEvent) and watched is self.plot_widget.viewport():
            steps = event.angleDelta().y() / 120
            self.channel_scroller.setValue(self.channel_scroller.value() - round(steps * self.channel_scroller.singleStep()))
            return True
        return super().eventFilter(watched, event)

    def redraw(self) -> None:
        rec, emg = self._recording, self._emg
        if rec is None or emg is None:
            return
        fs = rec.sampling_rate_hz
        t0, t1 = self.visible_range_s
        a, b = max(0, int(t0 * fs)), min(rec.n_samples, int(np.ceil(t1 * fs)))
        shown = np.asarray(self.visible_channels)
        positions, values = min_max_envelope(emg[shown, a:b], MAX_COLUMNS)
        t = (a + positions) / fs
        offsets = -shown[:, None] * self._spacing
        bad = np.isin(shown, list(rec.grid.bad_channels))
        for mask, curve in ((~bad, self.good_curve), (bad, self.bad_curve)):
            idx = np.flatnonzero(mask)
            if idx.size == 0:
                curve.setData([], [])
                continue
            xs = np.full((idx.size, t.size + 1), np.nan)
            ys = np.full((idx.size, t.size + 1), np.nan)
            xs[:, :-1] = t
            ys[:, :-1] = values[idx] + offsets[idx]
            curve.setData(xs.ravel(), ys.ravel(), connect="finite")
        top, bottom = self._vertical_range()
        self.plot.setXRange(t0, t1, padding=0)
        self.plot.setYRange(bottom, top, padding=0)
        step = max(1, shown.size // 16)
        self.plot.getAxis("left").setTicks([[(-k * self._spacing, str(k)) for k in shown[::step]]])
        self._draw_discharges()
        self._draw_scale_bar(t0, t1, bottom)

    def _vertical_range(self) -> tuple[float, float]:
        """(top, bottom) of the page's traces in the plot's coordinates."""
        shown = self.visible_channels
        return -(shown[0] - 0.5) * self._spacing, -(shown[-1] + 0.5) * self._spacing

    def _draw_discharges(self) -> None:
        unit = self._state.selected_unit
        if unit is None or self._recording is None:
            self.discharge_lines.setData([], [])
            return
        t0, t1 = self.visible_range_s
        top, bottom = self._vertical_range()
        times = (unit.discharge_samples + self._state.offset_samples) / unit.sampling_rate_hz
        times = times[(times >= t0) & (times <= t1)]
        xs = np.repeat(times, 3)
        xs[2::3] = np.nan
        ys = np.tile([top, bottom, np.nan], times.size)
        colour = QColor(self._colors.color(unit.unit_id))
        colour.setAlpha(_DISCHARGE_ALPHA)
        self.discharge_lines.setData(xs, ys, connect="finite", pen=pg.mkPen(colour, width=1))

    def _draw_scale_bar(self, t0: float, t1: float, bottom: float) -> None:
        """A vertical bar of a round number of µV at the left of the lowest trace."""
        uv = scale_bar_uv(self._spacing)
        x = t0 + 0.01 * (t1 - t0)
        y0 = bottom + 0.1 * self._spacing
        self.scale_bar.setData([x, x], [y0, y0 + uv * 1e-6])
        self.scale_label.setText(f"{uv} µV")
        self.scale_label.setPos(x + 0.005 * (t1 - t0), y0 + uv * 0.5e-6)
