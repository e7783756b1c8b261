"""First run: the welcome panel, the quality tooltips, Help → About and Help → User guide."""

from __future__ import annotations

from tests.gui.conftest import require_gui

require_gui()

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QFileDialog

from bmiss_engine import DecomposerConfig, __version__
from bmiss_engine.device import describe_device, pick_device
from bmiss_gui.paths import demo_recording, user_guide

pytestmark = pytest.mark.skipif(not demo_recording().is_file(), reason="resources/demo_recording.npz is missing")


def test_welcome_shows_until_a_recording_is_open(window, qtbot) -> None:
    panel = window.welcome
    assert window.session.recording is None
    assert panel.isVisible()
    # it covers the views: the whole width, from below the toolbar to the status bar
    assert panel.width() == window.width()
    assert panel.geometry().bottom() < window.statusBar().geometry().top() + 1
    qtbot.mouseClick(panel.demo_button, Qt.MouseButton.LeftButton)
    rec = window.session.recording
    assert rec is not None
    assert Path(rec.source).resolve() == demo_recording().resolve()
    assert rec.n_channels == 64
    assert not panel.isVisible()
    assert window.action_by_name["decompose"].isEnabled()
    assert window.recent_files() == [str(demo_recording().resolve())]


def test_welcome_open_button_uses_the_file_dialog(window, qtbot, small_recording_file: Path, monkeypatch) -> None:
    asked: list[str] = []

    def get_open(*args: object, **kwargs: object) -> tuple[str, str]:
        asked.append("asked")
        return str(small_recording_file), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(get_open))
    qtbot.mouseClick(window.welcome.open_button, Qt.MouseButton.LeftButton)
    assert asked == ["asked"]
    assert window.session.recording is not None
    assert window.session.recording.n_channels == 32
    assert not window.welcome.isVisible()


def test_welcome_lists_recent_files_and_opens_one(qtbot, tmp_path: Path, small_recording_file: Path, errors) -> None:
    from bmiss_gui.main_window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    missing = str(tmp_path / "gone.npz")
    settings.setValue("recent_files", [str(small_recording_file.resolve()), missing])
    w = MainWindow(settings)
    qtbot.addWidget(w)
    w.show()
    panel = w.welcome
    assert panel.recent_paths() == [str(small_recording_file.resolve()), missing]
    assert panel.recent_list.item(0).text() == small_recording_file.name
    # a recent file that has gone: one error box, the panel stays
    panel.recent_list.itemClicked.emit(panel.recent_list.item(1))
    assert len(errors) == 1
    assert "gone.npz" in errors[0][1]
    assert panel.isVisible()
    assert w.session.recording is None
    panel.recent_list.itemClicked.emit(panel.recent_list.item(0))
    assert w.session.recording is not None
    assert w.session.recording.source == str(small_recording_file.resolve())
    assert not panel.isVisible()


def test_quality_headers_explain_themselves(window) -> None:
    model = window.views["units"].units_model
    tips = {}
    for col in range(model.columnCount()):
        name = model.headerData(col, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole)
        tips[name] = model.headerData(col, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    threshold = f"{DecomposerConfig().acceptance.sil_threshold:.2f}"
    assert "silhouette" in tips["SIL"].lower()
    assert threshold in tips["SIL"]
    assert "reject" in tips["SIL"]
    assert "pulse-to-noise" in tips["PNR dB"].lower()
    assert "dB" in tips["PNR dB"]
    assert "interval" in tips["CoV ISI"].lower()
    # one sentence each
    for name in ("SIL", "PNR dB", "CoV ISI"):
        assert tips[name].count(". ") == 0
        assert tips[name].endswith(".")


def test_sil_tip_follows_the_threshold() -> None:
    from bmiss_gui.tooltips import sil_tip

    assert "0.85" in sil_tip(0.85)


def test_about_names_version_device_and_citation(window) -> None:
    window.action_by_name["about"].trigger()
    text = window.about_dialog.text()
    assert window.about_dialog.isVisible()
    assert __version__ in text
    assert describe_device(pick_device("auto")) in text
    assert "arXiv:2510.17822" in text
    assert "Farina" in text
    assert "Mamidanna" in text
    import torch
    from PySide6.QtCore import qVersion

    assert torch.__version__ in text
    assert qVersion() in text


def test_user_guide_opens_with_its_headings_and_screenshots(window) -> None:
    window.action_by_name["user_guide"].trigger()
    dialog = window.user_guide_dialog
    assert dialog.isVisible()
    assert dialog.loaded
    assert dialog.path == user_guide()
    text = dialog.text()
    for heading in ("BMISS user guide", "Open a recording", "Decompose", "Review and edit", "Export", "Sessions"):
        assert heading in text, heading
    images = dialog.image_names()
    assert "screenshots/main_window.png" in images
    docs = user_guide().parent
    for name in images:
        assert (docs / name).is_file(), name
    # the screenshots were found and drawn (an image that is not found has no size here)
    doc = dialog.browser.document()
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QTextDocument

    image = doc.resource(QTextDocument.ResourceType.ImageResource, QUrl("screenshots/main_window.png"))
    assert image is not None
    assert image.width() > 100


def test_user_guide_missing_says_so(qtbot, tmp_path: Path) -> None:
    from bmiss_gui.help import UserGuideDialog

    dialog = UserGuideDialog(None, tmp_path / "nope.md")
    qtbot.addWidget(dialog)
    assert not dialog.loaded
    assert "not installed" in dialog.text()


def test_bundle_finds_its_files_under_meipass(monkeypatch, tmp_path: Path) -> None:
    import sys

    from bmiss_gui import paths

    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert paths.demo_recording() == tmp_path / "resources" / "demo_recording.npz"
    assert paths.user_guide() == tmp_path / "docs" / "user_guide.md"
