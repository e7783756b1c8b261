"""View → Grid placement: where the electrode grid sits on the MRI's skin (angle around the
limb, position along it, turn on the skin), changed live.

Each change re-places the grid with the engine (:func:`bmiss_engine.anatomy.place_grid`, a few
tenths of a second on a real volume) off the GUI thread, and the dialog reports the skin and
fat under the grid and the cylinder fitted there (the cylindrical model's limb: its radii, and
whether the grid goes around the limb); ``placed_changed`` hands every new placement to the window, which redraws
the 3D view and gives the layers to the forward model. Cancel hands back the placement the
dialog started from; OK keeps the last one that fitted on the limb. "Save placement next to the
MRI" writes the placement shown as ``grid_placement.json`` beside the MRI, where opening that
MRI again (in any session) finds it.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QTimer, Signal, Slot
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from bmiss_engine import ElectrodeGrid
from bmiss_engine.anatomy import GridPlacement, LabelMap, LimbCylinder, PlacedGrid, place_grid
from bmiss_gui.background import BackgroundTask
from bmiss_gui.dialogs.buttons import ok_cancel_buttons
from bmiss_gui.dialogs.decompose import equal_widths
from bmiss_gui.mri import LoadedAnatomy, placement_file_for, save_placement_beside
from bmiss_gui.scene import cylinder_text, cylinder_under

# changes closer together than this are placed once (a held spin-box arrow)
_SETTLE_MS = 60


class GridPlacementDialog(QDialog):
    """Edits the grid's :class:`GridPlacement` on ``anatomy``. ``placed_changed(PlacedGrid)``:
    a new placement to show (the original one again on Cancel). ``placed``: the placement
    shown now; ``original``: the one the dialog started from."""

    placed_changed = Signal(object)  # PlacedGrid

    def __init__(self, anatomy: LoadedAnatomy, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Grid placement")
        self.setObjectName("grid_placement_dialog")
        self._label_map = anatomy.label_map
        self.mri_path: Path = anatomy.source
        self.original: PlacedGrid = anatomy.placed
        self.placed: PlacedGrid = anatomy.placed
        start = anatomy.placed.placement

        self._make_boxes(start)
        self.layers = QLabel()
        self.layers.setObjectName("layers")
        self.cylinder = QLabel()  # the cylindrical model's limb under the grid
        self.cylinder.setObjectName("cylinder")
        self.cylinder.setWordWrap(True)
        self.note = QLabel()
        self.note.setWordWrap(True)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        form.addRow("Angle around the limb", self.angle)
        form.addRow("Position along the limb", self.axial)
        form.addRow("Rotation on the skin", self.rotation)
        form.addRow("Under the grid", self.layers)
        form.addRow("Cylinder", self.cylinder)
        # injectable for tests: a modal box would block them
        self.ask_overwrite: Callable[[Path], bool] = self._ask_overwrite
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addStretch(1)
        layout.addLayout(self._button_row())

        self._task = BackgroundTask(self)
        self._task.finished.connect(self._on_placed)
        self._task.failed.connect(self._on_failed)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(_SETTLE_MS)
        self._timer.timeout.connect(self._place)
        self._placing: GridPlacement | None = None  # being placed now
        self._failed: GridPlacement | None = None  # the last that did not fit (not tried again)
        self._closing = False
        self._show_layers(self.placed, cylinder_under(self._label_map, self.placed))

    def _make_boxes(self, start: GridPlacement) -> None:
        self.angle = QDoubleSpinBox()
        self.angle.setRange(0.0, 360.0)
        self.angle.setWrapping(True)
        self.angle.setValue(start.angle_deg % 360.0)
        self.angle.setToolTip("Where the grid's centre sits around the limb: 0° anterior, growing right-handed "
                              "about the limb axis")
        self.axial = QDoubleSpinBox()
        self.axial.setRange(-500.0, 500.0)
        self.axial.setValue(start.axial_mm)
        self.axial.setToolTip("Where the grid's centre sits along the limb, in mm from the centroid of the imaged limb")
        self.rotation = QDoubleSpinBox()
        self.rotation.setRange(-90.0, 90.0)
        self.rotation.setValue(start.rotation_deg)
        self.rotation.setToolTip("Turn of the grid on the skin away from the limb axis (the muscle fibres are taken "
                                 "to run along the limb)")
        for box, suffix, step in ((self.angle, "°", 5.0), (self.axial, " mm", 5.0), (self.rotation, "°", 5.0)):
            box.setDecimals(1)
            box.setSuffix(suffix)
            box.setSingleStep(step)
            box.setKeyboardTracking(False)  # typed values count once complete, not per digit
            box.valueChanged.connect(self._schedule)
        equal_widths(self.angle, self.axial, self.rotation)

    def _button_row(self) -> QHBoxLayout:
        """Save and Reset on the left, apart from OK and Cancel on the right."""
        buttons, ok = ok_cancel_buttons(self)
        self.reset_button = QPushButton("Back to the start")
        self.reset_button.clicked.connect(self.reset)
        self.save_button = QPushButton("Save placement next to the MRI")
        self.save_button.setObjectName("save_beside_mri")
        self.save_button.setToolTip(f"Write this placement to {placement_file_for(self.mri_path)}: opening the MRI "
                                    "again places the grid there (sessions keep their own placement)")
        self.save_button.clicked.connect(self.save_beside_mri)
        for button in (*buttons.buttons(), self.reset_button, self.save_button):
            button.setIcon(QIcon())  # the style's stock icons (a broom for Reset) say less than the words
            if isinstance(button, QPushButton):
                button.setAutoDefault(False)
        ok.setDefault(True)
        row = QHBoxLayout()
        row.addWidget(self.save_button)
        row.addWidget(self.reset_button)
        row.addStretch(1)
        row.addWidget(buttons)
        return row

    # -- placing --------------------------------------------------------------------------
    def placement(self) -> GridPlacement:
        """The placement the spin boxes say (the limb axis as it was)."""
        return GridPlacement(self.angle.value(), self.axial.value(), self.rotation.value(),
                             self.original.placement.limb_axis)

    @property
    def busy(self) -> bool:
        """Whether a placement is being computed or waits to be."""
        return self._task.busy or self._timer.isActive()

    @Slot()
    def _schedule(self) -> None:
        self._timer.start()

    @Slot()
    def _place(self) -> None:
        if self._task.busy or self._closing:
            return  # the running one's report schedules the next (it compares with the boxes)
        placement = self.placement()
        if placement in (self.placed.placement, self._failed):
            return
        label_map, grid = self._label_map, self.original.grid
        self._placing = placement
        self.note.setText("Placing…")
        self.note.setStyleSheet("")
        # immutable engine values only: the worker thread touches no widget
        self._task.start(lambda: _placed_with_cylinder(label_map, grid, placement))

    @Slot(object)
    def _on_placed(self, placed_and_cylinder: tuple[PlacedGrid, LimbCylinder | None]) -> None:
        self._placing = None
        if self._closing:
            return
        placed, cylinder = placed_and_cylinder
        self.placed, self._failed = placed, None
        self._show_layers(placed, cylinder)
        self.placed_changed.emit(placed)
        if self.placement() != placed.placement:
            self._timer.start()  # the boxes moved on while this one was placed

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._failed, self._placing = self._placing, None
        if self._closing:
            return
        self.note.setText(f"{message}\nShowing the last placement that fits.")
        self.note.setStyleSheet("color: #c62828;")
        if self.placement() != self._failed:
            self._timer.start()

    def _show_layers(self, placed: PlacedGrid, cylinder: LimbCylinder | None) -> None:
        fat = placed.fat_thickness_mm
        self.layers.setText(f"skin {placed.mean_skin_mm:.1f} mm, fat {placed.mean_fat_mm:.1f} mm "
                            f"(fat {fat.min():.1f}–{fat.max():.1f} mm over the electrodes)")
        self.cylinder.setText(cylinder_text(cylinder) if cylinder is not None
                              else "none fits: the skin and fat under the grid reach the limb axis")
        self.note.setText("")
        self.note.setStyleSheet("")

    def wait(self) -> None:
        """Place what the boxes say now and deliver it (OK; tests)."""
        while True:
            if self._task.busy:
                self._task.wait()  # delivers its report here
            elif self._timer.isActive() or self.placement() not in (self.placed.placement, self._failed):
                self._timer.stop()
                self._place()
                if not self._task.busy:
                    return
            else:
                return

    # -- buttons ----------------------------------------------------------------------------
    @Slot()
    def reset(self) -> None:
        """The spin boxes back to the placement the dialog started from."""
        p = self.original.placement
        for box, value in ((self.angle, p.angle_deg % 360.0), (self.axial, p.axial_mm), (self.rotation, p.rotation_deg)):
            box.blockSignals(True)
            box.setValue(value)
            box.blockSignals(False)
        self._timer.stop()
        self._task.wait()
        self.placed, self._failed = self.original, None
        self._show_layers(self.original, cylinder_under(self._label_map, self.original))
        self.placed_changed.emit(self.original)

    @Slot()
    def save_beside_mri(self) -> Path | None:
        """Write the placement shown (once placed) beside the MRI, asking before replacing a
        file there. Returns the file written; None when the user declined or it failed."""
        self.wait()
        target = placement_file_for(self.mri_path)
        if target.exists() and not self.ask_overwrite(target):
            return None
        try:
            written = save_placement_beside(self.mri_path, self.placed.placement)
        except OSError as exc:
            if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                message = (f"The folder {target.parent} is read-only, so the placement cannot be saved next to "
                           "the MRI. Save the session instead (File → Save session): it keeps the placement.")
            else:
                message = f"{target}: {exc.strerror or exc}"
            QMessageBox.critical(self, "Cannot save the placement", message)
            return None
        self.note.setText(f"Saved to {written}")
        self.note.setStyleSheet("")
        return written

    def _ask_overwrite(self, target: Path) -> bool:
        box = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self, "Replace the saved placement?",
            f"{target.name} already exists in {target.parent}. Replace it with this placement?",
            box.Yes | box.No, box.No)
        return answer == box.Yes

    def accept(self) -> None:
        self.wait()
        super().accept()

    def reject(self) -> None:
        """Cancel: the placement the dialog started from, shown again."""
        self._closing = True
        self._timer.stop()
        self._task.wait()
        self.placed = self.original
        self.placed_changed.emit(self.original)
        super().reject()


def _placed_with_cylinder(label_map: LabelMap, grid: ElectrodeGrid, placement: GridPlacement,
                          ) -> tuple[PlacedGrid, LimbCylinder | None]:
    """The grid placed, and the cylindrical model's limb under it (off the GUI thread)."""
    placed = place_grid(label_map, grid, placement)
    return placed, cylinder_under(label_map, placed)
