"""Reviewing unit by unit as MUedit and DEMUSE reviewers do: units start unreviewed, A/F/R
mark and move on, N/P move, Delete selects the next row, rejected units fade in the raster;
click editing of the pulse train with its rate and figures following; the filter updated from
the discharges off the GUI thread."""

from __future__ import annotations

from tests.gui.conftest import require_gui

require_gui()

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QImage

from bmiss_engine import DecompositionResult
from bmiss_engine.review import instantaneous_rate_hz, rate_outliers
from bmiss_engine.separation.duplicates import rate_of_agreement
from bmiss_gui.views.units_table import COLUMNS


@pytest.fixture
def reviewing(window, small_recording_file: Path, small_result: DecompositionResult):  # type: ignore[no-untyped-def]
    assert window.open_file(small_recording_file)
    window.session.finish_decomposition(small_result)
    window.live_redraw.flush()
    return window


def _colour_pixels(image: QImage, colour: QColor, tolerance: int = 30) -> int:
    img = image.convertToFormat(QImage.Format.Format_RGB32)
    arr = np.frombuffer(img.constBits(), dtype=np.uint8, count=img.sizeInBytes()).reshape(img.height(),
                                                                                          img.bytesPerLine())
    bgr = arr[:, : img.width() * 4].reshape(img.height(), img.width(), 4)[..., :3].astype(int)
    target = np.array([colour.blue(), colour.green(), colour.red()])
    return int((np.abs(bgr - target) <= tolerance).all(axis=2).sum())


def test_units_start_unreviewed_and_the_keys_walk_through_them(qtbot, reviewing) -> None:
    w = reviewing
    s = w.session
    table = w.views["units"]
    ids = [u.unit_id for u in s.result.units]
    assert {u.status for u in s.result.units} == {"unreviewed"}
    assert table.units_model.data(table.units_model.index(0, COLUMNS.index("Status"))) == "unreviewed"
    assert s.selected_ids == (ids[0],)
    w.activateWindow()
    table.setFocus()
    qtbot.keyClick(table, Qt.Key.Key_N)
    qtbot.keyClick(table, Qt.Key.Key_N)
    assert s.selected_ids == (ids[2],)
    qtbot.keyClick(table, Qt.Key.Key_P)
    assert s.selected_ids == (ids[1],)
    # A, F, R mark the unit and go on to the next row
    qtbot.keyClick(table, Qt.Key.Key_A)
    qtbot.keyClick(table, Qt.Key.Key_F)
    qtbot.keyClick(table, Qt.Key.Key_R)
    assert [s.result.unit(i).status for i in ids[:4]] == ["unreviewed", "accepted", "flagged", "rejected"]
    assert s.selected_ids == (ids[4],)
    assert table.currentIndex().row() == 4  # the table follows
    # at the last unit the keys stay there
    s.select((ids[-1],))
    w.action_by_name["next_unit"].trigger()
    assert s.selected_ids == (ids[-1],)
    # without auto-advance, marking leaves the selection where it is
    w.action_by_name["auto_advance"].setChecked(False)
    s.select((ids[0],))
    w.action_by_name["accept"].trigger()
    assert s.selected_ids == (ids[0],)
    assert s.result.unit(ids[0]).status == "accepted"
    # several units selected: all are marked, the selection stays
    w.action_by_name["auto_advance"].setChecked(True)
    s.select((ids[0], ids[1]))
    w.action_by_name["reject"].trigger()
    assert s.selected_ids == (ids[0], ids[1])


def test_delete_selects_the_unit_that_takes_the_row(reviewing) -> None:
    w = reviewing
    s = w.session
    ids = [u.unit_id for u in s.result.units]
    s.select((ids[2],))
    w.action_by_name["delete"].trigger()
    assert s.selected_ids == (ids[3],)
    assert w.views["units"].currentIndex().row() == 2
    s.select((ids[-1],))
    w.action_by_name["delete"].trigger()
    assert s.selected_ids == (ids[-2],)  # the last row went: the new last one
    w.action_by_name["undo"].trigger()
    assert s.selected_ids == (ids[-2],)
    w.action_by_name["redo"].trigger()
    assert s.selected_ids == (ids[-2],)


def test_a_rejected_unit_fades_in_the_raster(reviewing) -> None:
    w = reviewing
    s = w.session
    view = w.views["rates"]
    w.docks["rates"].raise_()
    unit = s.result.units[1]
    colour = s.colors.color(unit.unit_id)
    before = _colour_pixels(view.layout_widget.grab().toImage(), colour)
    assert before > 50
    assert view.tick_colours[unit.unit_id] == colour
    s.select((unit.unit_id,))
    w.action_by_name["reject"].trigger()
    faded = view.tick_colours[unit.unit_id]
    assert faded != colour
    # faded towards the background: nearer to it than the unit's colour
    background = QColor(w.theme.plot_background)
    assert abs(faded.lightness() - background.lightness()) < abs(colour.lightness() - background.lightness())
    image = view.layout_widget.grab().toImage()
    assert _colour_pixels(image, colour) < before / 10, "the rejected unit still draws in its full colour"
    assert _colour_pixels(image, faded, tolerance=4) > 20  # its ticks are there, faded
    assert unit.unit_id not in view.drawn_rates  # and no rate curve
    w.action_by_name["undo"].trigger()
    assert view.tick_colours[unit.unit_id] == colour


def _click(qtbot, view, t_s: float, height: float) -> None:  # type: ignore[no-untyped-def]
    vb, gv = view.viewbox, view.plot_widget
    p = gv.mapFromScene(vb.mapViewToScene(QPointF(t_s, height)))
    qtbot.mouseClick(gv.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(p.x(), p.y()))


def test_a_click_removes_the_discharge_under_it_and_adds_the_peak_elsewhere(qtbot, reviewing) -> None:
    w = reviewing
    s = w.session
    view = w.views["pulse_train"]
    unit = s.selected_unit
    fs = unit.sampling_rate_hz
    qtbot.waitExposed(w)
    # a discharge in the middle that is the highest point within ±20 ms
    half = round(0.02 * fs)
    d = next(int(x) for x in unit.discharge_samples[unit.n_discharges // 2:]
             if unit.pulse_train[x] == unit.pulse_train[x - half: x + half].max())
    height = float(unit.pulse_train[d])
    view.plot.setXRange(d / fs - 0.1, d / fs + 0.1, padding=0)
    view.plot.setYRange(0, 1.3 * height, padding=0)
    title_before = view.title.text()
    _click(qtbot, view, d / fs + 1 / fs, height * 0.98)
    assert d not in s.selected_unit.discharge_samples
    assert s.history.undo_label == f"Remove 1 discharge(s) from unit {unit.unit_id}"
    assert s.selected_unit.n_discharges == unit.n_discharges - 1
    # the figures follow the edit at once
    edited = s.selected_unit
    assert view.title.text() != title_before
    assert f"SIL {edited.sil:.3f}" in view.title.text()
    assert f"PNR {edited.pnr_db:.1f} dB" in view.title.text()
    table = w.views["units"].units_model
    assert table.data(table.index(0, COLUMNS.index("PNR dB"))) == f"{edited.pnr_db:.1f}"
    # a click on the noise a little off the peak adds the peak back
    _click(qtbot, view, d / fs + 0.003, 0.05 * height)
    assert s.selected_unit.discharge_samples.tolist() == unit.discharge_samples.tolist()
    assert s.history.undo_label == f"Add 1 discharge(s) to unit {unit.unit_id}"


def test_the_rate_under_the_pulse_train_marks_the_interval_of_a_missed_discharge(reviewing) -> None:
    w = reviewing
    s = w.session
    view = w.views["pulse_train"]
    unit = s.selected_unit
    times, rate = instantaneous_rate_hz(unit.discharge_samples, unit.sampling_rate_hz)
    odd = rate_outliers(rate)
    x, _ = view.rate_points.getData()
    ox, _ = view.rate_outliers.getData()
    np.testing.assert_allclose(x, times[~odd])
    np.testing.assert_allclose(ox, times[odd])
    # miss a discharge in a steady stretch: its interval doubles and is marked
    steady = [i for i in range(5, unit.n_discharges - 5) if not odd[i - 5: i + 5].any()]
    gone = int(unit.discharge_samples[steady[len(steady) // 2]])
    s.remove_discharges(unit.unit_id, (gone,))
    ox, _ = view.rate_outliers.getData()
    assert ox.size == odd.sum() + 1
    nxt = unit.discharge_samples[unit.discharge_samples > gone][0]
    assert np.any(np.isclose(ox, nxt / unit.sampling_rate_hz))


def test_update_filter_runs_off_the_gui_thread_and_brings_missed_discharges_back(qtbot, reviewing) -> None:
    w = reviewing
    s = w.session
    unit = s.selected_unit
    rng = np.random.default_rng(1)
    missed = rng.choice(unit.discharge_samples[5:-5], size=unit.n_discharges // 3, replace=False)
    s.remove_discharges(unit.unit_id, tuple(int(m) for m in missed))
    edited = s.selected_unit
    assert w.action_by_name["update_filter"].isEnabled()
    w.action_by_name["update_filter"].trigger()
    # the trigger returned with the work still running in its thread: nothing changed yet
    assert s.updating_filter
    assert s.selected_unit is edited
    assert not w.action_by_name["update_filter"].isEnabled()
    assert "Updating the filter" in w.statusBar().currentMessage()
    s.wait_for_filter()
    updated = s.selected_unit
    assert updated is not edited
    assert s.history.undo_label == f"Update the filter of unit {unit.unit_id} from its discharges"
    fs = unit.sampling_rate_hz
    roa = rate_of_agreement(unit.discharge_samples, updated.discharge_samples, fs)
    assert roa > 0.9, f"RoA with the unit before its discharges were missed: {roa:.2f}"
    assert not np.array_equal(updated.separation_filter, unit.separation_filter)
    assert w.action_by_name["update_filter"].isEnabled()
    assert "filter updated" in w.statusBar().currentMessage()
    w.action_by_name["undo"].trigger()
    assert s.selected_unit is edited


def test_an_edit_during_the_update_keeps_the_edit(qtbot, reviewing) -> None:
    w = reviewing
    s = w.session
    unit = s.selected_unit
    w.views["pulse_train"].update_filter_action.trigger()  # the view's button asks the same
    assert s.updating_filter
    s.remove_discharges(unit.unit_id, (int(unit.discharge_samples[3]),))
    edited = s.selected_unit
    s.wait_for_filter()
    assert s.selected_unit is edited
    assert "update it again" in w.statusBar().currentMessage()
