"""The 3D anatomy view: tissue surfaces of the limb, the electrode grid on the skin, and each
motor unit as a sphere at its estimated position (sized by its fibre count, coloured like its
table row). Clicking a sphere selects the unit.

The scene comes from the engine as plain arrays (:class:`Scene`); this module only turns them
into pyvista meshes (the spheres: :mod:`bmiss_gui.views.unit_spheres`). pyvista and VTK are
imported when the view is first built, not with the application (they take a second to
import). VTK renders off screen and the view shows the frames as images
(:mod:`bmiss_gui.views.vtk_canvas`): no OpenGL widget in the window, so floating the dock moves
a picture and the rest of the window keeps painting without OpenGL. On Qt's ``offscreen`` or
``minimal`` platforms the view shows a note instead.

Drawing is cheap and never in the way: the view changes only what changed (a snapshot with
the same units changes nothing) and asks for a render rather than rendering at once (one per
display frame however many changes came, none while the view is hidden; the render window is
made when the view is first shown). Software OpenGL (Mesa's llvmpipe under Xvfb or in a VM)
draws without multisampling (8× MSAA tripled the cost of a frame), smoothed by FXAA instead.
A drawing error stops the 3D view with a note; it never takes the application down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication, QShowEvent
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from bmiss_gui.colors import UnitColors
from bmiss_gui.theme import Theme
from bmiss_gui.views.review_state import ReviewState
from bmiss_gui.views.unit_spheres import FADED_OPACITY, GridToWorld, SphereLook, UnitSpheres, unit_positions

if TYPE_CHECKING:
    from bmiss_gui.views.vtk_canvas import VtkCanvas

log = logging.getLogger(__name__)

__all__ = ["CYLINDER_LOOK", "TISSUE_LOOK", "Anatomy3DView", "GridToWorld", "Scene", "can_render_3d", "unit_positions"]

# tissue → (colour, opacity): the skin and fat translucent so the units inside show
TISSUE_LOOK: dict[str, tuple[str, float]] = {
    "skin": ("#e8b89a", 0.25),
    "fat": ("#f2d479", 0.30),
    "muscle": ("#c0584c", 0.25),
    "bone": ("#ece6d6", 1.0),
}
# the cylindrical model's layers (tubes along the grid): faint, so the tissues and units inside
# show through several of them; their rims at the tube ends show where each layer lies
CYLINDER_LOOK: dict[str, tuple[str, float]] = {
    "skin": ("#d9a07e", 0.12),
    "fat": ("#e8c050", 0.15),
    "muscle": ("#b04a3f", 0.15),
    "bone": ("#d8d0bc", 0.45),
}
_NO_GL_PLATFORMS = ("offscreen", "minimal")
# the electrodes as small spheres of this many facets around and from pole to pole: 64 of the
# default 30×30 were 80 % of a frame's cost on software OpenGL
_ELECTRODE_RESOLUTION = (10, 6)


@dataclass(frozen=True)
class Scene:
    """What the 3D view draws, all in world millimetres.

    surfaces: tissue name → (vertices (V, 3) float, faces (F, 3) int); electrodes_mm:
    (n_channels, 3) electrode centres; grid_to_world: maps units' estimated (depth, ML, IZ)
    under the grid to world points; title: shown in the view's caption; cylinder: layer →
    (vertices, faces) of the cylindrical model's layers (bone, muscle, fat, skin) as tubes
    along the grid, drawn over the tissues (empty: none).
    """

    surfaces: Mapping[str, tuple[NDArray[Any], NDArray[Any]]]
    electrodes_mm: NDArray[np.float64]
    grid_to_world: GridToWorld
    title: str = ""
    bad_channels: tuple[int, ...] = field(default=())
    cylinder: Mapping[str, tuple[NDArray[Any], NDArray[Any]]] = field(default_factory=dict)


def can_render_3d() -> bool:
    """Whether this Qt platform gives VTK an OpenGL window (not ``offscreen``/``minimal``)."""
    return QGuiApplication.platformName() not in _NO_GL_PLATFORMS


class Anatomy3DView(QWidget):
    """The scene in a :class:`~bmiss_gui.views.vtk_canvas.VtkCanvas` (``canvas``, its pyvista
    ``plotter``), with the units of the :class:`ReviewState` given to :meth:`set_state`;
    ``unit_picked(id)`` asks for the unit whose sphere was clicked to be selected."""

    unit_picked = Signal(int)

    def __init__(self, colors: UnitColors | None = None) -> None:
        super().__init__()
        self._colors = colors or UnitColors()
        self._state = ReviewState()
        self.scene: Scene | None = None
        self.plotter: Any = None  # the off-screen pyvista Plotter of ``canvas``
        self.canvas: VtkCanvas | None = None
        self.spheres: UnitSpheres | None = None
        self._stale = False  # units given while hidden, not drawn yet
        self._scene_stale = False  # a scene given before the render window could be made
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

    @property
    def unit_actors(self) -> dict[int, Any]:
        """Unit id → the VTK actor of its sphere (for picking and tests)."""
        return self.spheres.actors if self.spheres is not None else {}

    @property
    def unit_points(self) -> dict[int, NDArray[np.float64]]:
        """Unit id → its sphere's centre (3,) in world mm."""
        looks = self.spheres.looks if self.spheres is not None else {}
        return {uid: np.array(look.centre) for uid, look in looks.items()}

    # -- building ---------------------------------------------------------------------------
    def _ensure_plotter(self) -> bool:
        if self.plotter is not None:
            return True
        if not can_render_3d():
            self.note.setText("The 3D view needs an OpenGL display (this session runs without one).")
            return False
        try:
            import pyvista  # noqa: F401  (the canvas draws with it; imported here, not at start)
        except ImportError:
            self.note.setText("The 3D view needs pyvista: pip install 'bmiss[gui]'.")
            return False
        from bmiss_gui.views.vtk_canvas import VtkCanvas

        self.note.hide()
        self.canvas = VtkCanvas(self)
        self.plotter = self.canvas.plotter
        self._layout.addWidget(self.canvas, 1)
        # translucent tissues: front faces only (culling), few layers over any pixel
        # (no depth peeling: with Mesa's software GL it hid every translucent surface)
        self.canvas.clicked.connect(self._on_click)
        self.canvas.render_failed.connect(self._stop)
        self.spheres = UnitSpheres(self.plotter.renderer)
        if self._theme is not None:
            self.plotter.set_background(self._theme.plot_background)
        return True

    def set_scene(self, scene: Scene | None) -> None:
        """Draw ``scene`` (tissues and electrodes), then the units on it. While the view is
        hidden (its panel closed) nothing is built: the render window is made when it is
        first shown."""
        self.scene = scene
        if scene is not None and self.plotter is None and not self.isVisible():
            self._scene_stale = True  # built in showEvent
            self._update_caption()
            return
        self._scene_stale = False
        if scene is not None and not self._ensure_plotter():
            self._update_caption()
            return
        self._guarded(lambda: self._build(scene))

    def _build(self, scene: Scene | None) -> None:
        self._update_caption()
        if self.plotter is None or self.spheres is None:
            return
        self.plotter.clear()
        self.spheres.clear()
        if scene is not None:
            self._add_tissues(scene)
            self._add_cylinder(scene)
            self._add_electrodes(scene)
            self._sync_spheres()
            self._default_camera()
        self._request_render()

    def _add_tissues(self, scene: Scene) -> None:
        import pyvista as pv

        for name, (vertices, faces) in scene.surfaces.items():
            colour, opacity = TISSUE_LOOK.get(name, ("#999999", 0.3))
            faces = np.asarray(faces, dtype=np.int64)
            cells = np.hstack([np.full((faces.shape[0], 1), 3, dtype=np.int64), faces]).ravel()
            mesh = pv.PolyData(np.asarray(vertices, dtype=np.float32), cells)
            self.plotter.add_mesh(mesh, color=colour, opacity=opacity, smooth_shading=True, pickable=False,
                                  culling="back", name=f"tissue_{name}", render=False)

    def _add_cylinder(self, scene: Scene) -> None:
        """The cylinder's layers as faint tubes (``cylinder_<layer>``) and their rims
        (``cylinder_<layer>_rims``, the ends' circles) in the layer's colour."""
        import pyvista as pv

        for name, (vertices, faces) in scene.cylinder.items():
            colour, opacity = CYLINDER_LOOK.get(name, ("#888888", 0.15))
            faces = np.asarray(faces, dtype=np.int64)
            points = np.asarray(vertices, dtype=np.float32)
            cells = np.hstack([np.full((faces.shape[0], 1), 3, dtype=np.int64), faces]).ravel()
            self.plotter.add_mesh(pv.PolyData(points, cells), color=colour, opacity=opacity, smooth_shading=True,
                                  pickable=False, culling="back", name=f"cylinder_{name}", render=False)
            n = len(points) // 2  # a tube: two rings of n points
            rims = np.concatenate([[n + 1, *range(n), 0], [n + 1, *range(n, 2 * n), n]]).astype(np.int64)
            self.plotter.add_mesh(pv.PolyData(points, lines=rims), color=colour, line_width=2, pickable=False,
                                  name=f"cylinder_{name}_rims", render=False)

    def _add_electrodes(self, scene: Scene) -> None:
        """The electrodes as small spheres of real size (points of fixed pixel size swamp a far
        view), the bad channels' greyed."""
        import pyvista as pv

        electrodes = np.asarray(scene.electrodes_mm, dtype=np.float64).reshape(-1, 3)
        if not electrodes.size:
            return
        bad = np.zeros(len(electrodes), dtype=bool)
        bad[np.asarray(scene.bad_channels, dtype=np.int64)] = True
        theta, phi = _ELECTRODE_RESOLUTION
        disc = pv.Sphere(radius=1.0, theta_resolution=theta, phi_resolution=phi)
        for mask, colour, name in ((~bad, "#1f2328", "electrodes"), (bad, "#c4c8ce", "bad_electrodes")):
            if mask.any():
                glyphs = pv.PolyData(electrodes[mask]).glyph(geom=disc, scale=False, orient=False)
                self.plotter.add_mesh(glyphs, color=colour, pickable=False, name=name, render=False)

    def set_state(self, state: ReviewState) -> None:
        """Spheres for ``state``'s units (live during a run, then the edited result)."""
        self._state = state
        self._update_caption()
        self._units_changed()

    def set_selection(self, unit_ids: tuple[int, ...]) -> None:
        """The selected units' spheres opaque, the others faded."""
        self._state = replace(self._state, selected_ids=tuple(unit_ids))
        self._units_changed()

    def _units_changed(self) -> None:
        if not self.isVisible():  # drawn when shown (showEvent)
            self._stale = True
            return
        self._guarded(self._sync_spheres)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._scene_stale:
            self.set_scene(self.scene)
        elif self._stale:
            self._guarded(self._sync_spheres)

    def _sync_spheres(self) -> None:
        """The spheres of the units last given; a render is asked for only when one changed."""
        self._stale = False
        if self.scene is None or self.spheres is None:
            return
        ids, points, radii = unit_positions(self._state.units, self.scene.grid_to_world)
        selected = set(self._state.selected_ids)
        looks = {
            uid: SphereLook((float(p[0]), float(p[1]), float(p[2])), float(r), self._colors.hex(uid),
                            1.0 if not selected or uid in selected else FADED_OPACITY)
            for uid, p, r in zip(ids, points, radii, strict=True)
        }
        if self.spheres.show(looks):
            self._request_render()

    def _request_render(self) -> None:
        """A render within a display frame (requests meanwhile merge), none while hidden."""
        if self.canvas is not None:
            self.canvas.request_render()

    def _guarded(self, step: Callable[[], None]) -> None:
        """Run a drawing step; an error stops the 3D view (with a note), not the application."""
        try:
            step()
        except Exception as exc:  # VTK and pyvista raise many kinds; none may escape
            log.exception("the 3D view failed")
            self._stop(f"{type(exc).__name__}: {exc}")

    def _stop(self, error: str) -> None:
        """Close the 3D view after a drawing error, saying so in its place."""
        self.close_plotter()
        self.note.setText(f"The 3D view stopped after a drawing error ({error}); the other views are not affected.")
        self.note.show()

    def _default_camera(self) -> None:
        """A three-quarter view of the grid from outside the skin, the limb axis upright: the
        layers' cross-section shows, so depth reads as depth."""
        p = self.plotter
        scene = self.scene
        assert scene is not None
        assert p is not None

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
        p.view_vector(tuple(outward + 1.3 * side - 0.6 * up), viewup=tuple(up), render=False)
        p.reset_camera(render=False)
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
    def _on_click(self, x: int, y: int) -> None:
        uid = self.pick_display(x, y)
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
            self._request_render()

    def close_plotter(self) -> None:
        """Release the VTK render window and its widget."""
        canvas, self.canvas, self.plotter = self.canvas, None, None
        if self.spheres is not None:
            self.spheres.clear()
            self.spheres = None
        if canvas is None:
            return
        self._layout.removeWidget(canvas)
        canvas.close_plotter()
        canvas.hide()
        canvas.deleteLater()
