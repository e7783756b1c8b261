"""Shared pyqtgraph set-up for the views: theme colours on a plot."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from bmiss_gui.theme import LIGHT, Theme

pg.setConfigOptions(antialias=False, useOpenGL=False)  # plain raster drawing: fast offscreen and on any GPU


class SinglePlotView(QWidget):
    """A view around one pyqtgraph plot (``plot_widget`` / ``plot``) that follows the theme;
    the context menu is off (its actions bypass the undo history)."""

    def __init__(self) -> None:
        super().__init__()
        self._theme = LIGHT
        self.plot_widget = pg.PlotWidget()
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setMenuEnabled(False)

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        style_plot(self.plot_widget, [self.plot], theme)


class CaptionedPlotView(SinglePlotView):
    """A :class:`SinglePlotView` under a one-line ``caption``."""

    def __init__(self) -> None:
        super().__init__()
        self.caption = caption_label()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.addWidget(self.caption)
        layout.addWidget(self.plot_widget)


def style_plot(widget: pg.PlotWidget | pg.GraphicsLayoutWidget, plots: list[pg.PlotItem], theme: Theme) -> None:
    widget.setBackground(theme.plot_background)
    for plot in plots:
        for name in ("left", "bottom", "right", "top"):
            axis = plot.getAxis(name)
            axis.setPen(pg.mkPen(theme.plot_foreground))
            axis.setTextPen(pg.mkPen(theme.plot_foreground))
        # no grid: pyqtgraph draws it with the axes, so every curve update would repaint the
        # axes across the whole plot (the costliest part of a redraw while decomposing)
        plot.showGrid(x=False, y=False)


class CaptionLabel(QLabel):
    """A one-line caption whose text may change often: its width never pushes the dock
    layout around (a changing minimum width would re-layout and repaint the whole window).
    Text wider than the dock ends in "…" and shows whole as the tooltip; :meth:`text` is
    the whole text."""

    def __init__(self, text: str = "") -> None:
        super().__init__()
        self._full = ""
        self.setObjectName("hint")
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:
        self._full = text
        self.setToolTip(text)
        self._elide()

    def text(self) -> str:
        return self._full

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = self.contentsRect().width()
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, width) if width > 0 else self._full
        super().setText(shown)


def caption_label(text: str = "") -> QLabel:
    """A :class:`CaptionLabel`."""
    return CaptionLabel(text)
