"""The subject's MRI for the open recording: reading it off the GUI thread, the electrode
grid's placement on its skin, and the scene the 3D view shows (the MRI with the grid on it and
the cylinder fitted under it, else the forward model's limb under the grid: planar layers or
the cylindrical model's limb). The skin and fat under the grid go to the decomposition settings
(the forward model of the hybrid and bmiss methods).

The units are drawn where the model that estimated them puts them: the settings of the result
shown (else the window's, which a run starts with) say which model that was, and the scene
follows when they change (a run started, a result opened).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from PySide6.QtCore import QObject, QSettings, Signal, Slot
from PySide6.QtWidgets import QFileDialog, QWidget

from bmiss_engine import BmissError, DecomposerConfig, ElectrodeGrid
from bmiss_engine.config import InversionSettings
from bmiss_gui.background import run_blocking
from bmiss_gui.scene import cylinder_scene, mri_cylinder, planar_scene, with_cylinder
from bmiss_gui.session import Session
from bmiss_gui.views.anatomy3d import Anatomy3DView

if TYPE_CHECKING:
    from bmiss_engine.anatomy import GridPlacement, PlacedGrid
    from bmiss_gui.dialogs.grid_placement import GridPlacementDialog
    from bmiss_gui.mri import LoadedAnatomy

_MRI_FILTER = "MRI (*.nii *.nii.gz *.dcm);;All files (*)"


class AnatomyHost(Protocol):
    """What the MRI needs of the window: the settings whose layers it sets, whether a run is
    going on, and a way to tell the user."""

    config: DecomposerConfig

    @property
    def busy(self) -> bool: ...

    def show_error(self, title: str, message: str) -> None: ...

    def show_message(self, text: str, timeout_ms: int) -> None: ...


class AnatomyControl(QObject):
    """The MRI open for the session's recording (``anatomy``, None without one) and the 3D
    view's scene. ``changed`` follows an MRI opened or closed and a new grid placement."""

    changed = Signal()

    def __init__(self, host: AnatomyHost, session: Session, view: Anatomy3DView, settings: QSettings,
                 parent: QWidget) -> None:
        super().__init__(parent)
        self._host, self._session, self._view, self._settings, self._parent = host, session, view, settings, parent
        self.anatomy: LoadedAnatomy | None = None
        self.placement_dialog: GridPlacementDialog | None = None
        self._scene_key: tuple[object, ...] | None = None
        self._read_settings: tuple[object, InversionSettings | None] = (None, None)  # a result's, last read
        # a run started or ended, a result opened: its units may come from another model
        for signal in (session.result_changed, session.history_changed, session.live_changed):
            signal.connect(self._follow_settings)

    def units_settings(self) -> InversionSettings:
        """The forward model's settings of the units shown: the result's own (a finished run,
        a result opened), else the window's (a run in progress starts with them)."""
        result = self._session.result
        if result is not None and result.config:
            if self._read_settings[0] is not result.config:
                try:
                    inversion: InversionSettings | None = DecomposerConfig.from_dict(dict(result.config)).inversion
                except (BmissError, TypeError, ValueError):
                    inversion = None  # another version's settings: the window's
                self._read_settings = (result.config, inversion)
            if self._read_settings[1] is not None:
                return self._read_settings[1]
        return self._host.config.inversion

    def _key(self) -> tuple[object, ...]:
        inv = self.units_settings()
        placed = self.anatomy.placed if self.anatomy is not None else None
        return (self._session.recording, placed, inv.forward_model, inv.limb, inv.cylinder_radii_mm,
                inv.grid_around, inv.skin_mm, inv.fat_mm)

    @Slot()
    def _follow_settings(self) -> None:
        """Rebuild the scene when the model of the units shown changed (not on every edit)."""
        if self._session.recording is not None and self._scene_key is not None and self._key() != self._scene_key:
            self.show_scene()

    def show_scene(self) -> None:
        """The 3D view's scene for the open recording: the subject's MRI with the grid placed on
        it when one is open for this grid, the cylinder fitted under the grid drawn over it;
        else the forward model's limb under the grid: the cylindrical model's limb where the
        units come from it, else the planar layers (skin and fat of the settings)."""
        rec = self._session.recording
        if rec is None:
            return
        anatomy = self.anatomy
        if anatomy is not None and not _same_grid(anatomy.placed.grid, rec.grid):
            self.anatomy = None
            self._host.show_message(f"{anatomy.source.name} closed: this recording has another electrode grid", 8000)
            anatomy = None
            self.changed.emit()
        inv = self.units_settings()
        cylindrical = inv.forward_model == "cylindrical"
        self._scene_key = self._key()
        if anatomy is not None:
            scene = anatomy.scene()
            cylinder = mri_cylinder(anatomy)
            self._view.set_scene(scene if cylinder is None else with_cylinder(scene, cylinder, cylindrical))
        elif cylindrical:
            self._view.set_scene(cylinder_scene(rec.grid, inv))
        else:
            self._view.set_scene(planar_scene(rec.grid, inv.skin_mm, inv.fat_mm))

    @Slot()
    def open_dialog(self) -> None:
        start = str(self._settings.value("last_mri_folder", self._settings.value("last_folder", str(Path.home()))))
        path, _ = QFileDialog.getOpenFileName(
            self._parent, "Open MRI (label map or T1 image; for DICOM pick one file of the series)", start,
            _MRI_FILTER)
        if path:
            self.open(path)

    def open(self, path: str | Path, placement: GridPlacement | None = None) -> bool:
        """Read an MRI, place the open recording's grid on its skin (``placement``, else the one
        saved beside the MRI, else the default), show it in 3D and give its skin and fat under
        the grid to the forward model (hybrid and bmiss methods). On failure a message names
        the problem and what was shown stays."""
        rec = self._session.recording
        if rec is None:
            self._host.show_error("Open a recording first", "The MRI is placed under the recording's electrode grid.")
            return False
        if self._host.busy:
            self._host.show_error("Cannot open an MRI now", "A decomposition is running; cancel it first.")
            return False
        anatomy = self._read(path, rec.grid, placement)
        if anatomy is None:
            return False
        self.anatomy = anatomy
        self._host.config = self._host.config.with_layers(anatomy.skin_mm, anatomy.fat_mm)
        self._settings.setValue("last_mri_folder", str(Path(path).resolve().parent))
        self.show_scene()
        self.changed.emit()  # a session saves the MRI: another one is unsaved work
        self._host.show_message(
            f"MRI {anatomy.source.name}: skin {anatomy.skin_mm:.1f} mm, fat {anatomy.fat_mm:.1f} mm under the grid "
            "(used by the hybrid and bmiss methods)", 10000)
        return True

    def _read(self, path: str | Path, grid: ElectrodeGrid, placement: GridPlacement | None) -> LoadedAnatomy | None:
        try:
            # imported here: the anatomy package brings nibabel, scikit-image and torch, which the
            # window's first paint must not wait for
            from bmiss_gui.mri import load_anatomy

            anatomy: LoadedAnatomy = run_blocking(lambda: load_anatomy(path, grid, placement), self._parent,
                                                  f"Reading {Path(path).name} and placing the grid…")
        except BmissError as exc:
            self._host.show_error("Cannot use the MRI", str(exc))
            return None
        except (OSError, ValueError, MemoryError) as exc:
            self._host.show_error("Cannot use the MRI", f"{path}: {exc}")
            return None
        return anatomy

    @Slot()
    def placement_dialog_for_mri(self) -> GridPlacementDialog | None:
        """Show the Grid placement dialog (window-modal) for the open MRI; None without one."""
        if self.anatomy is None or self._host.busy:
            return None
        from bmiss_gui.dialogs.grid_placement import GridPlacementDialog

        dialog = GridPlacementDialog(self.anatomy, self._parent)
        dialog.placed_changed.connect(self.apply_placement)
        dialog.finished.connect(dialog.deleteLater)
        self.placement_dialog = dialog
        dialog.open()
        return dialog

    @Slot(object)
    def apply_placement(self, placed: PlacedGrid) -> None:
        """The grid placed elsewhere on the open MRI: the 3D view and the forward model's
        layers follow, and the session has unsaved work until it is saved (or the grid is
        placed back). Not an undo step: the undo history is the engine's log of edits to
        the result, saved with the session, and a placement is no edit of the result."""
        if self.anatomy is None or placed.grid is not self.anatomy.placed.grid:
            return  # another MRI or recording since
        self.anatomy = dataclasses.replace(self.anatomy, placed=placed)
        self._host.config = self._host.config.with_layers(self.anatomy.skin_mm, self.anatomy.fat_mm)
        self.show_scene()
        self.changed.emit()  # a session saves the placement: a new one is unsaved work
        self._host.show_message(
            f"Grid at {placed.placement.angle_deg:.0f}° around the limb, {placed.placement.axial_mm:.0f} mm along it: "
            f"skin {self.anatomy.skin_mm:.1f} mm, fat {self.anatomy.fat_mm:.1f} mm under the grid", 8000)


def _same_grid(a: ElectrodeGrid, b: ElectrodeGrid) -> bool:
    return (a.shape == b.shape and a.ied_mm == b.ied_mm and a.fibre_axis == b.fibre_axis
            and np.array_equal(a.channel_rc, b.channel_rc))
