"""Scenes for the 3D view, from what the engine gives: the planar layers the forward model
assumes when there is no MRI, or the subject's own anatomy when there is one."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from bmiss_engine import ElectrodeGrid
from bmiss_gui.views.anatomy3d import Scene

_MUSCLE_BOTTOM_MM = 25.0  # the planar scene's muscle slab: as deep as the inversion searches
_MARGIN_MM = 20.0  # slabs reach this far beyond the grid on each side


Span = tuple[float, float]


def _box(x: Span, y: Span, z: Span) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
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
