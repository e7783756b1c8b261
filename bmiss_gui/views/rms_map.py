"""RMS of the band-passed EMG on the electrode grid, as a heat map: where the muscle is
active under the grid, and which electrodes look wrong. Bad channels are crossed out."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from numpy.typing import NDArray

from bmiss_engine import Recording
from bmiss_engine.review import rms_on_grid
from bmiss_gui.theme import Theme
from bmiss_gui.views.plotting import CaptionedPlotView


class RmsMapView(CaptionedPlotView):
    def __init__(self) -> None:
        super().__init__()
        self.plot.setAspectLocked(True)
        self.plot.invertY(True)
        self.plot.setLabel("bottom", "Column")
        self.plot.setLabel("left", "Row")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get("viridis"))
        self.plot.addItem(self.image)
        self.colour_bar = pg.ColorBarItem(colorMap=pg.colormap.get("viridis"), label="RMS (µV)",
                                          interactive=False, width=14)
        self.colour_bar.setImageItem(self.image, insert_in=self.plot)
        self.bad_marks = pg.ScatterPlotItem(symbol="x", size=14)
        self.plot.addItem(self.bad_marks)
        #: (n_rows, n_columns) RMS in µV last drawn; NaN where no electrode
        self.rms_uv: NDArray[np.float64] | None = None
        self.apply_theme(self._theme)

    def apply_theme(self, theme: Theme) -> None:
        super().apply_theme(theme)
        self.bad_marks.setPen(pg.mkPen("#dc2626", width=2))

    def set_recording(self, rec: Recording | None, emg: NDArray[np.floating] | None) -> None:
        """Draw the RMS map of ``rec`` from its band-passed EMG ``emg`` (n_channels, n_samples)."""
        if rec is None or emg is None:
            return
        rms = rms_on_grid(rec, emg) * 1e6
        self.rms_uv = rms
        finite = rms[np.isfinite(rms)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        # NaN (no electrode there) is drawn transparent
        self.image.setImage(rms, levels=(lo, hi if hi > lo else lo + 1))
        self.image.setRect(-0.5, -0.5, rec.grid.n_columns, rec.grid.n_rows)
        self.colour_bar.setLevels((lo, hi if hi > lo else lo + 1))
        self.plot.setXRange(-0.5, rec.grid.n_columns - 0.5, padding=0.02)
        self.plot.setYRange(-0.5, rec.grid.n_rows - 0.5, padding=0.02)
        # ticks on the grid's rows and columns only: the margin the locked aspect leaves is blank
        for axis, n in (("bottom", rec.grid.n_columns), ("left", rec.grid.n_rows)):
            step = -(-n // 8)  # at most 8 labels
            self.plot.getAxis(axis).setTicks([[(i, str(i)) for i in range(0, n, step)]])
        bad = list(rec.grid.bad_channels)
        rc = rec.grid.channel_rc[bad] if bad else np.zeros((0, 2))
        self.bad_marks.setData(rc[:, 1], rc[:, 0])
        self.caption.setText(f"RMS {lo:.0f}–{hi:.0f} µV on the {rec.grid.n_rows}×{rec.grid.n_columns} grid")
