"""One table of the application's actions: id, title, shortcut, and when each is enabled.

Menus, shortcuts and tests all reach an action by its id (``window.action_by_name["undo"]``), as phy
does, so a test drives exactly what a user's key press does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QColor, QIcon, QImage, QKeySequence, QPainter, QPixmap
from PySide6.QtWidgets import QStyle, QWidget

if TYPE_CHECKING:
    from bmiss_gui.session import Session

# the style's own icons (drawn by Qt for the platform and theme: nothing to bundle)
_ICONS: dict[str, QStyle.StandardPixmap] = {
    "open": QStyle.StandardPixmap.SP_DialogOpenButton,
    "open_session": QStyle.StandardPixmap.SP_DirOpenIcon,
    "save_session": QStyle.StandardPixmap.SP_DialogSaveButton,
    "export": QStyle.StandardPixmap.SP_FileDialogDetailedView,
    "decompose": QStyle.StandardPixmap.SP_MediaPlay,
    "cancel": QStyle.StandardPixmap.SP_MediaStop,
    "undo": QStyle.StandardPixmap.SP_ArrowBack,
    "redo": QStyle.StandardPixmap.SP_ArrowForward,
    "accept": QStyle.StandardPixmap.SP_DialogApplyButton,
    "flag": QStyle.StandardPixmap.SP_MessageBoxWarning,
    "reject": QStyle.StandardPixmap.SP_DialogCancelButton,
    "delete": QStyle.StandardPixmap.SP_TrashIcon,
}


@dataclass(frozen=True)
class ActionSpec:
    id: str
    title: str
    shortcut: str | QKeySequence.StandardKey | None
    tip: str
    # condition name (see MainWindow.conditions) under which the action is enabled
    enabled_when: str = "always"
    # None: a plain action; True/False: a check box starting checked or not, whose handler
    # is given the new state
    checked: bool | None = None


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("open", "&Open recording…", QKeySequence.StandardKey.Open,
               "Open an HD-sEMG recording (a file of several grids asks which), a session, or another tool's "
               "decomposition to review: DEMUSE or MUedit .mat, openhdemg .json, discharge CSV, BIDS events"),
    ActionSpec("open_session", "Open &session…", None, "Open a saved BMISS session (.bmiss)"),
    ActionSpec("open_mri", "Open &MRI…", "Ctrl+Shift+M",
               "Open the limb's MRI (NIfTI label map or T1 image, or a DICOM folder): the 3D view shows it and the "
               "forward model takes its skin and fat under the grid", "has_recording"),
    ActionSpec("grid_placement", "&Grid placement…", "Ctrl+Shift+G",
               "Move the electrode grid on the MRI's skin (angle around the limb, position along it, rotation); "
               "the 3D view and the skin and fat under the grid follow", "has_mri"),
    ActionSpec("save_session", "&Save session", QKeySequence.StandardKey.Save,
               "Save the result, its edit history and the settings as a session (.bmiss)", "can_save"),
    ActionSpec("save_session_as", "Save session &as…", QKeySequence.StandardKey.SaveAs,
               "Save the session under a new name", "can_save"),
    ActionSpec("export", "&Export discharges…", "Ctrl+E", "Write discharge times of the units to CSV or MAT",
               "has_result"),
    ActionSpec("batch", "&Batch decompose…", "Ctrl+B",
               "Decompose every recording in folders or files with one set of settings, into an output folder"),
    ActionSpec("quit", "&Quit", QKeySequence.StandardKey.Quit, "Close BMISS"),
    ActionSpec("decompose", "&Decompose…", "Ctrl+D", "Find the motor units in the recording", "can_decompose"),
    ActionSpec("cancel", "&Cancel decomposition", "Esc", "Stop and keep the units found so far", "running"),
    ActionSpec("undo", "&Undo", "Ctrl+Z", "Undo the last edit", "can_undo"),
    ActionSpec("redo", "&Redo", "Ctrl+Shift+Z", "Redo the edit undone", "can_redo"),
    ActionSpec("accept", "&Accept unit", "A", "Mark the selected units accepted (then go to the next unit)",
               "has_selection"),
    ActionSpec("flag", "&Flag unit", "F", "Mark the selected units to look at again (then go to the next unit)",
               "has_selection"),
    ActionSpec("reject", "&Reject unit", "R",
               "Mark the selected units rejected: kept, greyed, not exported (then go to the next unit)", "has_selection"),
    ActionSpec("next_unit", "&Next unit", "N", "Select the unit in the next row", "has_result"),
    ActionSpec("previous_unit", "&Previous unit", "P", "Select the unit in the row before", "has_result"),
    ActionSpec("auto_advance", "Go to the next unit after A, F, &R", None,
               "After marking one unit accepted, flagged or rejected, select the next one", checked=True),
    ActionSpec("update_filter", "&Update the unit's filter", "U",
               "Estimate the selected unit's filter again from its discharges as edited, then its pulse train "
               "and discharges (as MUedit's Update MU filter)", "can_update_filter"),
    ActionSpec("delete", "&Delete unit", QKeySequence.StandardKey.Delete, "Remove the selected units", "has_selection"),
    ActionSpec("merge", "&Merge units", "M", "Merge the selected units into the first", "has_several_selected"),
    ActionSpec("theme_light", "&Light theme", None, "Light background"),
    ActionSpec("theme_dark", "&Dark theme", None, "Dark background"),
    ActionSpec("reset_layout", "&Reset layout", None, "Put the views back where they started"),
    ActionSpec("user_guide", "&User guide", QKeySequence.StandardKey.HelpContents, "How to decompose, review and export"),
    ActionSpec("about", "&About BMISS", None, "Version, device, and how to cite BMISS"),
)


def review_handlers(session: Session) -> dict[str, Callable[..., object]]:
    """The handlers of the reviewing actions: all go to the session."""
    return {
        "accept": lambda: session.set_status("accepted"), "flag": lambda: session.set_status("flagged"),
        "reject": lambda: session.set_status("rejected"), "next_unit": session.select_next,
        "previous_unit": session.select_previous, "auto_advance": session.set_auto_advance,
        "update_filter": session.update_filter, "delete": session.delete_selected, "merge": session.merge_selected,
    }


def build_actions(parent: QWidget, handlers: dict[str, Callable[..., object]]) -> dict[str, QAction]:
    """QActions for every spec, triggered → its handler (a check box's handler gets its new
    state); added to ``parent`` so shortcuts work whichever dock has the focus."""
    actions: dict[str, QAction] = {}
    for spec in ACTIONS:
        action = QAction(spec.title, parent)
        if spec.shortcut is not None:
            action.setShortcut(QKeySequence(spec.shortcut))
        action.setToolTip(spec.tip)
        action.setStatusTip(spec.tip)
        action.setObjectName(spec.id)
        if spec.id in _ICONS:
            action.setIcon(parent.style().standardIcon(_ICONS[spec.id]))
        handler = handlers[spec.id]
        if spec.checked is None:
            action.triggered.connect(lambda _checked=False, h=handler: h())
        else:
            action.setCheckable(True)
            action.setChecked(spec.checked)
            action.toggled.connect(handler)
        parent.addAction(action)
        actions[spec.id] = action
    return actions


_ICON_SIZES = (16, 24, 32, 48)


def _is_dark_glyph(icon: QIcon) -> bool:
    """Whether the icon is a grey or black glyph (Fusion's play and arrow icons), which
    vanishes on a dark toolbar, rather than a coloured picture (folder, tick, warning)."""
    image = icon.pixmap(32).toImage().convertToFormat(QImage.Format.Format_ARGB32)
    colours = [image.pixelColor(x, y) for y in range(image.height()) for x in range(image.width())]
    opaque = [c for c in colours if c.alpha() > 128]
    if not opaque:
        return False
    lightness = sum(c.lightness() for c in opaque) / len(opaque)
    saturation = sum(c.hsvSaturation() for c in opaque) / len(opaque)
    return lightness < 110 and saturation < 40


def _tinted(icon: QIcon, colour: QColor) -> QIcon:
    out = QIcon()
    for size in _ICON_SIZES:
        pixmap = QPixmap(icon.pixmap(size))
        painter = QPainter(pixmap)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceIn)
        painter.fillRect(pixmap.rect(), colour)
        painter.end()
        out.addPixmap(pixmap)
    return out


def apply_icon_theme(actions: dict[str, QAction], style: QStyle, dark: bool, text_colour: str) -> None:
    """The actions' style icons again, the dark glyphs drawn in the text colour on a dark
    theme (coloured icons stay as they are)."""
    for action_id, pixmap in _ICONS.items():
        if action_id not in actions:
            continue
        icon = style.standardIcon(pixmap)
        if dark and _is_dark_glyph(icon):
            icon = _tinted(icon, QColor(text_colour))
        actions[action_id].setIcon(icon)
