"""The discharge-rate view redraws only the units whose drawing changed."""

from __future__ import annotations

from tests.gui.conftest import require_gui

require_gui()

import dataclasses

import numpy as np

from bmiss_engine import DecompositionResult
from bmiss_gui.views.rates import DischargeRateView
from bmiss_gui.views.review_state import ReviewState


def test_new_unit_objects_with_the_same_discharges_are_not_redrawn(qtbot, small_result: DecompositionResult,
                                                                    monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A joint decode sends every unit again as a new object with a new pulse train: only a unit
    whose discharges or status changed is drawn again, and it is drawn as it now is."""
    view = DischargeRateView()
    qtbot.addWidget(view)
    view.set_state(ReviewState(small_result, live=True))
    # a live redraw may leave units to later turns of the event loop (its time budget)
    qtbot.waitUntil(lambda: len(view.drawn_rates) == small_result.n_units and not view._rest.isActive(), timeout=5000)
    drawn: list[int] = []
    original = view._draw_unit
    monkeypatch.setattr(view, "_draw_unit", lambda u, *a: (drawn.append(u.unit_id), original(u, *a)))
    units = list(small_result.units)
    # every unit a new object, pulse trains scaled; one unit loses a discharge, one is rejected
    fresh = [u.replace(pulse_train=u.pulse_train * np.float32(0.5)) for u in units]
    fresh[0] = fresh[0].replace(discharge_samples=units[0].discharge_samples[1:])
    fresh[1] = fresh[1].replace(status="rejected")
    view.set_state(ReviewState(dataclasses.replace(small_result, units=tuple(fresh)), live=True))
    qtbot.waitUntil(lambda: not view._rest.isActive(), timeout=5000)
    assert drawn == [units[0].unit_id, units[1].unit_id]
    first_tick_s = view.drawn_rates[units[0].unit_id][0]
    assert units[1].unit_id not in view.drawn_rates  # rejected: no rate curve
    assert first_tick_s.size > 0


def test_a_live_redraw_leaves_what_its_budget_does_not_cover_to_later_turns(
        qtbot, small_result: DecompositionResult, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """During a run, one redraw draws units for a few ms at most and the rest in the next turns
    of the event loop (each turn at least one unit); a finished result is drawn at once."""
    import bmiss_gui.views.rates as rates_module

    monkeypatch.setattr(rates_module, "_LIVE_BUDGET_S", 0.0)
    view = DischargeRateView()
    qtbot.addWidget(view)
    n = small_result.n_units
    view.set_state(ReviewState(small_result, live=True))
    assert len(view.drawn_rates) == 1
    qtbot.waitUntil(lambda: len(view.drawn_rates) == n, timeout=5000)
    other = DischargeRateView()
    qtbot.addWidget(other)
    other.set_state(ReviewState(small_result, live=False))
    assert len(other.drawn_rates) == n

