"""Reviewing a result in the window: edits with undo, shortcuts, export, and what the plots hold."""

from __future__ import annotations

from tests.gui.conftest import require_gui

require_gui()

import csv
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QFileDialog

from bmiss_engine import DecompositionResult
from bmiss_engine.io import open_recording
from bmiss_engine.review import filtered_emg, spike_triggered_average
from bmiss_gui.views.units_table import COLUMNS


@pytest.fixture
def reviewing(window, small_recording_file: Path, small_result: DecompositionResult):  # type: ignore[no-untyped-def]
    """The window with the small recording open and its decomposition finished."""
    assert window.open_file(small_recording_file)
    window.session.finish_decomposition(small_result)
    window.live_redraw.flush()
    return window


def _colour_pixels(image: QImage, colour: QColor, tolerance: int = 40) -> int:
    """How many pixels of ``image`` are within ``tolerance`` of ``colour`` (per channel)."""
    img = image.convertToFormat(QImage.Format.Format_RGB32)
    ptr = img.constBits()
    arr = np.frombuffer(ptr, dtype=np.uint8, count=img.sizeInBytes()).reshape(img.height(), img.bytesPerLine())
    bgra = arr[:, : img.width() * 4].reshape(img.height(), img.width(), 4).astype(int)
    target = np.array([colour.blue(), colour.green(), colour.red()])
    return int((np.abs(bgra[..., :3] - target) <= tolerance).all(axis=2).sum())


def test_box_removal_changes_the_unit_and_undo_restores_it_exactly(reviewing) -> None:
    w = reviewing
    unit = w.session.selected_unit
    assert unit is not None
    fs = unit.sampling_rate_hz
    table = w.views["units"].units_model
    sil_cell_before = table.data(table.index(0, 4))
    inside = unit.discharge_samples[(unit.discharge_samples > 0.5 * fs) & (unit.discharge_samples < 1.5 * fs)]
    assert inside.size >= 3

    # what a Shift+drag box from 0.5 s to 1.5 s over every height does
    w.views["pulse_train"].edit_box("remove", 0.5, 1.5, -1e9, 1e9)
    edited = w.session.selected_unit
    assert edited is not None
    assert edited.unit_id == unit.unit_id
    assert edited.n_discharges == unit.n_discharges - inside.size
    assert not np.isin(inside, edited.discharge_samples).any()
    # the table shows the figures of the edited discharges
    assert table.data(table.index(0, 1)) == str(edited.n_discharges)
    assert table.data(table.index(0, 4)) == f"{edited.sil:.3f}"
    assert w.action_by_name["undo"].isEnabled()
    assert "Remove" in w.action_by_name["undo"].text()

    w.action_by_name["undo"].trigger()
    restored = w.session.selected_unit
    assert restored is unit  # the very same object: undo is exact, not recomputed
    assert table.data(table.index(0, 4)) == sil_cell_before
    w.action_by_name["redo"].trigger()
    assert w.session.selected_unit is edited


def test_add_picks_the_largest_peak_in_the_dragged_range(reviewing) -> None:
    w = reviewing
    unit = w.session.selected_unit
    fs = unit.sampling_rate_hz
    gone = int(unit.discharge_samples[unit.n_discharges // 2])
    w.views["pulse_train"].edit_box("remove", (gone - 2) / fs, (gone + 2) / fs, -1e9, 1e9)
    assert gone not in w.session.selected_unit.discharge_samples
    # a Ctrl+drag over ±30 ms around it: the removed discharge is the largest free peak there
    w.views["pulse_train"].edit_box("add", (gone - 0.03 * fs) / fs, (gone + 0.03 * fs) / fs, 0, 0)
    assert w.session.selected_unit.discharge_samples.tolist() == unit.discharge_samples.tolist()
    w.action_by_name["undo"].trigger()
    w.action_by_name["undo"].trigger()
    assert w.session.selected_unit is unit


def test_mouse_drag_with_shift_removes_discharges(qtbot, reviewing) -> None:
    w = reviewing
    view = w.views["pulse_train"]
    unit = w.session.selected_unit
    qtbot.waitExposed(w)
    vb = view.viewbox
    # drag across the middle third of the plot, the full height
    rect = vb.sceneBoundingRect()
    gv = view.plot_widget
    a = gv.mapFromScene(rect.left() + rect.width() / 3, rect.top() + 2)
    b = gv.mapFromScene(rect.left() + 2 * rect.width() / 3, rect.bottom() - 2)
    viewport = gv.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, a)
    for k in range(1, 11):
        p = a + (b - a) * (k / 10)
        qtbot.mouseMove(viewport, QPoint(int(p.x()), int(p.y())))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, b)
    edited = w.session.selected_unit
    assert edited.n_discharges < unit.n_discharges
    t0, t1 = (vb.mapSceneToView(gv.mapToScene(a)).x(), vb.mapSceneToView(gv.mapToScene(b)).x())
    removed = np.setdiff1d(unit.discharge_samples, edited.discharge_samples) / unit.sampling_rate_hz
    assert removed.min() >= min(t0, t1) - 0.01
    assert removed.max() <= max(t0, t1) + 0.01


def test_status_shortcuts_delete_and_merge(qtbot, reviewing) -> None:
    w = reviewing
    table_view = w.views["units"]
    table = table_view.units_model
    ids = [u.unit_id for u in w.session.result.units]
    assert w.action_by_name["reject"].shortcut().toString() == "R"
    w.activateWindow()
    table_view.setFocus()
    w.session.select((ids[1],))
    qtbot.keyClick(table_view, Qt.Key.Key_R)  # the key itself, through Qt's shortcut map
    assert w.session.result.unit(ids[1]).status == "rejected"
    assert table.data(table.index(1, COLUMNS.index("Status"))) == "rejected"
    assert w.session.selected_ids == (ids[2],)  # on to the next unit, as reviewers work
    w.session.select((ids[0],))
    w.action_by_name["flag"].trigger()
    assert w.session.result.unit(ids[0]).status == "flagged"
    w.session.select((ids[0],))
    w.action_by_name["accept"].trigger()
    assert w.session.result.unit(ids[0]).status == "accepted"

    a, c = w.session.result.unit(ids[0]), w.session.result.unit(ids[2])
    w.session.select((ids[0], ids[2]))
    assert w.action_by_name["merge"].isEnabled()
    w.action_by_name["merge"].trigger()
    assert ids[2] not in [u.unit_id for u in w.session.result.units]
    merged = w.session.result.unit(ids[0])
    assert set(merged.discharge_samples.tolist()) <= set(a.discharge_samples.tolist()) | set(c.discharge_samples.tolist())
    assert merged.n_discharges > max(a.n_discharges, c.n_discharges) - 1
    w.session.select((ids[1],))
    w.action_by_name["delete"].trigger()
    assert [u.unit_id for u in w.session.result.units] == [ids[0], *ids[3:]]
    assert table.rowCount() == len(ids) - 2
    for _ in range(5):
        w.action_by_name["undo"].trigger()
    assert [(u.unit_id, u.status) for u in w.session.result.units] == [(i, "unreviewed") for i in ids]
    assert not w.action_by_name["undo"].isEnabled()


def test_export_writes_a_csv_that_reads_back_to_the_same_discharges(reviewing, tmp_path: Path, monkeypatch) -> None:
    w = reviewing
    rejected = w.session.result.units[0].unit_id
    w.session.select((rejected,))
    w.action_by_name["reject"].trigger()
    out = tmp_path / "units.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(out), "CSV (*.csv)")))
    w.action_by_name["export"].trigger()
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    read: dict[int, list[int]] = {}
    for row in rows:
        read.setdefault(int(row["unit_id"]), []).append(int(row["sample"]))
    expected = {u.unit_id: u.discharge_samples.tolist() for u in w.session.result.units if u.status != "rejected"}
    assert read == expected
    assert rejected not in read
    fs = w.session.result.sampling_rate_hz
    assert all(abs(float(r["time_s"]) - int(r["sample"]) / fs) < 1e-5 for r in rows)

    mat = tmp_path / "units.mat"
    assert w.export_to(mat)
    loaded = scipy.io.loadmat(mat)
    assert loaded["MUPulses"].shape[1] == len(expected)
    first = loaded["MUPulses"][0, 0].ravel().astype(int) - 1  # MATLAB counts from 1
    assert first.tolist() == next(iter(expected.values()))


def test_muap_grid_holds_the_selected_units_templates(reviewing, small_recording_file: Path) -> None:
    w = reviewing
    view = w.views["muap"]
    unit = w.session.selected_unit
    rec = open_recording(small_recording_file)
    half = round(0.025 * rec.sampling_rate_hz)
    expected = spike_triggered_average(filtered_emg(rec), unit.discharge_samples, half)
    np.testing.assert_allclose(view.template, expected, rtol=1e-5, atol=1e-9)
    # one trace per good electrode, each n_lags points plus a break, placed at its grid cell
    xs, ys = view.good_curve.getOriginalDataset()
    assert xs.size == rec.n_channels * (2 * half + 2)
    cells_x = np.round(np.nanmean(xs.reshape(rec.n_channels, -1), axis=1)).astype(int)
    assert cells_x.tolist() == rec.grid.channel_rc[:, 1].tolist()
    # each trace stays inside its row; the electrode with the largest MUAP swings the most
    swing = np.nanmax(ys.reshape(rec.n_channels, -1), axis=1) - np.nanmin(ys.reshape(rec.n_channels, -1), axis=1)
    assert np.all(np.abs(np.nanmean(ys.reshape(rec.n_channels, -1), axis=1) - rec.grid.channel_rc[:, 0]) < 0.5)
    assert int(np.argmax(swing)) == int(np.argmax(np.ptp(expected, axis=1)))
    # real pixels in the unit's colour are on screen
    colour = w.session.colors.color(unit.unit_id)
    assert _colour_pixels(view.plot_widget.grab().toImage(), colour) > 200

    other = w.session.result.units[1]
    w.session.select((other.unit_id,))
    assert not np.allclose(view.template, expected)
    assert _colour_pixels(view.plot_widget.grab().toImage(), w.session.colors.color(other.unit_id)) > 200


def test_pulse_train_plot_shows_the_unit_and_its_discharges(reviewing) -> None:
    w = reviewing
    view = w.views["pulse_train"]
    unit = w.session.selected_unit
    # the data set behind the curve (what is drawn is its peak-preserving downsampling)
    t, values = view.curve.getOriginalDataset()
    np.testing.assert_allclose(values, unit.pulse_train)
    np.testing.assert_allclose(t, np.arange(unit.pulse_train.size) / unit.sampling_rate_hz)
    dx, dy = view.discharges.getData()
    np.testing.assert_allclose(dx, unit.discharge_times_s)
    np.testing.assert_allclose(dy, unit.pulse_train[unit.discharge_samples])
    colour = w.session.colors.color(unit.unit_id)
    assert _colour_pixels(view.plot_widget.grab().toImage(), colour) > 5 * unit.n_discharges
    rates = w.views["rates"].drawn_rates
    assert set(rates) == {u.unit_id for u in w.session.result.units}
    times, rate = rates[unit.unit_id]
    middle = rate[(times > 0.8) & (times < 2.2)]
    assert abs(np.median(middle) - unit.mean_rate_hz) < 0.35 * unit.mean_rate_hz


def test_dark_theme_recolours_the_plots(reviewing) -> None:
    w = reviewing
    w.action_by_name["theme_dark"].trigger()
    img = w.views["pulse_train"].plot_widget.grab().toImage()
    assert _colour_pixels(img, QColor(w.theme.plot_background), tolerance=3) > img.width() * img.height() // 3
    assert w.settings.value("theme") == "dark"


def test_export_offers_every_writer_and_the_emg_formats_carry_the_recording(reviewing, tmp_path: Path,
                                                                              monkeypatch) -> None:
    """The dialog lists each format the engine writes; a bare name gets the chosen format's
    ending; MAT and openhdemg JSON hold the EMG their tools need to show the units."""
    from bmiss_engine.io import RESULT_FORMATS
    from bmiss_gui.export import EXPORT_FILTER

    w = reviewing
    filters = EXPORT_FILTER.split(";;")
    assert len(filters) == len(RESULT_FORMATS)
    assert filters[0].endswith("(*.csv)")
    json_filter = next(f for f in filters if "openhdemg JSON" in f)
    bare = tmp_path / "units"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(bare), json_filter)))
    w.action_by_name["export"].trigger()
    assert (tmp_path / "units.json").is_file()
    mat = tmp_path / "units.mat"
    assert w.export_to(mat)
    loaded = scipy.io.loadmat(mat)
    assert "SIG" in loaded
    assert float(loaded["fsamp"].ravel()[0]) == w.session.result.sampling_rate_hz
