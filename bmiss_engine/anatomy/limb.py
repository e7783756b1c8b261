"""The limb as a generalised cylinder: its axis, and its skin surface as contours around it.

* :class:`LimbFrame`: the limb's axis (a straight line through the body's centroid) and two
  directions across it. The axis is estimated from the label map as the direction in which
  the body's outline changes least: the eigenvector of the smallest eigenvalue of the
  structure tensor Σ ∇m·∇mᵀ of the body mask m (the skin's normals of a cylinder are all
  perpendicular to its axis), unless given. Angles around the axis are counted from
  ``reference`` (world +y, anterior, projected across the axis; world +z or +x when the limb
  runs along y) towards ``side`` = axis × reference, i.e. right-handed about the axis.
* :class:`SkinModel`: the skin's cross-section at any position s along the axis, as a closed
  polygon of ``N_ANGLES`` points found by casting rays from the axis (the outermost place
  where the trilinear body fraction falls through 0.5), lightly smoothed around the limb
  (Gaussian of 4 voxels of arc, which removes the voxel staircase). Contours are computed
  every ``AXIAL_STEP_MM`` along the axis on demand and interpolated linearly between.
  Normals lie in the cross-section (the skin's slope along the limb is neglected: a few
  degrees on a limb), so moving along a normal keeps the axial position.

A point on the skin is addressed by (s, arc): s along the axis from the centroid, arc the
length along the cross-section contour from where the ray at a reference angle meets it,
positive right-handed about the axis. A point in the limb is (s, arc, depth), depth measured
inwards along the normal at that skin point; :meth:`SkinModel.project` inverts this exactly
(closest point on the contour polygon, with normals interpolated linearly along each edge).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from bmiss_engine.anatomy.volume import LabelMap, Tissue, voxel_to_world
from bmiss_engine.errors import AnatomyError

N_ANGLES = 360
AXIAL_STEP_MM = 1.0


def tissue_fraction(
    labels: NDArray[np.uint8], indices: NDArray[np.float64], tissues: tuple[Tissue, ...]
) -> NDArray[np.float64]:
    """Trilinear interpolation of the indicator "label in ``tissues``" at continuous voxel
    indices (n, 3); 0 outside the volume. Shape (n,)."""
    idx = np.asarray(indices, dtype=np.float64)
    base = np.floor(idx).astype(np.int64)
    frac = idx - base
    lut = np.zeros(256, dtype=np.float64)
    lut[[int(t) for t in tissues]] = 1.0
    top = np.array(labels.shape) - 1
    out = np.zeros(idx.shape[0])
    for corner in range(8):
        offset = np.array([(corner >> 2) & 1, (corner >> 1) & 1, corner & 1])
        pos = base + offset
        weight = np.prod(np.where(offset == 1, frac, 1.0 - frac), axis=1)
        weight *= np.all((pos >= 0) & (pos <= top), axis=1)
        pos = np.clip(pos, 0, top)
        out += weight * lut[labels[pos[:, 0], pos[:, 1], pos[:, 2]]]
    return out


def first_crossing(values: NDArray[np.float64], step: float, rising: bool = True, start: int = 0) -> float:
    """Distance along a sampled line (samples ``step`` apart) where ``values`` first crosses 0.5
    upwards (or downwards), at or after sample ``start``, linearly interpolated; nan if never."""
    v = values[start:]
    above = v >= 0.5 if rising else v < 0.5
    hits = np.flatnonzero(above)
    if hits.size == 0:
        return float("nan")
    i = int(hits[0])
    if i == 0:
        return float(start * step)
    a, b = v[i - 1], v[i]
    frac = (0.5 - a) / (b - a) if b != a else 0.0
    return float((start + i - 1 + frac) * step)


@dataclass(frozen=True, eq=False)
class LimbFrame:
    """centre_mm (3,): the body's centroid (world mm); axis, reference, side (3,): orthonormal,
    right-handed (side = axis × reference)."""

    centre_mm: NDArray[np.float64]
    axis: NDArray[np.float64]
    reference: NDArray[np.float64]
    side: NDArray[np.float64]

    @classmethod
    def of(cls, label_map: LabelMap, axis: NDArray[np.float64] | None = None) -> LimbFrame:
        body = label_map.body
        if not body.any():
            raise AnatomyError(f"{label_map.source or 'label map'}: holds no body voxels")
        stride = max(1, int(np.ceil((body.size / 2e6) ** (1 / 3))))
        sub = body[::stride, ::stride, ::stride]
        sub_affine = label_map.affine.copy()
        sub_affine[:3, :3] = sub_affine[:3, :3] * stride
        centre = voxel_to_world(sub_affine, np.argwhere(sub).mean(axis=0)[None, :])[0]
        if axis is None:
            axis = estimate_limb_axis(sub, sub_affine)
        a = np.asarray(axis, dtype=np.float64)
        if a.shape != (3,) or not np.linalg.norm(a) > 0:
            raise AnatomyError(f"limb axis must be a non-zero 3-vector, got {axis!r}")
        a = a / np.linalg.norm(a)
        for candidate in (np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0])):
            ref = candidate - (candidate @ a) * a
            if np.linalg.norm(ref) > 0.5:
                break
        ref = ref / np.linalg.norm(ref)
        return cls(centre, a, ref, np.cross(a, ref))

    def direction(self, angle_deg: float | NDArray[np.float64]) -> NDArray[np.float64]:
        """Unit vectors (..., 3) across the axis at the given angles."""
        t = np.radians(np.asarray(angle_deg, dtype=np.float64))[..., None]
        return np.asarray(np.cos(t) * self.reference + np.sin(t) * self.side)

    def to_plane(self, points_mm: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Axial position s (n,) and in-plane coordinates (n, 2) along (reference, side)."""
        rel = np.asarray(points_mm, dtype=np.float64) - self.centre_mm
        return rel @ self.axis, np.stack([rel @ self.reference, rel @ self.side], axis=1)

    def from_plane(self, s: NDArray[np.float64], q: NDArray[np.float64]) -> NDArray[np.float64]:
        """World points (n, 3) from axial positions (n,) and in-plane coordinates (n, 2)."""
        return np.asarray(
            self.centre_mm + s[:, None] * self.axis + q[:, :1] * self.reference + q[:, 1:2] * self.side
        )


def estimate_limb_axis(body: NDArray[np.bool_], affine: NDArray[np.float64]) -> NDArray[np.float64]:
    """The direction (3,) least crossed by the body's outline (smallest eigenvector of the
    structure tensor of the lightly smoothed mask, gradients taken in world mm), its largest
    component made positive."""
    m = ndimage.gaussian_filter(body.astype(np.float32), 1.0)
    grads = np.stack([g.ravel() for g in np.gradient(m)], axis=1)
    grads = grads[np.abs(grads).sum(axis=1) > 1e-3]
    if grads.shape[0] < 10:
        raise AnatomyError("cannot estimate the limb axis: the body has no outline")
    world = grads @ np.linalg.inv(affine[:3, :3])  # ∇_x = A⁻ᵀ ∇_i, as rows
    tensor = world.T @ world
    _, vectors = np.linalg.eigh(tensor)
    axis = vectors[:, 0]
    return np.asarray(axis if axis[np.argmax(np.abs(axis))] > 0 else -axis)


@dataclass(frozen=True)
class Contour:
    """One cross-section of the skin: points (M, 2) and outward unit normals (M, 2) in the
    frame's plane, anticlockwise (angle increasing); cumulative arc length (M + 1,) from point
    0 (the last entry is the perimeter)."""

    points: NDArray[np.float64]
    normals: NDArray[np.float64]
    arc: NDArray[np.float64]

    @property
    def perimeter(self) -> float:
        return float(self.arc[-1])

    @classmethod
    def of_radii(cls, radii: NDArray[np.float64]) -> Contour:
        theta = 2 * np.pi * np.arange(radii.shape[0]) / radii.shape[0]
        points = radii[:, None] * np.stack([np.cos(theta), np.sin(theta)], axis=1)
        tangent = np.roll(points, -1, axis=0) - np.roll(points, 1, axis=0)
        normals = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        edges = np.linalg.norm(np.roll(points, -1, axis=0) - points, axis=1)
        return cls(points, normals, np.concatenate([[0.0], np.cumsum(edges)]))

    def arc_at_angle(self, angle_deg: float) -> float:
        """Arc length at the contour point on the ray at ``angle_deg`` (on the polygon edge
        between the two rays around it)."""
        m_float = np.mod(angle_deg, 360.0) / 360.0 * self.points.shape[0]
        m = int(np.floor(m_float)) % self.points.shape[0]
        t = m_float - np.floor(m_float)
        return float(self.arc[m] + t * (self.arc[m + 1] - self.arc[m]))

    def at_arc(self, arc: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Points (n, 2) and unit normals (n, 2) at arc lengths (n,) (taken modulo the perimeter)."""
        n_points = self.points.shape[0]
        a = np.mod(np.asarray(arc, dtype=np.float64), self.perimeter)
        m = np.clip(np.searchsorted(self.arc, a, side="right") - 1, 0, n_points - 1)
        t = (a - self.arc[m]) / (self.arc[m + 1] - self.arc[m])
        nxt = (m + 1) % n_points
        points = self.points[m] + t[:, None] * (self.points[nxt] - self.points[m])
        normals = self.normals[m] + t[:, None] * (self.normals[nxt] - self.normals[m])
        return points, normals / np.linalg.norm(normals, axis=1, keepdims=True)

    def project(self, q: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Arc length (n,) and inward depth (n,) of in-plane points q (n, 2): the skin point S
        and normal N (as :meth:`at_arc` gives them) with q = S − depth·N, the one closest to q."""
        p0 = self.points
        d = np.roll(p0, -1, axis=0) - p0  # edge vectors (M, 2)
        n0 = self.normals
        e = np.roll(n0, -1, axis=0) - n0
        arcs = np.empty(q.shape[0])
        depths = np.empty(q.shape[0])
        for i, point in enumerate(np.asarray(q, dtype=np.float64)):
            w = point - p0  # (M, 2)
            # cross(w − t·d, n0 + t·e) = 0: c0 + c1·t + c2·t² = 0 per edge
            c0 = w[:, 0] * n0[:, 1] - w[:, 1] * n0[:, 0]
            c1 = (w[:, 0] * e[:, 1] - w[:, 1] * e[:, 0]) - (d[:, 0] * n0[:, 1] - d[:, 1] * n0[:, 0])
            c2 = -(d[:, 0] * e[:, 1] - d[:, 1] * e[:, 0])
            roots = _quadratic_roots(c0, c1, c2)  # (M, 2), nan where none
            edge = np.repeat(np.arange(p0.shape[0]), 2)
            t = roots.ravel()
            ok = np.isfinite(t) & (t >= -1e-9) & (t <= 1 + 1e-9)
            if not ok.any():
                raise AnatomyError("a point cannot be projected onto the skin contour")
            edge, t = edge[ok], np.clip(t[ok], 0.0, 1.0)
            s = p0[edge] + t[:, None] * d[edge]
            dist = np.linalg.norm(point - s, axis=1)
            best = int(np.argmin(dist))
            m, tb = int(edge[best]), float(t[best])
            normal = n0[m] + tb * e[m]
            normal /= np.linalg.norm(normal)
            arcs[i] = self.arc[m] + tb * (self.arc[m + 1] - self.arc[m])
            depths[i] = float((s[best] - point) @ normal)
        return arcs, depths


def _quadratic_roots(c0: NDArray[np.float64], c1: NDArray[np.float64], c2: NDArray[np.float64]) -> NDArray[np.float64]:
    """Real roots (n, 2) of c0 + c1·t + c2·t² (nan where absent), stable for c2 → 0."""
    out = np.full((c0.shape[0], 2), np.nan)
    linear = np.abs(c2) < 1e-12 * np.maximum(np.abs(c1), 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[linear, 0] = -c0[linear] / c1[linear]
        quad = ~linear
        disc = c1[quad] ** 2 - 4 * c2[quad] * c0[quad]
        real = disc >= 0
        sq = np.sqrt(np.where(real, disc, 0.0))
        qv = -0.5 * (c1[quad] + np.copysign(sq, c1[quad]))
        r1 = np.where(real, qv / c2[quad], np.nan)
        r2 = np.where(real & (qv != 0), c0[quad] / qv, np.nan)
    out[quad, 0] = r1
    out[quad, 1] = r2
    return out


@dataclass(eq=False)
class SkinModel:
    """Cross-sections of the skin of ``label_map`` around ``frame`` (see the module doc)."""

    label_map: LabelMap
    frame: LimbFrame
    _nodes: dict[int, NDArray[np.float64]] = field(default_factory=dict, repr=False)
    _body: NDArray[np.float32] | None = field(default=None, repr=False)

    @property
    def ray_step_mm(self) -> float:
        return min(self.label_map.voxel_size_mm) / 2

    def _max_radius_mm(self) -> float:
        corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=np.float64)
        corners = (corners * (np.array(self.label_map.shape) - 1)) - 0.5 * (2 * corners - 1)
        _, q = self.frame.to_plane(voxel_to_world(self.label_map.affine, corners))
        return float(np.linalg.norm(q, axis=1).max())

    def _radii(self, node: int) -> NDArray[np.float64]:
        """Skin radius (N_ANGLES,) at axial node ``node`` (s = node·AXIAL_STEP_MM); nan where the
        ray meets no body."""
        if node in self._nodes:
            return self._nodes[node]
        if self._body is None:
            self._body = self.label_map.body.astype(np.float32)
        theta = 360.0 * np.arange(N_ANGLES) / N_ANGLES
        dirs = self.frame.direction(theta)  # (M, 3)
        origin = self.frame.centre_mm + node * AXIAL_STEP_MM * self.frame.axis
        inv = np.linalg.inv(self.label_map.affine)
        origin_vox = inv[:3, :3] @ origin + inv[:3, 3]
        dirs_vox = dirs @ inv[:3, :3].T  # voxel steps per mm along each ray

        def fraction(r: NDArray[np.float64], rays: NDArray[np.int64]) -> NDArray[np.float64]:
            """Trilinear body fraction (0 outside the volume) at radii r (n, R) on rays (n,)."""
            idx = origin_vox[:, None, None] + dirs_vox[rays].T[:, :, None] * r[None, :, :]
            values = ndimage.map_coordinates(self._body, idx.reshape(3, -1), order=1, mode="constant", cval=0.0)
            return np.asarray(values.reshape(r.shape), dtype=np.float64)

        # coarse pass (2 voxels) for the outermost inside sample, then a fine pass around it
        step = self.ray_step_mm
        coarse = np.arange(0.0, self._max_radius_mm() + 4 * step, 4 * step)
        inside = fraction(np.broadcast_to(coarse, (N_ANGLES, coarse.shape[0])), np.arange(N_ANGLES))
        radii = np.full(N_ANGLES, np.nan)
        last = np.array([np.flatnonzero(row >= 0.5)[-1] if (row >= 0.5).any() else -1 for row in inside])
        rays = np.flatnonzero(last >= 0)
        if rays.size:
            fine = coarse[last[rays]][:, None] + step * np.arange(0, 9)[None, :]
            values = fraction(fine, rays)
            for n, m in enumerate(rays):
                hits = np.flatnonzero(values[n] >= 0.5)
                i = int(hits[-1])
                if i + 1 >= fine.shape[1]:
                    radii[m] = fine[n, i]
                    continue
                a, b = values[n, i], values[n, i + 1]
                radii[m] = fine[n, i] + (a - 0.5) / (a - b) * step
        if np.isfinite(radii).all():
            # remove the voxel staircase: a Gaussian of 4 voxels of arc around the limb (a staircase
            # of shallow slope has a long period; this leaves normals within ~1-2° of the true ones)
            mean_radius = float(np.mean(radii))
            sigma = 4.0 * min(self.label_map.voxel_size_mm) / max(mean_radius, 1e-6) / (2 * np.pi / N_ANGLES)
            radii = ndimage.gaussian_filter1d(radii, sigma, mode="wrap")
        self._nodes[node] = radii
        return radii

    def contour(self, s_mm: float) -> Contour:
        """The cross-section at axial position ``s_mm`` (linear between 1-mm nodes). Raises
        :class:`AnatomyError` where the body does not surround the axis there."""
        pos = s_mm / AXIAL_STEP_MM
        lo = int(np.floor(pos))
        w = pos - lo
        radii = (1 - w) * self._radii(lo) + (w * self._radii(lo + 1) if w > 0 else 0.0)
        if not np.isfinite(radii).all():
            raise AnatomyError(
                f"{self.label_map.source or 'label map'}: no closed skin surface around the limb axis at "
                f"{s_mm:.1f} mm from the limb's centre (beyond the imaged part of the limb?)"
            )
        return Contour.of_radii(np.asarray(radii, dtype=np.float64))
