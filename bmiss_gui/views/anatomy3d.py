"""The 3D anatomy view: tissue surfaces of the limb, the electrode grid on the skin, and each
motor unit as a sphere at its estimated position (sized by its fibre count, coloured like its
table row). Clicking a sphere selects the unit.

The scene comes from the engine as plain arrays (:class:`Scene`); this module only turns them
into pyvista meshes. pyvista and VTK are imported when the view is first built, not with the
application (they take a second to import). The VTK render window needs an OpenGL surface: on
Qt's ``offscreen`` or ``minimal`` platforms the view shows a note instead of a black square.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from bmiss_engine import MotorUnit
from bmiss_gui.colors import UnitColors
from bmiss_gui.theme import Theme
from bmiss_gui.views.review_state import ReviewState

log = logging.getLogger(__name__)

#: (depth_mm, ml_mm, iz_mm) arrays (n,) → world points (n, 3) in mm
GridToWorld = Callable[[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]], NDArray[np.float64]]

# tissue → (colour, opacity): the skin and fat translucent so the units inside show
TISSUE_LOOK: dict[str, tuple[str, float]] = {
    "skin": ("#e8b89a", 0.25),
    "fat": ("#f2d479", 0.30),
    "muscle": ("#c0584c", 0.25),
    "bone": ("#ece6d6", 1.0),
}
_SPHERE_RADIUS_MM = (1.2, 4.0)  # smallest and largest unit (by fibre count)
_NO_GL_PLATFORMS = ("offscreen", "minimal")


@dataclass(frozen=True)
class Scene:
    """What the 3D view draws, all in world millimetres.

    surfaces: tissue name → (vertices (V, 3) float, faces (F, 3) int); electrodes_mm:
    (n_channels, 3) electrode centres; grid_to_world: maps units' estimated (depth, ML, IZ)
    under the grid to world points; title: shown in the view's caption.
    """

    surfaces: Mapping[str, tuple[NDArray[Any], NDArray[Any]]]
    electrodes_mm: NDArray[np.float64]
    grid_to_world: GridToWorld
    title: str = ""
    bad_channels: tuple[int, ...] = field(default=())


def can_render_3d() -> bool:
    """Whether this Qt platform gives VTK an OpenGL window (not ``offscreen``/``minimal``)."""
    return QGuiApplication.platformName() not in _NO_GL_PLATFORMS


def unit_positions(
    units: tuple[MotorUnit, ...], to_world: GridToWorld
) -> tuple[list[int], NDArray[np.float64], NDArray[np.float64]]:
    """Ids, world positions (n, 3) and sphere radii (n,) in mm of the units with an estimated
    position (θ with depth, ML and IZ); units without one are left out."""
    placed = [u for u in units if u.theta and all(k in u.theta for k in ("depth_mm", "ml_mm", "iz_mm"))]
    if not placed:
        return [], np.zeros((0, 3)), np.zeros(0)
    depth = np.array([u.theta["depth_mm"] for u in placed], dtype=np.float64)  # type: ignore[index]
    ml = np.array([u.theta["ml_mm"] for u in placed], dtype=np.float64)  # type: ignore[index]
    iz = np.array([u.theta["iz_mm"] for u in placed], dtype=np.float64)  # type: ignore[index]
    points = np.asarray(to_world(depth, ml, iz), dtype=np.float64).reshape(-1, 3)
    fibres = np.array([(u.theta or {}).get("n_fibres", 200.0) for u in placed], dtype=np.float64)
    # radius grows with the territory's cross-section: the cube root of the fibre count spans
    # the 10–2000 range in a readable ratio (~6×), clipped to the sphere size range
    lo, hi = _SPHERE_RADIUS_MM
    scale = (np.cbrt(np.clip(fibres, 10.0, 2000.0)) - math.cbrt(10.0)) / (math.cbrt(2000.0) - math.cbrt(10.0))
    return [u.unit_id for u in placed], points, lo + (hi - lo) * scale


class Anatomy3DView(QWidget):
    """The scene in a pyvistaqt ``QtInteractor``, with the units of the :class:`ReviewState`
    given to :meth:`set_state`; ``unit_picked(id)`` asks for the unit whose sphere was clicked
    to be selected."""

    unit_picked = Signal(int)

    def __init__(self, colors: UnitColors | None = None) -> None:
        super().__init__()
        self._colors = colors or UnitColors()
        self._state = ReviewState()
        self.scene: Scene | None = None
        self.plotter: Any = None
        #: unit id → the VTK actor of its sphere (for picking and tests)
        self.unit_actors: dict[int, Any] = {}
        self.unit_points: dict[int, NDArray[np.float64]] = {}
        self._surface_actors: list[Any] = []
        self._theme: Theme | None = None
        self.caption = QLabel("")
        self.caption.setObjectName("caption")
        self.caption.setWordWrap(True)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(4, 2, 4, 2)
        self._layout.addWidget(self.caption)
        self.note = QLabel("")
        self.note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.note.setWordWrap(True)
        self._layout.addWidget(self.note, 1)
        self._update_caption()

    # -- building ---------------------------------------------------------------------------
    def _ensure_plotter(self) -> bool:
        if self.plotter is not None:
            return True
        if not can_render_3d():
            self.note.setText("The 3D view needs an OpenGL display (this session runs without one).")
            return False
        try:
            from pyvistaqt import QtInteractor
        except ImportError:
            self.note.setText("The 3D view needs pyvista and pyvistaqt: pip install 'bmiss[gui]'.")
            return False
        self.note.hide()
        self.plotter = QtInteractor(self, auto_update=False)
        self.plotter.interactor.setMinimumSize(200, 160)
        self._layout.addWidget(self.plotter.interactor, 1)
        self.plotter.enable_trackball_style()
        # translucent tissues: front faces only (culling), few layers over any pixel
        # (no depth peeling: with Mesa's software GL inside a QtInteractor it hides every translucent surface)
        # a click (press and release without a drag) picks; a drag still rotates
        self.plotter.iren.add_observer("LeftButtonPressEvent", self._on_press)
        self.plotter.iren.add_observer("LeftButtonReleaseEvent", self._on_release)
        self._press_xy: tuple[int, int] | None = None
        if self._theme is not None:
            self.plotter.set_background(self._theme.plot_background)
        return True

    def set_scene(self, scene: Scene | None) -> None:
        """Draw ``scene`` (tissues and electrodes), then the units on it."""
        self.scene = scene
        if scene is None:
            if self.plotter is not None:
                self.plotter.clear()
            self.unit_actors.clear()
            self._update_caption()
            return
        if not self._ensure_plotter():
            self._update_caption()
            return
        import pyvista as pv

        p = self.plotter
        p.clear()
        self._surface_actors = []
        for name, (vertices, faces) in scene.surfaces.items():
            colour, opacity = TISSUE_LOOK.get(name, ("#999999", 0.3))
            faces = np.asarray(faces, dtype=np.int64)
            cells = np.hstack([np.full((faces.shape[0], 1), 3, dtype=np.int64), faces]).ravel()
            mesh = pv.PolyData(np.asarray(vertices, dtype=np.float32), cells)
            actor = p.add_mesh(mesh, color=colour, opacity=opacity, smooth_shading=True, pickable=False,
                               culling="back", name=f"tissue_{name}")
            self._surface_actors.append(actor)
        electrodes = np.asarray(scene.electrodes_mm, dtype=np.float64).reshape(-1, 3)
        if electrodes.size:
            # electrodes as small discs of real size (points of fixed pixel size swamp a far view)
            bad = np.zeros(len(electrodes), dtype=bool)
            bad[np.asarray(scene.bad_channels, dtype=np.int64)] = True
            for mask, colour, name in ((~bad, "#1f2328", "electrodes"), (bad, "#c4c8ce", "bad_electrodes")):
                if mask.any():
                    glyphs = pv.PolyData(electrodes[mask]).glyph(geom=pv.Sphere(radius=1.0), scale=False, orient=False)
                    p.add_mesh(glyphs, color=colour, pickable=False, name=name)
        self.redraw(reset_camera=True)

    def set_state(self, state: ReviewState) -> None:
        """Spheres for ``state``'s units (live during a run, then the edited result)."""
        self._state = state
        self.redraw()

    def set_selection(self, unit_ids: tuple[int, ...]) -> None:
        """The selected units' spheres opaque, the others faded."""
        self._state = replace(self._state, selected_ids=tuple(unit_ids))
        if self.plotter is None or not self.unit_actors:
            return
        selected = set(unit_ids)
        for uid, actor in self.unit_actors.items():
            actor.GetProperty().SetOpacity(1.0 if not selected or uid in selected else 0.35)
        self.plotter.render()

    def redraw(self, reset_camera: bool = False) -> None:
        """Spheres for the units last given."""
        self._update_caption()
        if self.scene is None or self.plotter is None:
            return
        import pyvista as pv

        p = self.plotter
        for actor in self.unit_actors.values():
            p.remove_actor(actor, render=False)
        self.unit_actors.clear()
        self.unit_points.clear()
        ids, points, radii = unit_positions(self._state.units, self.scene.grid_to_world)
        selected = set(self._state.selected_ids)
        for uid, point, radius in zip(ids, points, radii, strict=True):
            sphere = pv.Sphere(radius=float(radius), center=point, theta_resolution=20, phi_resolution=14)
            actor = p.add_mesh(sphere, color=self._colors.hex(uid), smooth_shading=True,
                               opacity=1.0 if not selected or uid in selected else 0.35, name=f"unit_{uid}",
                               render=False)
            self.unit_actors[uid] = actor
            self.unit_points[uid] = point
        if reset_camera:
            self._default_camera()
        p.render()

    def _default_camera(self) -> None:
        """A three-quarter view of the grid from outside the skin, the limb axis upright: the
        layers' cross-section shows, so depth reads as depth."""
        p = self.plotter
        scene = self.scene
        assert scene is not None and p is not None

        def world(depth: float, iz: float) -> NDArray[np.float64]:
            point: NDArray[np.float64] = np.asarray(
                scene.grid_to_world(np.array([depth]), np.array([0.0]), np.array([iz])), dtype=np.float64)[0]
            return point

        origin = world(0.0, 0.0)
        outward = origin - world(20.0, 0.0)
        up = world(0.0, 10.0) - origin
        outward /= max(float(np.linalg.norm(outward)), 1e-9)
        up /= max(float(np.linalg.norm(up)), 1e-9)
        side = np.cross(up, outward)
        p.view_vector(tuple(outward + 1.3 * side - 0.6 * up), viewup=tuple(up))
        p.reset_camera()
        p.camera.zoom(1.1)

    def _update_caption(self) -> None:
        if self.scene is None:
            self.caption.setText("No anatomy: File → Open MRI… (a NIfTI label map or T1 image, or a DICOM folder)")
            return
        units = self._state.units
        n_placed = sum(1 for u in units if u.theta and "depth_mm" in u.theta)
        text = self.scene.title
        if units and n_placed < len(units):
            text += (f"  ·  {len(units) - n_placed} of {len(units)} units have no estimated position "
                     "(decompose with method hybrid or bmiss)")
        elif n_placed:
            text += f"  ·  {n_placed} units at their estimated positions; click one to select it"
        self.caption.setText(text)

    # -- picking ------------------------------------------------------------------------------
    def _on_press(self, _obj: object, _event: str) -> None:
        self._press_xy = tuple(self.plotter.iren.get_event_position())  # type: ignore[assignment]

    def _on_release(self, _obj: object, _event: str) -> None:
        xy = tuple(self.plotter.iren.get_event_position())
        press = self._press_xy
        self._press_xy = None
        if press is None or abs(xy[0] - press[0]) + abs(xy[1] - press[1]) > 4:
            return  # a drag (rotation), not a click
        uid = self.pick_display(int(xy[0]), int(xy[1]))
        if uid is not None:
            self.unit_picked.emit(uid)

    def pick_display(self, x: int, y: int) -> int | None:
        """The unit whose sphere is under display point (x, y) (VTK pixels, origin bottom-left)."""
        if self.plotter is None:
            return None
        from vtkmodules.vtkRenderingCore import vtkPropPicker

        picker = vtkPropPicker()
        if not picker.Pick(x, y, 0, self.plotter.renderer):
            return None
        actor = picker.GetActor()
        # VTK hands back the same Python wrapper while one is alive (we keep ours)
        return next((uid for uid, a in self.unit_actors.items() if a is actor), None)

    def display_point(self, unit_id: int) -> tuple[int, int]:
        """Display coordinates (VTK pixels, origin bottom-left) of a unit's sphere centre."""
        renderer = self.plotter.renderer
        x, y, z = self.unit_points[unit_id]
        renderer.SetWorldPoint(float(x), float(y), float(z), 1.0)
        renderer.WorldToDisplay()
        dx, dy, _ = renderer.GetDisplayPoint()
        return round(dx), round(dy)

    # -- look and teardown ----------------------------------------------------------------------
    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        if self.plotter is not None:
            self.plotter.set_background(theme.plot_background)
            self.plotter.render()

    def close_plotter(self) -> None:
        """Release the VTK render window (before the Qt widget goes away)."""
        if self.plotter is not None:
            self.plotter.close()
            self.plotter = None
