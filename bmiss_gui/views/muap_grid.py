"""The MUAP grid: the selected unit's template (spike-triggered average) on every electrode,
laid out as the electrodes sit on the grid; bad channels drawn grey.

All templates go into one plot as one curve per group (good / bad), each electrode's trace
shifted to its cell, so redrawing 64 traces costs two ``setData`` calls, not 64 plots.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from numpy.typing import NDArray
from PySide6.QtWidgets import QVBoxLayout

from bmiss_engine import ElectrodeGrid, MotorUnit
from bmiss_gui.colors import UnitColors
from bmiss_gui.theme import Theme
from bmiss_gui.views.plotting import CaptionedPlotView, caption_label

_CELL_FILL = 0.85  # fraction of a cell a trace may span, so neighbours do not touch
_EMPTY_CAPTION = "MUAP templates of the selected unit"


class MuapGridView(CaptionedPlotView):
    def __init__(self, colors: UnitColors | None = None) -> None:
        super().__init__()
        self._colors = colors or UnitColors()
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.invertY(True)  # row 0 at the top, as the grid is drawn in manuals
        # the amplitude on a line of its own: one line of both was cut off in a narrow dock
        self.amplitude = caption_label()
        layout = self.layout()
        assert isinstance(layout, QVBoxLayout)
        layout.insertWidget(1, self.amplitude)
        self.good_curve = self.plot.plot([], [], connect="finite")
        self.bad_curve = self.plot.plot([], [], connect="finite")
        #: (n_channels, n_lags) template last drawn, volts; None when nothing is shown
        self.template: NDArray[np.float32] | None = None
        self.peak_to_peak_uv: NDArray[np.float64] | None = None
        self._grid: ElectrodeGrid | None = None
        self._unit: MotorUnit | None = None
        self._drawn: tuple[object, ...] = ()
        self.apply_theme(self._theme)

    def apply_theme(self, theme: Theme) -> None:
        super().apply_theme(theme)
        self.bad_curve.setPen(pg.mkPen(theme.bad_channel, width=1))
        self.redraw()

    def set_unit(self, grid: ElectrodeGrid | None, unit: MotorUnit | None,
                 template: NDArray[np.float32] | None) -> None:
        """Show ``unit``'s ``template`` (n_channels, n_lags), volts, on ``grid``; None: nothing."""
        self._grid, self._unit, self.template = grid, unit, template
        self.redraw()

    def redraw(self) -> None:
        grid, unit, template = self._grid, self._unit, self.template
        drawn = (grid, unit, template, self._theme.name)
        if len(drawn) == len(self._drawn) and all(a is b for a, b in zip(drawn, self._drawn, strict=True)):
            return  # a live snapshot re-sends unchanged units: nothing to redraw
        self._drawn = drawn
        if template is None or grid is None or unit is None:
            self.good_curve.setData([], [])
            self.bad_curve.setData([], [])
            self.caption.setText(_EMPTY_CAPTION)
            self.amplitude.setText("")
            self.peak_to_peak_uv = None
            return
        ptp = np.ptp(template, axis=1).astype(np.float64)
        self.peak_to_peak_uv = ptp * 1e6
        bad = np.zeros(grid.n_channels, dtype=bool)
        bad[list(grid.bad_channels)] = True
        self._draw_traces(grid, template, bad, pg.mkPen(self._colors.color(unit.unit_id), width=1.5))
        rc = grid.channel_rc
        best = int(np.argmax(np.where(bad, -np.inf, ptp)))
        half_ms = template.shape[1] // 2 / unit.sampling_rate_hz * 1e3
        self.caption.setText(f"Unit {unit.unit_id}: {unit.n_discharges} discharges averaged, ±{half_ms:.0f} ms")
        self.amplitude.setText(f"Largest {ptp[best] * 1e6:.0f} µV peak-to-peak, row {rc[best, 0]}, column {rc[best, 1]}")

    def _draw_traces(self, grid: ElectrodeGrid, template: NDArray[np.float32], bad: NDArray[np.bool_],
                     pen: object) -> None:
        rc = grid.channel_rc
        n_lags = template.shape[1]
        # one amplitude scale for the whole grid: where the unit is large is the information
        scale = _CELL_FILL / max(float(np.ptp(template, axis=1).max()), 1e-12)
        x_local = np.linspace(-_CELL_FILL / 2, _CELL_FILL / 2, n_lags)
        for mask, curve, curve_pen in (
            (~bad, self.good_curve, pen),
            (bad, self.bad_curve, pg.mkPen(self._theme.bad_channel, width=1)),
        ):
            idx = np.flatnonzero(mask)
            if idx.size == 0:
                curve.setData([], [])
                continue
            # each trace followed by a NaN so connect="finite" breaks the line between cells
            xs = np.full((idx.size, n_lags + 1), np.nan)
            ys = np.full((idx.size, n_lags + 1), np.nan)
            xs[:, :n_lags] = rc[idx, 1][:, None] + x_local[None, :]
            ys[:, :n_lags] = rc[idx, 0][:, None] - template[idx] * scale
            curve.setData(xs.ravel(), ys.ravel(), pen=curve_pen, connect="finite")
        self.plot.setXRange(-0.6, grid.n_columns - 0.4, padding=0)
        self.plot.setYRange(-0.6, grid.n_rows - 0.4, padding=0)
