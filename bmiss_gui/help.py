"""Help → About (versions, device, how to cite) and Help → User guide (docs/user_guide.md,
shown with its screenshots in a QTextBrowser; found by bmiss_gui.paths, installed or not)."""

from __future__ import annotations

import html
import platform
import sys
from pathlib import Path

import PySide6
from PySide6.QtCore import QUrl, qVersion
from PySide6.QtGui import QTextCursor, QTextDocument, QTextImageFormat
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from bmiss_engine import BmissError, __version__
from bmiss_engine.device import describe_device, pick_device
from bmiss_gui.paths import user_guide

CITATION = (
    "D. Farina, D. Halatsis, J. Pereira, P. Mamidanna. A Biophysical-Model-Informed Source "
    "Separation Framework for EMG Decomposition. arXiv:2510.17822, 2025."
)
CITATION_URL = "https://arxiv.org/abs/2510.17822"
GUIDE_IMAGE_MAX_WIDTH = 720


def device_text() -> str:
    """The device a decomposition uses by default ("auto"), as the engine names it."""
    try:
        return describe_device(pick_device("auto"))
    except BmissError as exc:
        return f"unknown ({exc})"


def about_facts() -> dict[str, str]:
    import torch

    cuda = torch.version.cuda
    return {
        "Version": __version__,
        "Device": device_text(),
        "Python": f"{platform.python_version()} ({platform.python_implementation()})",
        "torch": f"{torch.__version__}" + (f" (CUDA {cuda})" if cuda else " (CPU build)"),
        "Qt": f"{qVersion()} (PySide6 {PySide6.__version__})",
        "Running from": "standalone bundle" if getattr(sys, "frozen", False) else "Python environment",
    }


def about_html() -> str:
    rows = "".join(f"<tr><td><b>{html.escape(k)}</b>&nbsp;&nbsp;</td><td>{html.escape(v)}</td></tr>"
                   for k, v in about_facts().items())
    return (
        "<h2>BMISS</h2>"
        "<p>Decomposition of high-density surface EMG into motor units, by convolutive blind source "
        "separation and by inverting a biophysical model of the limb "
        "(Biophysical-Model-Informed Source Separation).</p>"
        f"<table>{rows}</table>"
        "<h3>How to cite</h3>"
        f"<p>{html.escape(CITATION)}<br><a href='{CITATION_URL}'>{CITATION_URL}</a></p>"
    )


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About BMISS")
        self.setObjectName("about_dialog")
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        self.browser.setHtml(about_html())
        self.browser.setMinimumSize(560, 380)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)

    def text(self) -> str:
        return self.browser.toPlainText()


class UserGuideDialog(QDialog):
    """The user guide: Markdown rendered by Qt, images relative to the guide's folder."""

    def __init__(self, parent: QWidget | None = None, path: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("BMISS user guide")
        self.setObjectName("user_guide_dialog")
        self.path = path if path is not None else user_guide()
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        self.browser.setMinimumSize(820, 640)
        if self.path.is_file():
            self.browser.setSearchPaths([str(self.path.parent)])
            self.browser.setSource(QUrl.fromLocalFile(str(self.path)), QTextDocument.ResourceType.MarkdownResource)
            _cap_image_widths(self.browser.document(), GUIDE_IMAGE_MAX_WIDTH)
        else:
            self.browser.setPlainText(f"The user guide is not installed (looked for {self.path}).")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
        self.resize(900, 760)

    @property
    def loaded(self) -> bool:
        return self.path.is_file()

    def text(self) -> str:
        return self.browser.toPlainText()

    def image_names(self) -> list[str]:
        """The images the guide shows (as written in it), in order."""
        names = []
        block = self.browser.document().begin()
        while block.isValid():
            it = block.begin()
            while not it.atEnd():
                fmt = it.fragment().charFormat()
                if fmt.isImageFormat():
                    names.append(fmt.toImageFormat().name())
                it += 1
            block = block.next()
        return names


def _cap_image_widths(doc: QTextDocument, max_width: int) -> None:
    """Screenshots are 1600 px wide: draw them at most ``max_width`` wide, aspect kept."""
    cursor = QTextCursor(doc)
    block = doc.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            fmt = fragment.charFormat()
            if fmt.isImageFormat():
                image_fmt = fmt.toImageFormat()
                image = doc.resource(QTextDocument.ResourceType.ImageResource, QUrl(image_fmt.name()))
                size = getattr(image, "size", None)
                if callable(size) and size().width() > max_width:
                    w, h = size().width(), size().height()
                    new_fmt = QTextImageFormat(image_fmt)
                    new_fmt.setWidth(max_width)
                    new_fmt.setHeight(h * max_width / w)
                    cursor.setPosition(fragment.position())
                    cursor.setPosition(fragment.position() + fragment.length(), QTextCursor.MoveMode.KeepAnchor)
                    cursor.setCharFormat(new_fmt)
            it += 1
        block = block.next()
