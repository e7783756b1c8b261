"""Scenes for the 3D view, from what the engine gives: the planar layers the forward model
assumes when there is no MRI, the cylindrical limb of the cylindrical model, or the subject's
own anatomy when there is one (with the cylinder fitted under the grid drawn over it).

Where the units sit follows the model their θ came from: the planar model's depth is below the
muscle surface under the grid, along the skin's normal; the cylinder's is below the muscle
cylinder, at the angle the arc ``ml_mm`` on the skin makes around the limb axis
(:meth:`~bmiss_engine.anatomy.LimbCylinder.to_world`).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from bmiss_engine import ElectrodeGrid
from bmiss_gui.views.anatomy3d import Scene

if TYPE_CHECKING:
    from bmiss_engine.anatomy import LabelMap, LimbCylinder, PlacedGrid
    from bmiss_engine.config import InversionSettings
    from bmiss_gui.mri import LoadedAnatomy

_MUSCLE_BOTTOM_MM = 25.0  # the planar scene's muscle slab: as deep as the inversion searches
_MARGIN_MM = 20.0  # slabs reach this far beyond the grid on each side
_TUBE_FACETS = 96  # facets around a cylinder layer
CYLINDER_LAYERS = ("bone", "muscle", "fat", "skin")  # inside out


Span = tuple[float, float]
Mesh = tuple[NDArray[np.float64], NDArray[np.int64]]


def _box(x: Span, y: Span, z: Span) -> Mesh:
    """Vertices (8, 3) and triangles (12, 3) of an axis-aligned box."""
    vertices = np.array([[x[i], y[j], z[k]] for k in (0, 1) for j in (0, 1) for i in (0, 1)], dtype=np.float64)
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    faces = np.array([tri for a, b, c, d in quads for tri in ((a, b, c), (a, c, d))], dtype=np.int64)
    return vertices, faces


def planar_scene(grid: ElectrodeGrid, skin_mm: float, fat_mm: float, title: str = "") -> Scene:
    """The forward model's planar limb under ``grid``: skin, fat and muscle slabs, the skin
    surface at z = 0, x across the fibres, y along them (as :meth:`ElectrodeGrid.positions_mm`),
    depth below the muscle–fat interface (as the motor-unit parameters)."""
    pos = grid.positions_mm()  # (n_channels, 2): along, across
    electrodes = np.column_stack([pos[:, 1], pos[:, 0], np.zeros(len(pos))])
    x = (float(pos[:, 1].min()) - _MARGIN_MM, float(pos[:, 1].max()) + _MARGIN_MM)
    y = (float(pos[:, 0].min()) - _MARGIN_MM / 2, float(pos[:, 0].max()) + _MARGIN_MM / 2)
    top_muscle = skin_mm + fat_mm
    surfaces = {
        "skin": _box(x, y, (-skin_mm, 0.0)),
        "fat": _box(x, y, (-top_muscle, -skin_mm)),
        "muscle": _box(x, y, (-top_muscle - _MUSCLE_BOTTOM_MM, -top_muscle)),
    }

    def to_world(depth_mm: NDArray[np.float64], ml_mm: NDArray[np.float64], iz_mm: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.column_stack([ml_mm, iz_mm, -(top_muscle + np.asarray(depth_mm))])

    text = title or f"Planar model: skin {skin_mm:g} mm, fat {fat_mm:g} mm (no MRI)"
    return Scene(surfaces, electrodes, to_world, text, tuple(grid.bad_channels))


def tube(radius_mm: float, axial_mm: Span, centre: NDArray[np.float64], axis: NDArray[np.float64],
         reference: NDArray[np.float64], facets: int = _TUBE_FACETS) -> Mesh:
    """An open tube: vertices (2·facets, 3) and triangles (2·facets, 3) of the cylinder of
    ``radius_mm`` about the line through ``centre`` along ``axis`` (unit vectors; ``reference``
    across it), from ``axial_mm[0]`` to ``axial_mm[1]`` along it. Triangles wind outwards."""
    side = np.cross(axis, reference)
    angle = np.linspace(0.0, 2 * math.pi, facets, endpoint=False)
    ring = radius_mm * (np.cos(angle)[:, None] * reference + np.sin(angle)[:, None] * side)
    vertices = np.concatenate([centre + ring + z * axis for z in axial_mm]).astype(np.float64)
    i = np.arange(facets)
    j = (i + 1) % facets
    # (i, j) on the first ring, (i + n, j + n) on the second; outward normals with the axis
    # pointing from the first ring to the second and angles growing from reference to side
    faces = np.concatenate([np.column_stack([i, j, i + facets]), np.column_stack([j, j + facets, i + facets])])
    return vertices, faces.astype(np.int64)


def cylinder_tubes(cylinder: LimbCylinder, margin_mm: float = _MARGIN_MM / 2) -> dict[str, Mesh]:
    """Each layer of ``cylinder`` (bone, muscle, fat, skin: their outer radii) as a tube along
    the grid's axial extent and ``margin_mm`` beyond it; no bone tube for a limb without one."""
    span = (float(np.min(cylinder.axial_mm)) - margin_mm, float(np.max(cylinder.axial_mm)) + margin_mm)
    return {
        name: tube(radius, span, cylinder.centre_world_mm, cylinder.axis_world, cylinder.reference_world)
        for name, radius in cylinder.layer_radii_mm.items() if radius > 0
    }


def model_cylinder(grid: ElectrodeGrid, inversion: InversionSettings) -> LimbCylinder:
    """The cylindrical model's limb without an MRI (the settings' limb or radii, skin and
    fat), with ``grid`` centred on its top: the limb axis along world y (the fibres, as in the
    planar scene), angle 0 at +z with the grid centre's skin at the origin, angles growing
    towards +x (the planar scene's across direction)."""
    from bmiss_engine.anatomy import LimbCylinder

    muscle, bone = inversion.cylinder_radii_mm
    skin_radius = muscle + inversion.fat_mm + inversion.skin_mm
    pos = grid.positions_mm()  # along, across
    n_across = grid.n_columns if grid.fibre_axis == "rows" else grid.n_rows
    # a wrapped grid's columns are spread evenly over the circumference (the forward model's rule)
    scale = 2 * math.pi * skin_radius / (n_across * grid.ied_mm) if inversion.grid_around else 1.0
    angle = np.degrees(pos[:, 1] * scale / skin_radius)
    n = len(pos)
    return LimbCylinder(
        skin_radius_mm=skin_radius, skin_mm=inversion.skin_mm, fat_mm=inversion.fat_mm, muscle_radius_mm=muscle,
        bone_radius_mm=bone, grid_around=inversion.grid_around,
        centre_world_mm=np.array([0.0, 0.0, -skin_radius]), axis_world=np.array([0.0, 1.0, 0.0]),
        reference_world=np.array([0.0, 0.0, 1.0]), centre_angle_deg=0.0, angle_deg=angle,
        axial_mm=pos[:, 0].astype(np.float64), skin_radius_by_electrode_mm=np.full(n, skin_radius),
        muscle_radius_by_electrode_mm=np.full(n, muscle),
    )


def electrodes_on(cylinder: LimbCylinder, grid: ElectrodeGrid) -> NDArray[np.float64]:
    """The electrodes (n_channels, 3) on the skin of ``cylinder`` (at its electrodes' angles
    and axial positions)."""
    arc = np.radians(cylinder.angle_deg - cylinder.centre_angle_deg) * cylinder.skin_radius_mm
    above_muscle = -(cylinder.skin_radius_mm - cylinder.muscle_radius_mm)
    return cylinder.to_world(np.full(len(arc), above_muscle), arc, cylinder.axial_mm)


def _radii_text(cylinder: LimbCylinder) -> str:
    bone = f", bone {cylinder.bone_radius_mm:.1f} mm" if cylinder.bone_radius_mm > 0 else ", no bone"
    return f"radius {cylinder.skin_radius_mm:.1f} mm, muscle {cylinder.muscle_radius_mm:.1f} mm{bone}"


def cylinder_scene(grid: ElectrodeGrid, inversion: InversionSettings, title: str = "") -> Scene:
    """The cylindrical model's limb under ``grid`` without an MRI (see :func:`model_cylinder`):
    its layers as tubes, the electrodes on its skin, units placed by the cylinder's θ."""
    cylinder = model_cylinder(grid, inversion)
    limb = f"default {inversion.limb}" if inversion.muscle_radius_mm is None else "limb as set"
    wrapped = ", grid around the limb" if inversion.grid_around else ""
    text = title or (f"Cylindrical model ({limb}{wrapped}): {_radii_text(cylinder)}, skin {inversion.skin_mm:g} mm, "
                     f"fat {inversion.fat_mm:g} mm (no MRI)")
    return Scene({}, electrodes_on(cylinder, grid), cylinder.to_world, text, tuple(grid.bad_channels),
                 cylinder=cylinder_tubes(cylinder))


# placement → its cylinder, for the last few placements (the placement dialog fits one off the
# GUI thread; the 3D view and the Decompose dialog then find it here): (label map, placement,
# cylinder) by the placement's id, the objects kept so that an id is not reused meanwhile
_CYLINDERS: dict[int, tuple[LabelMap, PlacedGrid, LimbCylinder | None]] = {}
_CYLINDERS_KEPT = 8


def cylinder_under(label_map: LabelMap, placed: PlacedGrid) -> LimbCylinder | None:
    """The cylinder fitted to ``label_map``'s tissues under the grid ``placed`` on it
    (:func:`~bmiss_engine.anatomy.cylinder_under_grid`, remembered for the last few
    placements); None where the layers leave no muscle under the grid. Safe off the GUI thread."""
    from bmiss_engine.anatomy import AnatomyError, cylinder_under_grid

    known = _CYLINDERS.get(id(placed))
    if known is not None and known[0] is label_map and known[1] is placed:
        return known[2]
    try:
        cylinder: LimbCylinder | None = cylinder_under_grid(label_map, placed)
    except AnatomyError:
        cylinder = None
    while len(_CYLINDERS) >= _CYLINDERS_KEPT:
        _CYLINDERS.pop(next(iter(_CYLINDERS)), None)
    _CYLINDERS[id(placed)] = (label_map, placed, cylinder)
    return cylinder


def mri_cylinder(anatomy: LoadedAnatomy) -> LimbCylinder | None:
    """The cylinder fitted to the MRI's tissues under the placed grid (:func:`cylinder_under`)."""
    return cylinder_under(anatomy.label_map, anatomy.placed)


def cylinder_text(cylinder: LimbCylinder) -> str:
    """The cylinder in words: its radii, and whether the grid goes around the limb."""
    turn = np.mod(cylinder.angle_deg - cylinder.centre_angle_deg + 180.0, 360.0) - 180.0
    around = "the grid goes around the limb" if cylinder.grid_around else (
        f"the grid covers {np.ptp(turn):.0f}° of it")
    return f"{_radii_text(cylinder)}; {around}"


def with_cylinder(scene: Scene, cylinder: LimbCylinder, units_on_cylinder: bool) -> Scene:
    """``scene`` (the MRI's) with ``cylinder``'s layers drawn over it; the units placed by the
    cylinder's θ when ``units_on_cylinder`` (a cylindrical model's), else as the scene places them."""
    to_world = cylinder.to_world if units_on_cylinder else scene.grid_to_world
    title = f"{scene.title}  ·  cylinder under the grid: {_radii_text(cylinder)}"
    return replace(scene, grid_to_world=to_world, title=title, cylinder=cylinder_tubes(cylinder))
