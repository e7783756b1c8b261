"""The EMG channels, stacked, band-passed, with a time scroller.

Only the visible window is drawn, reduced to a min/max envelope of at most ``MAX_COLUMNS``
points per channel (no visible detail is lost at screen resolution), and all channels go
into one curve with NaN breaks: scrolling a 64-channel, 2048 Hz recording stays smooth.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from numpy.typing import NDArray
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QScrollBar, QVBoxLayout

from bmiss_engine import Recording
from bmiss_gui.theme import Theme
from bmiss_gui.views.plotting import SinglePlotView

MAX_COLUMNS = 1500
_SCROLL_STEPS_PER_S = 20


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


class EmgView(SinglePlotView):
    """The band-passed channels of the recording given to :meth:`set_recording`."""

    def __init__(self) -> None:
        super().__init__()
        self._recording: Recording | None = None
        self._emg: NDArray[np.floating] | None = None
        self.plot.setMouseEnabled(x=False, y=True)
        self.plot.setLabel("bottom", "Time", units="s")
        self.plot.setLabel("left", "Channel")
        self.plot.getAxis("left").enableAutoSIPrefix(False)  # ticks are channel numbers, not volts
        self.good_curve = self.plot.plot([], [], connect="finite")
        self.bad_curve = self.plot.plot([], [], connect="finite")
        self.scroller = QScrollBar(Qt.Orientation.Horizontal)
        self.scroller.valueChanged.connect(self.redraw)
        self.window_s = QDoubleSpinBox()
        self.window_s.setRange(0.1, 60.0)
        self.window_s.setValue(2.0)
        self.window_s.setSuffix(" s")
        self.window_s.setToolTip("Length of the time window shown")
        self.window_s.valueChanged.connect(self._update_scroller)
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 0, 4, 2)
        bar.addWidget(self.scroller, 1)
        bar.addWidget(QLabel("Window"))
        bar.addWidget(self.window_s)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.plot_widget)
        layout.addLayout(bar)
        self._spacing = 1.0
        self.apply_theme(self._theme)

    def apply_theme(self, theme: Theme) -> None:
        super().apply_theme(theme)
        self.good_curve.setPen(pg.mkPen(theme.plot_foreground, width=1))
        self.bad_curve.setPen(pg.mkPen(theme.bad_channel, width=1))

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
        n = rec.n_channels
        step = max(1, n // 16)
        self.plot.getAxis("left").setTicks([[(-k * self._spacing, str(k)) for k in range(0, n, step)]])
        self._update_scroller()

    def _update_scroller(self) -> None:
        rec = self._recording
        if rec is None:
            return
        span = max(0.0, rec.duration_s - self.window_s.value())
        self.scroller.setRange(0, int(span * _SCROLL_STEPS_PER_S))
        self.scroller.setPageStep(max(1, int(self.window_s.value() * _SCROLL_STEPS_PER_S)))
        self.redraw()

    @property
    def visible_range_s(self) -> tuple[float, float]:
        start = self.scroller.value() / _SCROLL_STEPS_PER_S
        return start, start + self.window_s.value()

    def redraw(self) -> None:
        rec, emg = self._recording, self._emg
        if rec is None or emg is None:
            return
        fs = rec.sampling_rate_hz
        t0, t1 = self.visible_range_s
        a, b = max(0, int(t0 * fs)), min(rec.n_samples, int(np.ceil(t1 * fs)))
        positions, values = min_max_envelope(emg[:, a:b], MAX_COLUMNS)
        t = (a + positions) / fs
        offsets = -np.arange(rec.n_channels)[:, None] * self._spacing
        bad = np.zeros(rec.n_channels, dtype=bool)
        bad[list(rec.grid.bad_channels)] = True
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
        self.plot.setXRange(t0, t1, padding=0)
        self.plot.setYRange(-(rec.n_channels - 0.5) * self._spacing, 0.5 * self._spacing, padding=0)
