"""Live redraws spread over the event loop.

While a decomposition runs, a snapshot changes several views. Redrawing them all in one go
(and letting Qt paint them in one pass) can keep the event loop busy longer than a user
notices as a stutter on a slow machine. The scheduler redraws one view per timer tick and
paints it at once, so input and other timers get their turn between views.
"""

from __future__ import annotations

from collections.abc import Callable

import pyqtgraph as pg
from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QWidget

_GAP_MS = 1  # > 0: a real timer, so due timers and input run between two views


class StaggeredRedraw(QObject):
    def __init__(self, views: list[tuple[QWidget, Callable[[], None]]], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._views = views
        self._pending: list[int] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(_GAP_MS)
        self._timer.timeout.connect(self._next)

    @property
    def idle(self) -> bool:
        return not self._pending

    def request(self) -> None:
        """Redraw every view soon, one after the other."""
        for i in range(len(self._views)):
            if i not in self._pending:
                self._pending.append(i)
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Redraw what is pending now (before a final state replaces the live one)."""
        self._timer.stop()
        while self._pending:
            self._redraw(self._pending.pop(0))

    def _next(self) -> None:
        if self._pending:
            self._redraw(self._pending.pop(0))
        if self._pending:
            self._timer.start()

    def _redraw(self, index: int) -> None:
        widget, redraw = self._views[index]
        redraw()
        if widget.isVisible():
            for view in widget.findChildren(pg.GraphicsView):
                view.viewport().repaint()  # paint now, in this turn, not with every other view
            widget.repaint()
