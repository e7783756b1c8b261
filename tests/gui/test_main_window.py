"""Opening files (menu, recent, drop), errors shown to the user, layout and settings."""

from __future__ import annotations

from tests.gui.conftest import require_gui

require_gui()

import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QFileDialog


def test_open_fills_the_views(window, small_recording_file: Path, monkeypatch) -> None:
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(small_recording_file), "")))
    window.action_by_name["open"].trigger()
    rec = window.session.recording
    assert rec is not None
    assert rec.n_channels == 32
    assert window.action_by_name["decompose"].isEnabled()
    assert small_recording_file.name in window.windowTitle()
    assert "32 channels" in window.file_label.text()
    rms = window.views["rms"].rms_uv
    assert rms is not None
    assert rms.shape == (8, 4)
    assert np.isfinite(rms).all()
    assert (rms > 0).all()
    emg = window.views["emg"]
    xs, _ = emg.good_curve.getData()
    assert np.nanmin(xs) >= 0
    assert np.nanmax(xs) <= emg.window_s.value() + 1e-6
    assert window.recent_files() == [str(small_recording_file.resolve())]


@pytest.mark.parametrize("problem", ["missing", "corrupt", "wrong_shape", "folder"])
def test_bad_files_show_the_problem_and_the_app_stays_usable(
    window, errors, small_recording_file: Path, tmp_path: Path, problem: str
) -> None:
    if problem == "missing":
        bad = tmp_path / "nothing_here.npz"
    elif problem == "corrupt":
        bad = tmp_path / "corrupt.npz"
        bad.write_bytes(small_recording_file.read_bytes()[:300])
    elif problem == "wrong_shape":
        bad = tmp_path / "flat.npz"
        np.savez(bad, emg=np.zeros(100), fs_hz=2048.0, grid_shape=(8, 4), ied_mm=8.0)
    else:
        bad = tmp_path
    assert window.open_file(small_recording_file)
    assert not window.open_file(bad)
    assert len(errors) == 1
    title, text = errors[0]
    assert "Cannot open" in title
    assert bad.name in text
    assert "Traceback" not in text
    # what was open stays open and usable
    assert window.session.recording is not None
    assert window.session.recording.n_channels == 32
    assert window.action_by_name["decompose"].isEnabled()
    assert window.open_file(small_recording_file)
    assert len(errors) == 1


def test_dropping_a_file_opens_it(qtbot, window, small_recording_file: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(small_recording_file))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    # opened once the drop handler has returned
    qtbot.waitUntil(lambda: window.session.recording is not None, timeout=10_000)
    assert window.session.recording.source == str(small_recording_file)


def test_layout_and_recent_files_are_remembered(qtbot, tmp_path: Path, small_recording_file: Path, errors) -> None:
    from bmiss_gui.main_window import MainWindow

    settings_path = str(tmp_path / "settings.ini")
    first = MainWindow(QSettings(settings_path, QSettings.Format.IniFormat))
    qtbot.addWidget(first)
    first.show()
    first.open_file(small_recording_file)
    first.docks["muap"].setFloating(True)
    first.docks["rates"].hide()
    first.close()

    second = MainWindow(QSettings(settings_path, QSettings.Format.IniFormat))
    qtbot.addWidget(second)
    second.show()
    assert second.docks["muap"].isFloating()
    assert not second.docks["rates"].isVisible()
    assert second.recent_files() == [str(small_recording_file.resolve())]
    second.action_by_name["reset_layout"].trigger()
    assert not second.docks["muap"].isFloating()
    assert second.docks["rates"].isVisible()


def test_decompose_dialog_offers_the_three_methods_and_builds_the_config(window, small_recording_file: Path) -> None:
    from bmiss_engine import DecomposerConfig
    from bmiss_gui.dialogs.decompose import DecomposeDialog

    dialog = DecomposeDialog(DecomposerConfig(), 3.0, window)
    model = dialog.method.model()
    methods = [dialog.method.itemData(i) for i in range(dialog.method.count())]
    enabled = [model.item(i).isEnabled() for i in range(dialog.method.count())]
    assert list(zip(methods, enabled, strict=True)) == [("fastica", True), ("hybrid", True), ("bmiss", True),
                                                        ("joint", True)]
    assert "experimental" in dialog.method.itemText(2)
    assert "depth" in dialog.method.itemData(1, Qt.ItemDataRole.ToolTipRole).lower()
    assert not dialog.restarts.isEnabled()
    dialog.method.setCurrentIndex(1)  # hybrid: FastICA's iterations, the θ fit, then restarts on the residual
    assert dialog.iterations.isEnabled()
    assert dialog.restarts.isEnabled()
    assert dialog.restarts.value() == DecomposerConfig().inversion.hybrid_restarts
    assert "leave behind" in dialog.restarts.toolTip()
    dialog.restarts.setValue(5)
    hybrid = dialog.config()
    assert (hybrid.method, hybrid.inversion.hybrid_restarts, hybrid.inversion.restarts) == (
        "hybrid", 5, DecomposerConfig().inversion.restarts)
    dialog.method.setCurrentIndex(2)
    assert dialog.restarts.isEnabled()
    assert not dialog.iterations.isEnabled()
    assert dialog.restarts.value() == DecomposerConfig().inversion.restarts  # the bmiss method's own value
    dialog.restarts.setValue(3)
    bmiss = dialog.config()
    assert (bmiss.method, bmiss.inversion.restarts, bmiss.inversion.hybrid_restarts) == ("bmiss", 3, 5)
    dialog.method.setCurrentIndex(1)
    assert dialog.restarts.value() == 5  # each method keeps its own
    dialog.method.setCurrentIndex(2)
    dialog.method.setCurrentIndex(0)
    dialog.iterations.setValue(40)
    dialog.sil.setValue(0.85)
    dialog.extension.setValue(10)
    dialog.device.setCurrentIndex(dialog.device.findData("cpu"))
    dialog.use_window.setChecked(True)
    dialog.start.setValue(0.5)
    dialog.stop.setValue(2.5)
    config = dialog.config()
    sep = config.separation
    assert (sep.n_iterations, config.acceptance.sil_threshold, sep.extension_factor, config.device, config.window_s) == (
        40, 0.85, 10, "cpu", (0.5, 2.5))


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal from Python 3.12 on")
def test_qt_calls_keep_none_alive() -> None:
    """PySide6 6.12.0 decrements None's reference count on every call of a void method, which
    crashes Python 3.11 after a few thousand calls; pyproject excludes that release."""
    from PySide6.QtCore import QObject

    obj = QObject()
    before = sys.getrefcount(None)
    for _ in range(100):
        obj.setObjectName("x")
    assert sys.getrefcount(None) >= before - 5


def test_bmiss_without_arguments_opens_the_app_and_with_arguments_is_the_cli(
    monkeypatch, small_recording_file: Path, capsys
) -> None:
    import bmiss_gui.app
    from bmiss_gui import launcher

    started: list[list[str]] = []
    monkeypatch.setattr(bmiss_gui.app, "main", lambda argv=None: started.append(list(argv or [])) or 0)
    assert launcher.main([]) == 0
    assert started == [[]]
    assert launcher.main(["info", str(small_recording_file)]) == 0
    assert "32 (0 marked bad)" in capsys.readouterr().out
    assert len(started) == 1


def test_bmiss_gui_opens_the_files_given(qtbot, monkeypatch, small_recording_file: Path, tmp_path: Path) -> None:
    from PySide6.QtWidgets import QApplication

    from bmiss_gui import app as app_module
    from bmiss_gui.main_window import MainWindow

    created: list[MainWindow] = []

    class RecordedWindow(MainWindow):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            created.append(self)

    monkeypatch.setattr(app_module, "MainWindow", RecordedWindow)
    monkeypatch.setattr(QApplication, "exec", lambda self=None: 0)  # no event loop: look at the window
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # main() installs its own; put it back after
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert app_module.main([str(small_recording_file)]) == 0
    assert len(created) == 1
    window = created[0]
    qtbot.addWidget(window)
    assert window.isVisible()
    assert window.session.recording is not None
    assert window.session.recording.source == str(small_recording_file)


def test_emg_view_scrolls_and_its_envelope_keeps_every_peak(window, small_recording_file: Path) -> None:
    from bmiss_gui.views.emg import min_max_envelope

    window.open_file(small_recording_file)
    emg_view = window.views["emg"]
    emg_view.window_s.setValue(1.0)
    emg_view.scroller.setValue(emg_view.scroller.maximum())
    t0, t1 = emg_view.visible_range_s
    assert t1 == pytest.approx(3.0, abs=0.06)
    xs, _ = emg_view.good_curve.getData()
    assert np.nanmin(xs) >= t0 - 1e-9
    assert np.nanmax(xs) <= t1 + 1e-9

    x = np.random.default_rng(0).standard_normal((3, 10_000))
    positions, values = min_max_envelope(x, 500)
    assert values.shape == (3, 1000)
    assert positions.shape == (1000,)
    np.testing.assert_allclose(values.max(axis=1), x.max(axis=1))
    np.testing.assert_allclose(values.min(axis=1), x.min(axis=1))


def test_open_recent_reopens_a_file(window, small_recording_file: Path, tmp_path: Path) -> None:
    from bmiss_engine.io import open_recording, write_npz

    other = tmp_path / "other.npz"
    write_npz(open_recording(small_recording_file), other)
    window.open_file(small_recording_file)
    window.open_file(other)
    window._fill_recent_menu()
    entries = [a for a in window.recent_menu.actions() if a.data()]
    assert [a.data() for a in entries] == [str(other.resolve()), str(small_recording_file.resolve())]
    entries[1].trigger()
    assert window.session.recording.source == str(small_recording_file.resolve())


def test_toolbar_actions_have_icons_and_text(window) -> None:
    from PySide6.QtWidgets import QToolBar

    toolbar = window.findChild(QToolBar, "toolbar_main")
    actions = [a for a in toolbar.actions() if not a.isSeparator()]
    assert len(actions) == 8  # open, decompose, export, undo, redo, accept, flag, reject
    for action in actions:
        assert not action.icon().isNull(), action.objectName()
        assert action.iconText()


def test_every_units_column_fits_the_default_layout(qtbot, window, small_recording_file: Path) -> None:
    """The review status shows without scrolling the Motor units table (the forward model's
    columns, after it, show only for units that have them)."""
    assert window.open_file(small_recording_file)
    window.reset_layout()
    qtbot.waitExposed(window)
    table = window.views["units"]
    header = table.horizontalHeader()
    shown = [c for c in range(header.count()) if not header.isSectionHidden(c)]
    columns = sum(header.sectionSize(c) for c in shown)
    assert len(shown) == 7
    assert header.model().headerData(shown[-1], Qt.Orientation.Horizontal) == "Status"
    assert columns <= table.viewport().width(), (columns, table.viewport().width())
    assert not table.horizontalScrollBar().isVisible()


def test_a_caption_too_long_for_its_dock_ends_in_an_ellipsis(qtbot) -> None:
    from bmiss_gui.views.plotting import caption_label

    text = "Unit 12: 275 discharges averaged, ±51 samples; largest 243 µV"
    label = caption_label(text)
    qtbot.addWidget(label)
    label.resize(120, 20)
    label.show()
    qtbot.waitExposed(label)
    shown = super(type(label), label).text()  # what QLabel draws
    assert shown.endswith("…")
    assert len(shown) < len(text)
    assert text.startswith(shown[:-1])
    assert label.text() == text
    assert label.toolTip() == text
    label.resize(label.fontMetrics().horizontalAdvance(text) + 20, 20)
    qtbot.waitUntil(lambda: super(type(label), label).text() == text)


def test_dark_theme_draws_the_dark_toolbar_glyphs_light(window) -> None:
    def lightness(action_id: str) -> float:
        image = window.action_by_name[action_id].icon().pixmap(24).toImage()
        colours = [image.pixelColor(x, y) for y in range(image.height()) for x in range(image.width())]
        opaque = [c for c in colours if c.alpha() > 128]
        return sum(c.lightness() for c in opaque) / len(opaque)

    window.action_by_name["theme_light"].trigger()
    light = {a: lightness(a) for a in ("decompose", "undo", "accept")}
    assert light["decompose"] < 110
    assert light["undo"] < 110
    window.action_by_name["theme_dark"].trigger()
    assert lightness("decompose") > 180
    assert lightness("undo") > 180
    assert lightness("accept") == pytest.approx(light["accept"])  # a coloured icon stays as it is
    window.action_by_name["theme_light"].trigger()
    assert lightness("decompose") == pytest.approx(light["decompose"])
