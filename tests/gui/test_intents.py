"""Passive views: a view is given data and asks for edits with intent signals; only the
controller (the session) edits, through the engine's edit objects, so every edit undoes."""

from __future__ import annotations

from tests.gui.conftest import require_gui

require_gui()

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from bmiss_engine import DecompositionResult
from bmiss_engine.editing import RemoveDischarges
from bmiss_gui.views.pulse_train import PulseTrainView
from bmiss_gui.views.review_state import ReviewState
from bmiss_gui.views.units_table import UnitsTableView


@pytest.fixture
def reviewing(window, small_recording_file: Path, small_result: DecompositionResult):  # type: ignore[no-untyped-def]
    assert window.open_file(small_recording_file)
    window.session.finish_decomposition(small_result)
    window.live_redraw.flush()
    return window


def _discharges(result: DecompositionResult) -> dict[int, list[int]]:
    return {u.unit_id: u.discharge_samples.tolist() for u in result.units}


def test_the_pulse_train_view_asks_for_edits_and_changes_nothing(qtbot, small_result: DecompositionResult) -> None:
    view = PulseTrainView()
    qtbot.addWidget(view)
    unit = small_result.units[0]
    fs = unit.sampling_rate_hz
    offset = 2048  # a result of a window that starts 1 s into the recording
    view.set_state(ReviewState(small_result, (unit.unit_id,), offset))
    before = _discharges(small_result)
    asked_remove: list[tuple[int, tuple[int, ...]]] = []
    asked_add: list[tuple[int, int]] = []
    view.discharges_remove_requested.connect(lambda uid, samples: asked_remove.append((uid, samples)))
    view.discharge_add_requested.connect(lambda uid, sample: asked_add.append((uid, sample)))

    # a box from 1.5 s to 2.5 s of the recording: 0.5 s to 1.5 s of the result, every height
    view.edit_box("remove", 1.5, 2.5, -1e9, 1e9)
    inside = unit.discharge_samples[(unit.discharge_samples >= 0.5 * fs) & (unit.discharge_samples <= 1.5 * fs)]
    assert inside.size >= 3
    assert asked_remove == [(unit.unit_id, tuple(int(s) for s in inside))]
    # a box over the pulse train's noise floor only holds no discharge: nothing is asked
    view.edit_box("remove", 1.5, 2.5, 1e6, 2e6)
    assert len(asked_remove) == 1

    # add: the largest peak in the range that is not a discharge yet
    gone = int(unit.discharge_samples[unit.n_discharges // 2])
    edited = RemoveDischarges(unit.unit_id, (gone,)).apply(small_result)
    view.set_state(ReviewState(edited, (unit.unit_id,), offset))
    with qtbot.waitSignal(view.discharge_add_requested, timeout=1000) as added:
        view.edit_box("add", (offset + gone - 0.03 * fs) / fs, (offset + gone + 0.03 * fs) / fs, 0, 0)
    assert added.args == [unit.unit_id, gone]
    assert _discharges(small_result) == before  # the view edited nothing


def test_ctrl_drag_asks_for_a_discharge_and_the_controllers_edit_undoes(qtbot, reviewing) -> None:
    w = reviewing
    s = w.session
    view = w.views["pulse_train"]
    unit = s.selected_unit
    fs = unit.sampling_rate_hz
    gone = int(unit.discharge_samples[unit.n_discharges // 2])
    s.remove_discharges(unit.unit_id, (gone,))  # the intent's slot, called as the view would
    without = s.selected_unit
    assert gone not in without.discharge_samples
    assert s.history.undo_label.startswith("Remove 1 discharge")
    # show ±30 ms around the removed discharge, and Ctrl+drag across all of it
    qtbot.waitExposed(w)
    view.plot.setXRange(gone / fs - 0.03, gone / fs + 0.03, padding=0)
    view.plot.setYRange(float(unit.pulse_train.min()), float(unit.pulse_train.max()), padding=0)
    vb, gv = view.viewbox, view.plot_widget
    rect = vb.sceneBoundingRect()
    a = gv.mapFromScene(QPointF(rect.left() + 2, rect.top() + 2))
    b = gv.mapFromScene(QPointF(rect.right() - 2, rect.bottom() - 2))
    viewport = gv.viewport()
    with qtbot.waitSignal(view.discharge_add_requested, timeout=2000) as asked:
        qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, a)
        for k in range(1, 11):
            p = a + (b - a) * (k / 10)
            qtbot.mouseMove(viewport, QPoint(int(p.x()), int(p.y())))
        qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, b)
    assert asked.args == [unit.unit_id, gone]
    # the controller made the edit: the unit has its discharge back, one undo step further
    assert s.selected_unit.discharge_samples.tolist() == unit.discharge_samples.tolist()
    assert s.history.undo_label == f"Add 1 discharge(s) to unit {unit.unit_id}"
    dx, _ = view.discharges.getData()
    assert np.any(np.isclose(dx, gone / fs))  # and the view was given the edited unit
    w.action_by_name["undo"].trigger()
    assert s.selected_unit is without
    w.action_by_name["undo"].trigger()
    assert s.selected_unit is unit
    assert not s.history.can_undo
    w.action_by_name["redo"].trigger()
    assert s.selected_unit is without


def test_selecting_a_row_asks_for_the_unit_and_every_view_follows(qtbot, reviewing) -> None:
    w = reviewing
    table: UnitsTableView = w.views["units"]
    ids = [u.unit_id for u in w.session.result.units]
    qtbot.waitExposed(w)
    cell = table.visualRect(table.units_model.index(2, 1)).center()
    with qtbot.waitSignal(table.units_selected, timeout=1000) as asked:
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=cell)
    assert asked.args == [(ids[2],)]
    assert w.session.selected_ids == (ids[2],)
    unit = w.session.result.unit(ids[2])
    _, values = w.views["pulse_train"].curve.getOriginalDataset()
    np.testing.assert_allclose(values, unit.pulse_train)
    assert w.views["muap"].caption.text().startswith(f"Unit {ids[2]}:")


def test_the_controller_ignores_intents_it_cannot_honour(reviewing) -> None:
    s = reviewing.session
    unit = s.result.units[0]
    missing = max(u.unit_id for u in s.result.units) + 1
    s.remove_discharges(missing, (10, 20))
    s.add_discharge(missing, 10)
    s.remove_discharges(unit.unit_id, ())
    assert not s.history.can_undo  # no edit was made
    s.begin_decomposition(None)  # a run: nothing can be edited until it ends
    s.add_discharge(unit.unit_id, 10)
    assert s.history is None
    assert s.result.n_units == 0
