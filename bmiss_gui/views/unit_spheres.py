"""The motor units of the 3D view as spheres: where each unit sits and how large it is
(:func:`unit_positions`), and the VTK actors that draw them (:class:`UnitSpheres`).

Every sphere is one actor sharing a single unit-sphere mapper: a unit's sphere is moved,
scaled, coloured and faded in place, and only units that come or go add or remove an actor.
A live decomposition that hands the view the same units again changes nothing, so nothing
needs drawing (pyvista's ``add_mesh`` per unit and snapshot cost ~20 ms a sphere).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bmiss_engine import MotorUnit

#: (depth_mm, ml_mm, iz_mm) arrays (n,) → world points (n, 3) in mm
GridToWorld = Callable[[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]], NDArray[np.float64]]

SPHERE_RADIUS_MM = (1.2, 4.0)  # smallest and largest unit (by fibre count)
FADED_OPACITY = 0.35  # units not selected while others are


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
    lo, hi = SPHERE_RADIUS_MM
    scale = (np.cbrt(np.clip(fibres, 10.0, 2000.0)) - math.cbrt(10.0)) / (math.cbrt(2000.0) - math.cbrt(10.0))
    return [u.unit_id for u in placed], points, lo + (hi - lo) * scale


@dataclass(frozen=True)
class SphereLook:
    """What one unit's sphere shows: centre (mm), radius (mm), colour ("#rrggbb"), opacity."""

    centre: tuple[float, float, float]
    radius: float
    colour: str
    opacity: float


def _rgb(colour: str) -> tuple[float, float, float]:
    return (int(colour[1:3], 16) / 255, int(colour[3:5], 16) / 255, int(colour[5:7], 16) / 255)


class UnitSpheres:
    """The spheres of the units on ``renderer`` (a VTK renderer), by unit id."""

    def __init__(self, renderer: Any) -> None:
        from vtkmodules.vtkFiltersSources import vtkSphereSource
        from vtkmodules.vtkRenderingCore import vtkPolyDataMapper

        self._renderer = renderer
        source = vtkSphereSource()
        source.SetRadius(1.0)
        source.SetThetaResolution(20)
        source.SetPhiResolution(14)
        self._mapper = vtkPolyDataMapper()
        self._mapper.SetInputConnection(source.GetOutputPort())
        #: unit id → the VTK actor of its sphere (picking finds units by actor)
        self.actors: dict[int, Any] = {}
        self.looks: dict[int, SphereLook] = {}

    def show(self, looks: dict[int, SphereLook]) -> bool:
        """Make the drawn spheres ``looks``; True when anything changed (a render is due)."""
        from vtkmodules.vtkRenderingCore import vtkActor

        changed = False
        for uid in [u for u in self.actors if u not in looks]:
            self._renderer.RemoveActor(self.actors.pop(uid))
            del self.looks[uid]
            changed = True
        for uid, look in looks.items():
            if self.looks.get(uid) == look:
                continue
            actor = self.actors.get(uid)
            if actor is None:
                actor = vtkActor()
                actor.SetMapper(self._mapper)
                self._renderer.AddActor(actor)
                self.actors[uid] = actor
            actor.SetPosition(*look.centre)
            actor.SetScale(look.radius)
            prop = actor.GetProperty()
            prop.SetColor(*_rgb(look.colour))
            prop.SetOpacity(look.opacity)
            self.looks[uid] = look
            changed = True
        return changed

    def clear(self) -> None:
        """Forget the actors (the renderer was cleared, or is gone)."""
        self.actors.clear()
        self.looks.clear()
