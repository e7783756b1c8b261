"""Live redraws spread over the event loop.

While a decomposition runs, a snapshot changes several views. Redrawing them all in one go
(and letting Qt paint them in one pass) can keep the event loop busy longer than a user
notices as a stutter on a slow machine. The scheduler redraws one view per timer tick and
paints it at once, so input and other timers get their turn between views. A view may also
ask to be redrawn at most every so often (the rates of all units need not follow every
snapshot); its last request is never dropped, only delayed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QWidget

_GAP_MS = 1  # > 0: a real timer, so due timers and input run between two views


@dataclass
class LiveView:
    widget: QWidget
    redraw: Callable[[], None]
    min_interval_s: float = 0.0
    last_s: float = -1e9


class StaggeredRedraw(QObject):
    def __init__(self, views: list[LiveView], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._views = views
        self._pending: list[int] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(_GAP_MS)
        self._timer.timeout.connect(self._next)
        self._later = QTimer(self)  # for views asked again before their interval is over
        self._later.setSingleShot(True)
        self._later.timeout.connect(self.request)
        self._late: set[int] = set()

    @property
    def idle(self) -> bool:
        return not self._pending and not self._late

    def request(self) -> None:
        """Redraw every view soon, one after the other."""
        now = time.perf_counter()
        wait_s = 0.0
        self._late.clear()
        for i, view in enumerate(self._views):
            if i in self._pending:
                continue
            due = view.last_s + view.min_interval_s - now
            if due > 0:
                self._late.add(i)
                wait_s = max(wait_s, due)
            else:
                self._pending.append(i)
        if self._late:
            self._later.start(int(wait_s * 1000) + 1)
        if self._pending and not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Redraw what is pending or delayed now."""
        self._timer.stop()
        self._later.stop()
        self._pending.extend(i for i in sorted(self._late) if i not in self._pending)
        self._late.clear()
        while self._pending:
            self._redraw(self._pending.pop(0))

    def _next(self) -> None:
        if self._pending:
            self._redraw(self._pending.pop(0))
        if self._pending:
            self._timer.start()

    def _redraw(self, index: int) -> None:
        view = self._views[index]
        view.last_s = time.perf_counter()
        view.redraw()
        if view.widget.isVisible():
            for plot in view.widget.findChildren(pg.GraphicsView):
                plot.viewport().repaint()  # paint now, in this turn, not with every other view
            view.widget.repaint()
