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

from bmiss_gui.session import Session
from bmiss_gui.theme import Theme
from bmiss_gui.views.plotting import SinglePlotView, caption_label, style_plot

_CELL_FILL = 0.85  # fraction of a cell a trace may span, so neighbours do not touch


class MuapGridView(SinglePlotView):
    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.invertY(True)  # row 0 at the top, as the grid is drawn in manuals
        self.good_curve = self.plot.plot([], [], connect="finite")
        self.bad_curve = self.plot.plot([], [], connect="finite")
        self.caption = caption_label()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.addWidget(self.caption)
        layout.addWidget(self.plot_widget)
        #: (n_channels, n_lags) template last drawn, volts; None when nothing is shown
        self.template: NDArray[np.float32] | None = None
        self.peak_to_peak_uv: NDArray[np.float64] | None = None
        self._drawn: tuple[object, ...] = ()
        session.result_changed.connect(self.redraw)
        session.selection_changed.connect(self.redraw)
        session.recording_changed.connect(self.redraw)
        self.apply_theme(self._theme)

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        style_plot(self.plot_widget, [self.plot], theme)
        self.plot.showGrid(x=False, y=False)
        self.bad_curve.setPen(pg.mkPen(theme.bad_channel, width=1))
        self.redraw()

    def redraw(self) -> None:
        rec = self._session.recording
        unit = self._session.selected_unit
        drawn = (rec, unit, self._session.offset_samples, self._theme.name)
        if drawn == self._drawn:
            return  # a live snapshot re-sends unchanged units: nothing to redraw
        self._drawn = drawn
        template = self._session.muap_template(unit) if unit is not None and rec is not None else None
        self.template = template
        if template is None or rec is None or unit is None:
            self.good_curve.setData([], [])
            self.bad_curve.setData([], [])
            self.caption.setText("MUAP templates of the selected unit")
            self.peak_to_peak_uv = None
            return
        ptp = np.ptp(template, axis=1).astype(np.float64)
        self.peak_to_peak_uv = ptp * 1e6
        rc = rec.grid.channel_rc
        n_lags = template.shape[1]
        # one amplitude scale for the whole grid: where the unit is large is the information
        scale = _CELL_FILL / max(float(ptp.max()), 1e-12)
        x_local = np.linspace(-_CELL_FILL / 2, _CELL_FILL / 2, n_lags)
        bad = np.zeros(rec.n_channels, dtype=bool)
        bad[list(rec.grid.bad_channels)] = True
        for mask, curve, pen in (
            (~bad, self.good_curve, pg.mkPen(self._session.colors.color(unit.unit_id), width=1.5)),
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
            curve.setData(xs.ravel(), ys.ravel(), pen=pen, connect="finite")
        self.plot.setXRange(-0.6, rec.grid.n_columns - 0.4, padding=0)
        self.plot.setYRange(-0.6, rec.grid.n_rows - 0.4, padding=0)
        best = int(np.argmax(np.where(bad, -np.inf, ptp)))
        self.caption.setText(
            f"Unit {unit.unit_id}: {unit.n_discharges} discharges averaged, ±{template.shape[1] // 2} samples; "
            f"largest {ptp[best] * 1e6:.0f} µV peak-to-peak at row {rc[best, 0]}, column {rc[best, 1]}"
        )
