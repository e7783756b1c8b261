"""The first-run panel: shown over the (empty) views while no recording is open.

It offers the three ways in (the demo, a recording of one's own, a recent file) and a short
guided path through the application: what Decompose does, where units are reviewed and
edited, how results leave. It hides itself as soon as the session has a recording.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QEvent, QObject, QRect, Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from bmiss_gui.paths import demo_recording
from bmiss_gui.session import Session
from bmiss_gui.tooltips import COV_ISI_TIP, PNR_TIP, SIL_TIP

GUIDE_STEPS = (
    ("1  Decompose  (Ctrl+D)",
     "Finds the motor units hidden in the EMG: it separates the channels into sources, detects each "
     "unit's discharges on its pulse train, and keeps the units whose SIL passes the acceptance "
     "threshold. Units appear in the table while it runs; Cancel keeps those found so far."),
    ("2  Review and edit",
     "Pick a unit in the Motor units table. Its pulse train and MUAP grid show beside it. "
     "A accepts, F flags, R rejects; in the pulse train Shift+drag removes the discharges in a box and "
     "Ctrl+drag adds the largest peak of a range. Ctrl+Z undoes any edit."),
    ("3  Export  (Ctrl+E)",
     "Writes the discharge times of the units not rejected to CSV (one row per discharge) or MAT "
     "(DEMUSE and MUedit fields)."),
)


def _guide() -> QVBoxLayout:
    """The guided path: the steps, then what the quality figures mean."""
    guide = QVBoxLayout()
    guide.addWidget(QLabel("<b>How it goes</b>"))
    for heading, text in GUIDE_STEPS:
        label = QLabel(f"<b>{heading}</b><br>{text}")
        label.setWordWrap(True)
        guide.addWidget(label)
    quality = QLabel("<b>Quality figures</b> (hover the table's headers for these): "
                     f"{SIL_TIP} {PNR_TIP} {COV_ISI_TIP}")
    quality.setWordWrap(True)
    quality.setObjectName("hint")
    guide.addWidget(quality)
    return guide


class WelcomePanel(QFrame):
    """Covers the window's dock area while no recording is open.

    ``open_demo_requested``, ``open_dialog_requested`` and ``open_recent_requested(path)`` say
    what the user chose; the main window connects them to its own open methods.
    """

    open_demo_requested = Signal()
    open_dialog_requested = Signal()
    open_recent_requested = Signal(str)
    guide_requested = Signal()

    def __init__(self, window: QMainWindow, recent_files: Callable[[], list[str]]) -> None:
        super().__init__(window)
        self.setObjectName("welcome_panel")
        self.setAutoFillBackground(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self._window = window
        self._recent_files = recent_files

        title = QLabel("<h1>BMISS</h1>")
        subtitle = QLabel("Motor units from high-density surface EMG: open a recording, decompose it, "
                          "review the units, export their discharge times.")
        subtitle.setWordWrap(True)
        subtitle.setObjectName("hint")
        recent_label = QLabel("<b>Recent recordings</b>")
        self.recent_list = QListWidget()
        self.recent_list.setObjectName("welcome_recent")
        self.recent_list.setMaximumHeight(150)
        self.recent_list.itemActivated.connect(self._on_recent)
        self.recent_list.itemClicked.connect(self._on_recent)

        column = QVBoxLayout()
        column.addWidget(title)
        column.addWidget(subtitle)
        column.addSpacing(8)
        column.addLayout(self._buttons())
        column.addSpacing(12)
        column.addWidget(recent_label)
        column.addWidget(self.recent_list)
        column.addSpacing(12)
        column.addLayout(_guide())
        column.addStretch(1)
        content = QWidget()
        content.setLayout(column)
        content.setMaximumWidth(760)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        outer.addWidget(content, 100)
        outer.addStretch(1)

        window.installEventFilter(self)
        self.refresh_recent()
        self._place()
        self.raise_()

    def _buttons(self) -> QHBoxLayout:
        self.demo_button = QPushButton("Open the demo")
        self.demo_button.setObjectName("primary")
        demo = demo_recording()
        if demo.is_file():
            self.demo_button.setToolTip(f"A simulated 64-channel recording with known motor units ({demo.name})")
        else:
            self.demo_button.setEnabled(False)
            self.demo_button.setToolTip(f"The demo recording is not installed ({demo})")
        self.demo_button.clicked.connect(self.open_demo_requested)
        self.open_button = QPushButton("Open a recording…")
        self.open_button.setToolTip("OT Bioelettronica, DEMUSE/MUedit .mat, openhdemg, BIDS, Intan, TMSi, "
                                    "CSV or NumPy files; or drop a file on the window")
        self.open_button.clicked.connect(self.open_dialog_requested)
        self.guide_button = QPushButton("User guide")
        self.guide_button.clicked.connect(self.guide_requested)
        buttons = QHBoxLayout()
        for b in (self.demo_button, self.open_button, self.guide_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        return buttons

    # -- content ---------------------------------------------------------------------------
    def refresh_recent(self) -> None:
        self.recent_list.clear()
        paths = self._recent_files()
        for path in paths:
            item = QListWidgetItem(Path(path).name)
            item.setToolTip(path)
            item.setData(Qt.ItemDataRole.UserRole, path)
            self.recent_list.addItem(item)
        if not paths:
            item = QListWidgetItem("(none yet: recordings you open are listed here)")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.recent_list.addItem(item)

    def recent_paths(self) -> list[str]:
        """The paths listed (what a click opens)."""
        items = (self.recent_list.item(i) for i in range(self.recent_list.count()))
        return [str(it.data(Qt.ItemDataRole.UserRole)) for it in items if it.data(Qt.ItemDataRole.UserRole)]

    def _on_recent(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.ItemDataRole.UserRole)
        if path:
            self.open_recent_requested.emit(str(path))

    # -- placement: over the docks, below the toolbars, above the status bar ----------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._window and event.type() in (QEvent.Type.Resize, QEvent.Type.LayoutRequest,
                                                         QEvent.Type.Show):
            self._place()
        return False

    def _place(self) -> None:
        w = self._window
        top = 0
        menu = w.menuWidget()
        if menu is not None and menu.isVisible():
            top = max(top, menu.geometry().bottom() + 1)
        for bar in w.findChildren(QToolBar):
            if bar.isVisible() and not bar.isFloating() and w.toolBarArea(bar) == Qt.ToolBarArea.TopToolBarArea:
                top = max(top, bar.geometry().bottom() + 1)
        bottom = w.height()
        status = w.statusBar()
        if status.isVisible():
            bottom = status.geometry().top()
        self.setGeometry(QRect(0, top, w.width(), max(0, bottom - top)))
        self.raise_()


class WelcomeHost(Protocol):
    """What the panel's choices need: the recent files, and the ways to open and to read."""

    def recent_files(self) -> list[str]: ...

    def open_demo(self) -> bool: ...

    def open_dialog(self) -> None: ...

    def open_file(self, path: str | Path) -> bool: ...

    def show_user_guide(self) -> None: ...


def install_welcome(window: QMainWindow, host: WelcomeHost, session: Session) -> WelcomePanel:
    """Put the welcome panel over ``window`` and wire it: its buttons open files through
    ``host``, and it shows only while ``session`` has no recording."""
    panel = WelcomePanel(window, host.recent_files)
    panel.open_demo_requested.connect(host.open_demo)
    panel.open_dialog_requested.connect(host.open_dialog)
    panel.open_recent_requested.connect(host.open_file)
    panel.guide_requested.connect(host.show_user_guide)

    def follow_session() -> None:
        empty = session.recording is None
        if empty:
            panel.refresh_recent()
        panel.setVisible(empty)

    session.recording_changed.connect(follow_session)
    follow_session()
    return panel
