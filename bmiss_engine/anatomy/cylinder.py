"""The limb under a placed grid as concentric cylinders: the cylindrical forward model's geometry.

The cylindrical volume conductor (:mod:`bmiss_engine.forward.cylindrical`) takes a central bone,
muscle, fat and skin as concentric cylinders around the limb axis. On a subject's MRI,
:func:`cylinder_under_grid` measures them where the grid lies, per electrode, and averages over
the grid's arc (its electrodes sit evenly along it):

* the skin radius: the electrode's distance from the limb axis (:class:`LimbFrame`), in the
  cross-section at its axial position;
* skin and fat: the thicknesses under the electrode along the skin's inward normal, as
  :func:`~bmiss_engine.anatomy.place_grid` measured them (the planar model's layers);
* the muscle radius: what the layers leave of the skin radius, electrode by electrode;
* the bone: a limb holds one or two bones off the axis, the model one at its centre; its
  radius is that of the bones' summed cross-section, sqrt(area/π), over the grid's axial
  extent (at least 4 voxels of it).

A grid whose columns span the limb's perimeter to within one spacing (a grid wrapped around
it) is marked ``grid_around``. The fibres run along the limb axis, as in the placement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.anatomy.placement import PlacedGrid
from bmiss_engine.anatomy.volume import LabelMap, Tissue, voxel_to_world
from bmiss_engine.errors import AnatomyError
from bmiss_engine.forward.cylindrical import CylinderGeometry


@dataclass(frozen=True, eq=False)
class LimbCylinder:
    """The cylinders that describe the limb under a grid (mm, world mm for positions).

    skin_radius_mm, skin_mm, fat_mm, muscle_radius_mm, bone_radius_mm: the model's radii and
    layers (averages over the grid's electrodes; the bone's from its cross-section).
    grid_around: the grid's columns span the limb's perimeter (to within one spacing).
    centre_world_mm (3,): the limb axis at the grid centre's axial position; axis_world (3,):
    the axis's direction (the fibres'); reference_world (3,): the direction at angle 0 across
    the axis (angles grow right-handed about the axis, as :class:`GridPlacement`'s);
    centre_angle_deg: the grid centre's angle (the placement's).
    angle_deg, axial_mm (n_channels,): each electrode's angle around the axis and axial
    position from ``centre_world_mm``; skin_radius_by_electrode_mm,
    muscle_radius_by_electrode_mm (n_channels,): the radii at each electrode.
    """

    skin_radius_mm: float
    skin_mm: float
    fat_mm: float
    muscle_radius_mm: float
    bone_radius_mm: float
    grid_around: bool
    centre_world_mm: NDArray[np.float64]
    axis_world: NDArray[np.float64]
    reference_world: NDArray[np.float64]
    centre_angle_deg: float
    angle_deg: NDArray[np.float64]
    axial_mm: NDArray[np.float64]
    skin_radius_by_electrode_mm: NDArray[np.float64]
    muscle_radius_by_electrode_mm: NDArray[np.float64]

    @property
    def layer_radii_mm(self) -> dict[str, float]:
        """Outer radius of each layer: bone, muscle, fat, skin (for drawing the cylinders)."""
        return {"bone": self.bone_radius_mm, "muscle": self.muscle_radius_mm,
                "fat": self.muscle_radius_mm + self.fat_mm, "skin": self.skin_radius_mm}

    def to_world(self, depth_mm: NDArray[np.float64] | float, ml_mm: NDArray[np.float64] | float,
                 iz_mm: NDArray[np.float64] | float) -> NDArray[np.float64]:
        """World positions (n, 3) of units at the cylindrical model's θ (depth below the
        muscle surface, ml the arc on the skin from the grid centre, iz along the fibres from it;
        each (n,) or scalar): radius muscle − depth, angle centre + ml/skin radius."""
        depth, ml, iz = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, dtype=np.float64))
                                              for v in (depth_mm, ml_mm, iz_mm)))
        angle = np.radians(self.centre_angle_deg) + ml / self.skin_radius_mm
        side = np.cross(self.axis_world, self.reference_world)
        across = np.cos(angle)[:, None] * self.reference_world + np.sin(angle)[:, None] * side
        radius = (self.muscle_radius_mm - depth)[:, None]
        return np.asarray(self.centre_world_mm + iz[:, None] * self.axis_world + radius * across)

    def geometry(self, **conductivities: float) -> CylinderGeometry:
        """The forward model's :class:`CylinderGeometry` (conductivities by keyword, else its
        defaults)."""
        return CylinderGeometry(muscle_radius_mm=self.muscle_radius_mm, fat_mm=self.fat_mm, skin_mm=self.skin_mm,
                                bone_radius_mm=self.bone_radius_mm, **conductivities)


def cylinder_under_grid(label_map: LabelMap, placed: PlacedGrid) -> LimbCylinder:
    """The concentric cylinders of ``label_map``'s limb under the grid ``placed`` on it (see the
    module doc). Raises :class:`AnatomyError` when the layers leave no muscle under the grid."""
    frame = placed.frame
    s, q = frame.to_plane(placed.electrode_world_mm)
    skin_radius = np.linalg.norm(q, axis=1)
    angle = np.degrees(np.arctan2(q[:, 1], q[:, 0]))
    muscle_radius = skin_radius - placed.skin_thickness_mm - placed.fat_thickness_mm
    if not np.all(muscle_radius > 0):
        raise AnatomyError(f"{label_map.source or 'label map'}: the skin and fat under the grid reach the limb axis")
    centre_s = placed.placement.axial_mm
    half = max(float(np.max(np.abs(s - centre_s))), 2.0 * max(label_map.voxel_size_mm))
    bone = _bone_radius_mm(label_map, placed, centre_s - half, centre_s + half)
    muscle = float(np.mean(muscle_radius))
    # the forward model needs its bone inside the muscle: the bones' own muscle cover aside,
    # an equivalent central bone at most 2 mm under the muscle's surface
    bone = min(bone, max(muscle - 2.0, 0.0))
    grid = placed.grid
    n_across = grid.n_columns if grid.fibre_axis == "rows" else grid.n_rows
    perimeter = placed.skin_perimeter_mm()
    return LimbCylinder(
        skin_radius_mm=float(np.mean(skin_radius)), skin_mm=placed.mean_skin_mm, fat_mm=placed.mean_fat_mm,
        muscle_radius_mm=muscle, bone_radius_mm=bone, grid_around=bool((n_across + 1) * grid.ied_mm >= perimeter),
        centre_world_mm=frame.from_plane(np.array([centre_s]), np.zeros((1, 2)))[0], axis_world=frame.axis.copy(),
        reference_world=frame.reference.copy(), centre_angle_deg=placed.placement.angle_deg, angle_deg=angle,
        axial_mm=s - centre_s,
        skin_radius_by_electrode_mm=skin_radius, muscle_radius_by_electrode_mm=muscle_radius,
    )


def _bone_radius_mm(label_map: LabelMap, placed: PlacedGrid, s_low: float, s_high: float) -> float:
    """sqrt(area/π) of the bone's mean cross-section between axial positions s_low and s_high."""
    indices = np.argwhere(label_map.labels == int(Tissue.BONE))
    if indices.size == 0:
        return 0.0
    s, _ = placed.frame.to_plane(voxel_to_world(label_map.affine, indices.astype(np.float64)))
    inside = int(np.count_nonzero((s >= s_low) & (s <= s_high)))
    voxel_mm3 = abs(float(np.linalg.det(label_map.affine[:3, :3])))
    return math.sqrt(inside * voxel_mm3 / (s_high - s_low) / math.pi)
