"""What the review views show: the forward model's parameters with their uncertainty (table
columns and the unit panel) and which units the model found; text that is never cut off (the
pulse-train title, the MUAP captions, the dark theme's table headers); the EMG a page of
channels at a time with a µV scale bar and the selected unit's discharges."""

from __future__ import annotations

from tests.gui.conftest import require_gui

require_gui()

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from bmiss_engine import DecompositionResult
from bmiss_engine.results import THETA_FIELDS
from bmiss_gui.views.units_table import COLUMNS, MODEL_COLUMNS


@pytest.fixture
def reviewing(window, small_recording_file: Path, small_result: DecompositionResult):  # type: ignore[no-untyped-def]
    assert window.open_file(small_recording_file)
    window.session.finish_decomposition(small_result)
    window.live_redraw.flush()
    return window


def _with_theta(result: DecompositionResult) -> DecompositionResult:
    """The result as the hybrid method gives it: θ and its sd on every unit, the last found
    by the model."""
    units = []
    for k, u in enumerate(result.units):
        theta = {f.name: f.low + (0.3 + 0.05 * k) * (f.high - f.low) for f in THETA_FIELDS}
        sd = {f.name: 0.02 for f in THETA_FIELDS}
        units.append(u.replace(theta=theta, theta_sd=sd, origin="model" if k == len(result.units) - 1 else "blind"))
    return result.with_units(units)


def _fits(label) -> bool:  # type: ignore[no-untyped-def]
    """Whether a caption's whole text fits its width (no "…")."""
    return label.fontMetrics().horizontalAdvance(label.text()) <= label.contentsRect().width()


def test_model_parameters_show_with_their_uncertainty_and_the_units_the_model_found(
        window, small_recording_file: Path, small_result: DecompositionResult) -> None:
    assert window.open_file(small_recording_file)
    table = window.views["units"]
    model = table.units_model
    window.session.finish_decomposition(small_result)
    window.live_redraw.flush()
    # blind separation alone: no model columns
    assert all(table.isColumnHidden(c) for c in MODEL_COLUMNS)
    result = _with_theta(small_result)
    window.session.finish_decomposition(result)
    window.live_redraw.flush()
    assert not any(table.isColumnHidden(c) for c in MODEL_COLUMNS)
    last = len(result.units) - 1
    u = result.units[last]
    iz_sd = 0.02 * 120.0
    assert model.data(model.index(last, COLUMNS.index("IZ mm"))) == f"{u.theta['iz_mm']:.1f} ± {iz_sd:.1f}".replace(
        "-", "−")
    ml = model.data(model.index(0, COLUMNS.index("ML mm")))
    assert ml.endswith(f"± {0.02 * 80:.1f}")
    assert "±" in model.data(model.index(0, COLUMNS.index("Fibres")))
    found = COLUMNS.index("Found by")
    assert [model.data(model.index(r, found)) for r in (0, last)] == ["blind", "model"]
    assert model.data(model.index(last, found), Qt.ItemDataRole.FontRole).bold()
    assert "forward model" in model.data(model.index(last, found), Qt.ItemDataRole.ToolTipRole)
    assert "±" in model.headerData(COLUMNS.index("Depth mm"), Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)

    # the unit panel: every parameter with its sd, and how the unit was found
    window.session.select((u.unit_id,))
    text = window.views["details"].label.text()
    for f in THETA_FIELDS:
        assert f.label in text
    assert f"± {iz_sd:.1f} mm" in text
    assert "found by the forward model" in text
    window.session.select((result.units[0].unit_id,))
    assert "found by blind source separation" in window.views["details"].label.text()


def test_the_pulse_train_title_and_the_muap_captions_fit(qtbot, reviewing) -> None:
    w = reviewing
    qtbot.waitExposed(w)
    title = w.views["pulse_train"].title
    unit = w.session.selected_unit
    assert title.text().startswith(f"Unit {unit.unit_id} · {unit.n_discharges} discharges · SIL ")
    assert "PNR" in title.text()
    assert title.text().endswith(unit.status)
    assert _fits(title), (title.text(), title.contentsRect().width())
    muap = w.views["muap"]
    assert muap.caption.text().startswith(f"Unit {unit.unit_id}: {unit.n_discharges} discharges")
    assert "µV peak-to-peak" in muap.amplitude.text()
    assert _fits(muap.caption), (muap.caption.text(), muap.caption.contentsRect().width())
    assert _fits(muap.amplitude), (muap.amplitude.text(), muap.amplitude.contentsRect().width())


def test_dark_theme_table_headers_are_not_cut_off(qtbot, reviewing) -> None:
    w = reviewing
    w.action_by_name["theme_dark"].trigger()
    window_result = _with_theta(w.session.result)
    w.session.finish_decomposition(window_result)
    w.live_redraw.flush()
    qtbot.waitExposed(w)
    header = w.views["units"].horizontalHeader()
    for col in range(header.count()):
        needed = header.sectionSizeFromContents(col).width()
        assert header.sectionSize(col) >= needed, (COLUMNS[col], header.sectionSize(col), needed)


def test_the_emg_shows_a_page_of_channels_a_scale_bar_and_the_units_discharges(qtbot, reviewing) -> None:
    w = reviewing
    view = w.views["emg"]
    w.docks["emg"].raise_()
    qtbot.waitExposed(w)
    rec = w.session.recording
    assert view.channels_per_page == 16
    assert list(view.visible_channels) == list(range(16))
    _, ys = view.good_curve.getData()
    assert np.isfinite(ys).sum() > 0
    spacing = view._spacing
    assert np.nanmin(ys) > -(16 + 0.5) * spacing  # only the page's traces are drawn
    assert view.channel_scroller.isVisible()
    view.channel_scroller.setValue(view.channel_scroller.maximum())
    assert list(view.visible_channels) == list(range(rec.n_channels - 16, rec.n_channels))
    _, ys = view.good_curve.getData()
    assert np.nanmax(ys) < -(rec.n_channels - 16 - 0.5) * spacing
    view.page_size.setCurrentIndex(view.page_size.count() - 1)  # all channels
    assert len(view.visible_channels) == rec.n_channels
    assert not view.channel_scroller.isVisible()
    # a scale bar of a round number of µV, shorter than the gap between two traces
    _, bar_y = view.scale_bar.getData()
    height_uv = (bar_y[1] - bar_y[0]) * 1e6
    assert view.scale_label.textItem.toPlainText() == f"{round(height_uv)} µV"
    assert height_uv * 1e-6 <= spacing / 2
    # the selected unit's discharges in the window, one line each
    unit = w.session.selected_unit
    view.window_s.setValue(3.0)
    xs, _ = view.discharge_lines.getData()
    drawn = np.unique(xs[np.isfinite(xs)])
    np.testing.assert_allclose(drawn, unit.discharge_times_s[unit.discharge_times_s <= view.visible_range_s[1]])
    other = w.session.result.units[2]
    w.session.select((other.unit_id,))
    xs, _ = view.discharge_lines.getData()
    np.testing.assert_allclose(np.unique(xs[np.isfinite(xs)]), other.discharge_times_s)


def test_error_messages_speak_the_users_language(window, errors, tmp_path: Path) -> None:
    from bmiss_gui.wording import plain

    assert plain("[Errno 28] No space left on device: '/data/s.bmiss'") == (
        "the disk is full (free some space or choose another disk)")
    assert "allow_pickle" not in plain("x.npz: not a recording (Object arrays cannot be loaded when allow_pickle=False)")
    assert plain("x.csv: cannot read ([Errno 5] Input/output error)") == "x.csv: cannot read (Input/output error)"
    # what reaches the user's message box
    window.show_error("Cannot save the session", "s.bmiss: [Errno 13] Permission denied: '/root/s.bmiss'")
    assert errors[-1] == ("Cannot save the session", "s.bmiss: BMISS is not allowed to use this file or folder")
    # a pickled object array in a recording file
    bad = tmp_path / "objects.npz"
    np.savez(bad, emg=np.array([{"a": 1}], dtype=object))
    assert not window.open_file(bad)
    _, text = errors[-1]
    assert "allow_pickle" not in text
    assert "Errno" not in text


def test_the_emg_scrolls_to_a_newly_selected_unit_it_does_not_show(reviewing) -> None:
    w = reviewing
    view = w.views["emg"]
    view.window_s.setValue(0.1)
    unit = w.session.result.units[1]
    times = unit.discharge_times_s
    # a window without a discharge of the unit (the 0.1 s windows step by 0.05 s)
    empty = next(v for v in range(view.scroller.maximum() + 1)
                 if not np.any((times >= v * 0.05) & (times <= v * 0.05 + 0.1)))
    view.scroller.setValue(empty)
    w.session.select((unit.unit_id,))
    t0, t1 = view.visible_range_s
    assert t0 <= times[0] <= t1
    xs, _ = view.discharge_lines.getData()
    assert np.isclose(np.nanmin(xs), times[0])
    # a unit with discharges in the window shown: the window stays
    other = w.session.result.units[0]
    view.scroller.setValue(int(other.discharge_times_s[len(other.discharge_times_s) // 2] / 0.05) - 1)
    shown = view.visible_range_s
    w.session.select((other.unit_id,))
    assert view.visible_range_s == shown
