"""The live redraw scheduler: one view per turn, and a rate-limited view's last request is
delayed, never dropped (else the final state of a run could stay undrawn)."""

from __future__ import annotations

from tests.gui.conftest import require_gui

require_gui()

from PySide6.QtWidgets import QWidget

from bmiss_gui.redraw import LiveView, StaggeredRedraw


def test_views_redraw_one_per_turn_and_late_requests_are_kept(qtbot) -> None:
    calls: list[str] = []
    fast, slow = QWidget(), QWidget()
    qtbot.addWidget(fast)
    qtbot.addWidget(slow)
    scheduler = StaggeredRedraw([
        LiveView(fast, lambda: calls.append("fast")),
        LiveView(slow, lambda: calls.append("slow"), min_interval_s=0.3),
    ])
    scheduler.request()
    assert calls == []  # nothing inside the request itself
    qtbot.waitUntil(lambda: scheduler.idle, timeout=2000)
    assert calls == ["fast", "slow"]
    scheduler.request()  # again at once: the slow view must wait for its interval
    qtbot.waitUntil(lambda: calls.count("fast") == 2, timeout=2000)
    assert calls.count("slow") == 1
    assert not scheduler.idle
    qtbot.waitUntil(lambda: scheduler.idle, timeout=2000)
    assert calls.count("slow") == 2
