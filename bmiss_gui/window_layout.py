"""The main window's frame: a dock per view in the default arrangement, the menus and the
toolbar. Nothing here reacts to anything; it only builds."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu, QToolBar, QWidget

DOCK_TITLES = {
    "emg": "EMG channels", "rms": "RMS on the grid", "units": "Motor units",
    "pulse_train": "Pulse train", "rates": "Discharge rates", "muap": "MUAP grid",
    "anatomy": "3D anatomy", "details": "Unit details",
}
# None: a separator
_EDIT_MENU = ("undo", "redo", None, "accept", "flag", "reject", "next_unit", "previous_unit", "auto_advance", None,
              "update_filter", "merge", "delete")
_TOOLBAR = ("open", "decompose", "export", None, "undo", "redo", None, "accept", "flag", "reject")


def make_docks(window: QMainWindow, views: dict[str, QWidget]) -> dict[str, QDockWidget]:
    """A movable, floatable, closable dock for each view, arranged: the units table, the pulse
    train and the MUAP grid side by side, the RMS map (with the unit details behind it), the
    rates (with the EMG behind them) and the 3D view under them. There is no central widget."""
    docks = {}
    for key, title in DOCK_TITLES.items():
        dock = QDockWidget(title, window)
        dock.setObjectName(f"dock_{key}")  # saveState finds docks by object name
        dock.setWidget(views[key])
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        docks[key] = dock
    # no central widget: every view is a dock the user can move, stack or float
    placeholder = QWidget()
    placeholder.setMaximumSize(0, 0)
    window.setCentralWidget(placeholder)
    horizontal, vertical = Qt.Orientation.Horizontal, Qt.Orientation.Vertical
    window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, docks["units"])
    window.splitDockWidget(docks["units"], docks["pulse_train"], horizontal)
    window.splitDockWidget(docks["pulse_train"], docks["muap"], horizontal)
    window.splitDockWidget(docks["units"], docks["rms"], vertical)
    window.splitDockWidget(docks["pulse_train"], docks["rates"], vertical)
    window.splitDockWidget(docks["muap"], docks["anatomy"], vertical)
    window.tabifyDockWidget(docks["rates"], docks["emg"])
    window.tabifyDockWidget(docks["rms"], docks["details"])
    docks["rates"].raise_()
    docks["rms"].raise_()
    window.resizeDocks([docks["units"], docks["pulse_train"], docks["muap"]], [600, 510, 330], horizontal)
    window.resizeDocks([docks["units"], docks["rms"]], [520, 300], vertical)
    window.resizeDocks([docks["muap"], docks["anatomy"]], [440, 400], vertical)
    return docks


def _add(target: QMenu | QToolBar, actions: dict[str, QAction], items: tuple[str | None, ...]) -> None:
    for item in items:
        if item is None:
            target.addSeparator()
        else:
            target.addAction(actions[item])


def make_menus(window: QMainWindow, actions: dict[str, QAction], docks: dict[str, QDockWidget]) -> QMenu:
    """File, Edit, Decomposition, View and Help menus and the main toolbar; returns the (empty)
    File → Open recent menu, which its owner fills before it shows."""
    file_menu = window.menuBar().addMenu("&File")
    _add(file_menu, actions, ("open", "open_mri"))
    recent_menu = file_menu.addMenu("Open &recent")
    _add(file_menu, actions, ("open_session", "save_session", "save_session_as", "export", None, "batch", None, "quit"))
    _add(window.menuBar().addMenu("&Edit"), actions, _EDIT_MENU)
    _add(window.menuBar().addMenu("&Decomposition"), actions, ("decompose", "cancel"))
    view_menu = window.menuBar().addMenu("&View")
    for dock in docks.values():
        view_menu.addAction(dock.toggleViewAction())
    view_menu.addSeparator()
    _add(view_menu, actions, ("grid_placement", None))
    for key in ("theme_light", "theme_dark"):
        actions[key].setCheckable(True)
    _add(view_menu, actions, ("theme_light", "theme_dark", "reset_layout"))
    _add(window.menuBar().addMenu("&Help"), actions, ("user_guide", "about"))

    toolbar = window.addToolBar("Main")
    toolbar.setObjectName("toolbar_main")
    toolbar.setMovable(False)
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    _add(toolbar, actions, _TOOLBAR)
    return recent_menu
