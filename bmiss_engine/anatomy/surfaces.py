"""Tissue surfaces for display: triangle meshes from a label map, as plain arrays.

Each tissue's surface is the outline of that tissue *and everything inside it*, so the
surfaces nest like the layers they bound: "skin" is the body's outer surface, "fat" the
skin–fat interface, "muscle" the fat–muscle interface, "bone" the bone's surface. Drawn with
some transparency they show the layers under the grid.

Per surface: the mask is averaged over blocks of f×f×f voxels (f chosen so that the mesh
stays within its share of ``max_faces``; averaging is also the decimation and anti-aliasing),
lightly smoothed (Gaussian, σ = 0.5 block), and meshed by marching cubes at level 0.5
(scikit-image); vertices go to world mm through the affine, and faces are wound so that
their normals point out of the tissue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from skimage import measure as _measure

from bmiss_engine.anatomy.volume import LabelMap, Tissue, voxel_to_world

_skmeasure: Any = _measure  # scikit-image is untyped

SURFACE_TISSUES: dict[str, tuple[Tissue, ...]] = {
    "skin": (Tissue.SKIN, Tissue.FAT, Tissue.MUSCLE, Tissue.BONE),
    "fat": (Tissue.FAT, Tissue.MUSCLE, Tissue.BONE),
    "muscle": (Tissue.MUSCLE, Tissue.BONE),
    "bone": (Tissue.BONE,),
}


@dataclass(frozen=True, eq=False)
class Surface:
    """A triangle mesh: vertices float32 (V, 3) in world mm, faces int32 (F, 3) indices into
    them, wound anticlockwise seen from outside (normals point out of the tissue)."""

    vertices: NDArray[np.float32]
    faces: NDArray[np.int32]

    @property
    def n_faces(self) -> int:
        return int(self.faces.shape[0])

    def enclosed_volume_mm3(self) -> float:
        """Signed volume (positive for outward normals), by the divergence theorem."""
        v = self.vertices.astype(np.float64)[self.faces]
        return float(np.einsum("ij,ij->i", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum() / 6.0)


def _block_mean(mask: NDArray[np.bool_], factor: int) -> NDArray[np.float32]:
    """Mean of the mask over factor³ blocks (the volume padded with zeros to whole blocks
    plus one empty block on every side, so that surfaces close at the volume's edges)."""
    shape = np.array(mask.shape)
    blocks = -(-shape // factor)
    padded = np.zeros(tuple((blocks + 2) * factor), dtype=np.float32)
    padded[factor : factor + shape[0], factor : factor + shape[1], factor : factor + shape[2]] = mask
    b = blocks + 2
    return np.asarray(padded.reshape(b[0], factor, b[1], factor, b[2], factor).mean(axis=(1, 3, 5)), dtype=np.float32)


def _mesh(mask: NDArray[np.bool_], affine: NDArray[np.float64], factor: int) -> Surface:
    field = ndimage.gaussian_filter(_block_mean(mask, factor), 0.5)
    if field.max() < 0.5:
        return Surface(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32))
    verts, faces, _, _ = _skmeasure.marching_cubes(field, level=0.5)
    # block centre b ↔ voxel index (b − 1)·f + (f − 1)/2 (one padding block in front)
    indices = (np.asarray(verts, dtype=np.float64) - 1.0) * factor + (factor - 1) / 2.0
    world = voxel_to_world(affine, indices)
    surface = Surface(world.astype(np.float32), np.ascontiguousarray(faces, dtype=np.int32))
    if surface.enclosed_volume_mm3() < 0:
        surface = Surface(surface.vertices, np.ascontiguousarray(surface.faces[:, ::-1]))
    return surface


def _faces_estimate(mask: NDArray[np.bool_], factor: int) -> float:
    """Faces of a mesh of the mask at block size ``factor``: about 2 per boundary voxel face
    at full resolution, divided by factor²."""
    boundary = sum(int(np.count_nonzero(np.diff(mask, axis=a))) for a in range(3))
    return 2.2 * boundary / factor**2


def tissue_surfaces(label_map: LabelMap, max_faces: int = 60_000, tissues: tuple[str, ...] | None = None) -> dict[str, Surface]:
    """Meshes of the nested tissue surfaces (keys of ``SURFACE_TISSUES``: "skin", "fat",
    "muscle", "bone"; only those asked for in ``tissues``), together within ``max_faces``
    faces. A tissue absent from the map gives an empty surface."""
    names = tissues or tuple(SURFACE_TISSUES)
    unknown = set(names) - set(SURFACE_TISSUES)
    if unknown:
        raise ValueError(f"unknown surfaces {sorted(unknown)}; choose from {list(SURFACE_TISSUES)}")
    labels = label_map.labels
    # estimate on a 2× subsample (boundary area scales by 4) to keep it cheap
    masks = {}
    for name in names:
        lut = np.zeros(256, dtype=bool)
        lut[[int(t) for t in SURFACE_TISSUES[name]]] = True
        masks[name] = lut[labels]
    estimates = {name: 4.0 * _faces_estimate(m[::2, ::2, ::2], 1) for name, m in masks.items()}
    total = sum(estimates.values())
    factors = {}
    out = {}
    for name, mask in masks.items():
        budget = max_faces * estimates[name] / max(total, 1.0)
        factors[name] = max(1, math.ceil(math.sqrt(estimates[name] / max(budget, 1.0))))
        out[name] = _mesh(mask, label_map.affine, factors[name])
    # the estimate is rough: coarsen the largest mesh until the budget holds
    while sum(s.n_faces for s in out.values()) > max_faces:
        name = max(out, key=lambda n: out[n].n_faces)
        if out[name].n_faces == 0:
            break
        factors[name] += 1
        out[name] = _mesh(masks[name], label_map.affine, factors[name])
    return out
