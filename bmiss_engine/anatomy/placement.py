"""The electrode grid as a patch on the skin, and the anatomy under it.

Placement (:class:`GridPlacement`): the grid's centre sits on the skin at ``angle_deg`` around
the limb axis (0° = anterior, world +y across the axis; angles grow right-handed about the
axis, see :class:`~bmiss_engine.anatomy.limb.LimbFrame`) and ``axial_mm`` along the axis from
the body's centroid. With ``rotation_deg`` = 0 the grid's fibre axis (its "along" direction,
:meth:`ElectrodeGrid.positions_mm`) runs along the limb axis and its "across" direction
(increasing column for ``fibre_axis="rows"``) runs around the limb the way angles grow;
``rotation_deg`` turns the grid on the skin from the limb axis towards that direction.

Electrode e with grid coordinates (u along, v across) lands at the skin point with axial
position ``axial_mm + u·cosψ − v·sinψ`` and arc length ``u·sinψ + v·cosψ`` around the limb
from the centre's angle: the patch wraps around the limb by arc length and follows the
skin's changes along it.

Under each electrode, a line along the inward normal crosses skin, fat and muscle; the
thicknesses are where the trilinear fractions of "fat or deeper" and "muscle or bone" pass
0.5 (accurate to a fraction of a voxel).

Muscle fibres are taken to run along the limb axis, so the forward model's fibre angle
relative to the grid is −rotation_deg. The forward model (:class:`AnalyticForwardModel`) is
planar: it takes one skin and one fat thickness per unit (``AnatomyParameters`` fields are
scalars or (n_units,)), not one per electrode, so :meth:`PlacedGrid.anatomy_parameters`
averages them over the grid's electrodes.

Unit positions (:meth:`PlacedGrid.grid_to_world`): the model's (depth below the muscle
surface, ml across the fibres, iz along them, from the grid centre) become the skin point at
axial ``axial_mm + iz`` and arc ``ml`` (fibres along the limb), moved inwards along its normal
by depth + the model's skin + fat (the grid averages). :meth:`PlacedGrid.world_to_grid` is the
exact inverse for points nearer to the grid's skin than to any other part of the surface.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from bmiss_engine.anatomy.limb import LimbFrame, SkinModel, first_crossing, tissue_fraction
from bmiss_engine.anatomy.volume import LabelMap, Tissue, world_to_voxel
from bmiss_engine.errors import AnatomyError, ConfigError
from bmiss_engine.forward.parameters import AnatomyParameters
from bmiss_engine.recording import ElectrodeGrid


@dataclass(frozen=True)
class GridPlacement:
    """Where the grid sits on the limb (see the module doc for the conventions).

    angle_deg: position of the grid centre around the limb axis, degrees.
    axial_mm: position of the grid centre along the limb axis from the body's centroid, mm.
    rotation_deg: turn of the grid on the skin away from the limb axis, degrees.
    limb_axis: the limb axis as a world direction (3 numbers), or None to estimate it.
    """

    angle_deg: float = 0.0
    axial_mm: float = 0.0
    rotation_deg: float = 0.0
    limb_axis: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        for name in ("angle_deg", "axial_mm", "rotation_deg"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"grid placement: {name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.limb_axis is not None:
            axis = tuple(float(v) for v in self.limb_axis)
            if len(axis) != 3 or not any(axis) or not all(math.isfinite(v) for v in axis):
                raise ConfigError(f"grid placement: limb_axis must be three finite numbers, not all 0, got {self.limb_axis!r}")
            object.__setattr__(self, "limb_axis", axis)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able settings (the inverse of :meth:`from_dict`)."""
        out: dict[str, Any] = {"angle_deg": self.angle_deg, "axial_mm": self.axial_mm, "rotation_deg": self.rotation_deg}
        if self.limb_axis is not None:
            out["limb_axis"] = list(self.limb_axis)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GridPlacement:
        unknown = set(values) - {"angle_deg", "axial_mm", "rotation_deg", "limb_axis"}
        if unknown:
            raise ConfigError(f"grid placement: unknown settings {sorted(unknown)}")
        axis = values.get("limb_axis")
        return cls(
            angle_deg=values.get("angle_deg", 0.0), axial_mm=values.get("axial_mm", 0.0),
            rotation_deg=values.get("rotation_deg", 0.0),
            limb_axis=None if axis is None else tuple(axis),  # type: ignore[arg-type]
        )


def load_grid_placement(path: str | Path) -> GridPlacement:
    """A :class:`GridPlacement` from a JSON file of its :meth:`~GridPlacement.as_dict` form."""
    p = Path(path)
    try:
        values = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{p}: not a readable grid-placement JSON file ({exc})") from exc
    if not isinstance(values, dict):
        raise ConfigError(f"{p}: a grid placement is a JSON object")
    return GridPlacement.from_dict(values)


@dataclass(frozen=True, eq=False)
class PlacedGrid:
    """A grid on the skin of one label map, with the anatomy under each electrode.

    electrode_world_mm: (n_channels, 3) electrode centres on the skin, world mm, in the order
        of ``grid.channel_rc``.
    normal_world: (n_channels, 3) outward unit normals of the skin there.
    centre_world_mm, centre_normal_world: (3,) the grid centre on the skin and its normal.
    fibre_axis_world: (3,) unit vector of the muscle fibres (the limb axis).
    along_world, across_world: (3,) unit vectors of the grid's along-fibre and across axes at
        its centre (tangent to the skin).
    skin_thickness_mm, fat_thickness_mm: (n_channels,) along the inward normal.
    muscle_depth_range_mm: (n_channels, 2) depth below the skin where the first muscle met
        along the inward normal begins and ends (nan where none).
    """

    grid: ElectrodeGrid
    placement: GridPlacement
    frame: LimbFrame
    electrode_world_mm: NDArray[np.float64]
    normal_world: NDArray[np.float64]
    centre_world_mm: NDArray[np.float64]
    centre_normal_world: NDArray[np.float64]
    fibre_axis_world: NDArray[np.float64]
    along_world: NDArray[np.float64]
    across_world: NDArray[np.float64]
    skin_thickness_mm: NDArray[np.float64]
    fat_thickness_mm: NDArray[np.float64]
    muscle_depth_range_mm: NDArray[np.float64]
    _skin: SkinModel = field(repr=False)

    @property
    def mean_skin_mm(self) -> float:
        return float(np.mean(self.skin_thickness_mm))

    @property
    def mean_fat_mm(self) -> float:
        return float(np.mean(self.fat_thickness_mm))

    @property
    def fibre_angle_deg(self) -> float:
        """Angle from the grid's fibre axis to the fibres in the forward model's convention."""
        return -self.placement.rotation_deg

    def anatomy_parameters(self, dtype: torch.dtype = torch.float64, **conductivities: float) -> AnatomyParameters:
        """The forward model's anatomy under this grid: skin and fat thickness averaged over the
        electrodes (the planar model takes one value of each), fibre angle −rotation_deg;
        conductivities default to :meth:`AnatomyParameters.default`'s (override by keyword)."""
        return AnatomyParameters.default(
            skin_mm=self.mean_skin_mm, fat_mm=self.mean_fat_mm, fibre_angle_deg=self.fibre_angle_deg,
            dtype=dtype, **conductivities,
        )

    def skin_perimeter_mm(self, axial_mm: float = 0.0) -> float:
        """The perimeter of the skin's cross-section ``axial_mm`` along the limb axis from the
        grid centre."""
        return self._skin.contour(self.placement.axial_mm + axial_mm).perimeter

    def _layers_mm(self) -> float:
        return self.mean_skin_mm + self.mean_fat_mm

    def skin_points(
        self, axial_mm: NDArray[np.float64], arc_mm: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Skin points (n, 3) and outward normals (n, 3) at axial offsets and arc lengths (n,)
        from the grid centre."""
        return _skin_points(self._skin, self.placement, np.asarray(axial_mm, float), np.asarray(arc_mm, float))

    def grid_to_world(
        self, depth_mm: NDArray[np.float64] | float, ml_mm: NDArray[np.float64] | float, iz_mm: NDArray[np.float64] | float
    ) -> NDArray[np.float64]:
        """World positions (n, 3), mm, of units at the forward model's (depth below the muscle
        surface, medio-lateral position, innervation zone) from the grid centre (each (n,) or
        scalar, broadcast together). See the module doc."""
        depth, ml, iz = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (depth_mm, ml_mm, iz_mm)))
        points, normals = self.skin_points(iz, ml)
        return np.asarray(points - (depth + self._layers_mm())[:, None] * normals)

    def world_to_grid(self, points_mm: NDArray[np.float64]) -> NDArray[np.float64]:
        """The inverse of :meth:`grid_to_world`: (n, 3) world points → (n, 3) columns (depth_mm,
        ml_mm, iz_mm)."""
        pts = np.atleast_2d(np.asarray(points_mm, dtype=np.float64))
        s, q = self.frame.to_plane(pts)
        out = np.empty((pts.shape[0], 3))
        for i in range(pts.shape[0]):
            contour = self._skin.contour(float(s[i]))
            arc, depth = contour.project(q[i : i + 1])
            origin = contour.arc_at_angle(self.placement.angle_deg)
            rel = float(np.mod(arc[0] - origin + contour.perimeter / 2, contour.perimeter) - contour.perimeter / 2)
            out[i] = (float(depth[0]) - self._layers_mm(), rel, float(s[i]) - self.placement.axial_mm)
        return out


def unit_positions_world(
    placed: PlacedGrid,
    depth_mm: NDArray[np.float64] | float,
    ml_mm: NDArray[np.float64] | float,
    iz_mm: NDArray[np.float64] | float,
) -> NDArray[np.float64]:
    """World positions (n, 3) of units in the MRI for the 3D view: :meth:`PlacedGrid.grid_to_world`."""
    return placed.grid_to_world(depth_mm, ml_mm, iz_mm)


def _skin_points(
    skin: SkinModel, placement: GridPlacement, axial_mm: NDArray[np.float64], arc_mm: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    s = placement.axial_mm + axial_mm
    points = np.empty((s.shape[0], 3))
    normals = np.empty((s.shape[0], 3))
    for value in np.unique(s):
        rows = np.flatnonzero(s == value)
        contour = skin.contour(float(value))
        origin = contour.arc_at_angle(placement.angle_deg)
        q, n = contour.at_arc(origin + arc_mm[rows])
        points[rows] = skin.frame.from_plane(np.full(rows.shape[0], value), q)
        normals[rows] = n[:, :1] * skin.frame.reference + n[:, 1:2] * skin.frame.side
    return points, normals


def _layers_under(
    label_map: LabelMap, points: NDArray[np.float64], normals: NDArray[np.float64], max_depth_mm: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Skin (n,), fat (n,) thickness and muscle depth range (n, 2) along the inward normals."""
    step = min(label_map.voxel_size_mm) / 4
    t = np.arange(0.0, max_depth_mm, step)
    n = points.shape[0]
    samples = points[:, None, :] - t[None, :, None] * normals[:, None, :]
    idx = world_to_voxel(label_map.affine, samples.reshape(-1, 3))
    labels = label_map.labels
    deeper = tissue_fraction(labels, idx, (Tissue.FAT, Tissue.MUSCLE, Tissue.BONE)).reshape(n, -1)
    inner = tissue_fraction(labels, idx, (Tissue.MUSCLE, Tissue.BONE)).reshape(n, -1)
    muscle = tissue_fraction(labels, idx, (Tissue.MUSCLE,)).reshape(n, -1)
    skin = np.array([first_crossing(deeper[e], step) for e in range(n)])
    fat = np.array([first_crossing(inner[e], step) for e in range(n)]) - skin
    ranges = np.full((n, 2), np.nan)
    for e in range(n):
        start = first_crossing(muscle[e], step)
        if np.isfinite(start):
            ranges[e] = (start, first_crossing(muscle[e], step, rising=False, start=int(start / step) + 1))
    return skin, fat, ranges


def place_grid(label_map: LabelMap, grid: ElectrodeGrid, placement: GridPlacement | None = None) -> PlacedGrid:
    """Put ``grid`` on the skin of ``label_map`` as ``placement`` says and measure the layers
    under every electrode (see the module doc). Raises :class:`AnatomyError` when the grid
    would leave the imaged part of the limb or an electrode has no fat or muscle below it."""
    placement = placement or GridPlacement()
    axis = None if placement.limb_axis is None else np.asarray(placement.limb_axis, dtype=np.float64)
    frame = LimbFrame.of(label_map, axis)
    skin = SkinModel(label_map, frame)
    psi = math.radians(placement.rotation_deg)
    uv = grid.positions_mm()
    axial = uv[:, 0] * math.cos(psi) - uv[:, 1] * math.sin(psi)
    arc = uv[:, 0] * math.sin(psi) + uv[:, 1] * math.cos(psi)
    points, normals = _skin_points(skin, placement, axial, arc)
    centre, centre_normal = _skin_points(skin, placement, np.zeros(1), np.zeros(1))
    # the grid's axes at its centre: limb axis and the skin's tangent around the limb
    around = np.cross(centre_normal[0], frame.axis)  # right-handed: axis × reference = side
    around = -around if around @ frame.direction(placement.angle_deg + 90.0) < 0 else around
    along_world = math.cos(psi) * frame.axis + math.sin(psi) * around
    across_world = -math.sin(psi) * frame.axis + math.cos(psi) * around
    max_depth = 2.0 * float(np.max(np.linalg.norm(frame.to_plane(points)[1], axis=1))) + 5.0
    skin_mm, fat_mm, ranges = _layers_under(label_map, points, normals, max_depth)
    bad = np.flatnonzero(~np.isfinite(skin_mm) | ~np.isfinite(fat_mm))
    if bad.size:
        raise AnatomyError(
            f"{label_map.source or 'label map'}: no fat and muscle found under electrode(s) {bad[:8].tolist()} "
            f"of the grid placed at {placement.as_dict()}"
        )
    return PlacedGrid(
        grid=grid, placement=placement, frame=frame, electrode_world_mm=points, normal_world=normals,
        centre_world_mm=centre[0], centre_normal_world=centre_normal[0], fibre_axis_world=frame.axis.copy(),
        along_world=along_world, across_world=across_world, skin_thickness_mm=skin_mm, fat_thickness_mm=fat_mm,
        muscle_depth_range_mm=ranges, _skin=skin,
    )
