"""A limb phantom with known anatomy: a T1-weighted image and its exact tissue labels.

Cross-section: an ellipse (the skin surface) whose size changes smoothly along the limb;
skin of constant thickness; subcutaneous fat whose thickness depends on the direction around
the limb (three regions with plateaus of known thickness and smooth transitions between
them); muscle; one bone (dark cortex around bright marrow) that drifts slowly along the limb.
The limb axis is the volume's k axis (world +z).

Thicknesses are exact along the skin's normal: every voxel's depth is its distance to the
skin surface (the nearest point of a dense polygon of the ellipse), and the fat thickness
used at a voxel is that of the nearest skin point, so a line along the normal at a skin
point crosses exactly ``skin_mm`` of skin and ``fat(angle)`` of fat (to the voxel grid's
resolution).

Angles are those of :class:`~bmiss_engine.anatomy.placement.GridPlacement`: 0° points to
world +y (anterior), 90° to world −x (the right-handed turn about +z), so the fat region
``r`` is centred at ``REGION_CENTRES_DEG[r]``.

T1 intensities (arbitrary units, fat = 1000): skin 450, fat 1000, muscle 350, cortical bone
40, marrow 850, air 0; then a slight blur (point-spread function), a smooth multiplicative
bias field and Rician noise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.spatial import cKDTree

from bmiss_engine.anatomy.volume import LabelMap, Tissue, Volume

REGION_CENTRES_DEG: tuple[float, float, float] = (0.0, 120.0, 240.0)
"""Placement angles at which the three fat regions are centred (plateau ±40°)."""

_PLATEAU_HALF_DEG = 40.0  # each region is flat over ±40° of its centre, then a 40° transition
_T1 = {"air": 0.0, "skin": 450.0, "fat": 1000.0, "muscle": 350.0, "cortex": 40.0, "marrow": 850.0}


@dataclass(frozen=True)
class PhantomGeometry:
    """Sizes of the phantom, mm. ``semi_axes_mm``: the skin ellipse's half-widths across
    world x and y at the middle of the limb; ``taper``: relative change of the ellipse from the
    middle to either end (cosine profile); ``bone_*``: the bone's centre offset, outer radius
    and cortex thickness."""

    semi_axes_mm: tuple[float, float] = (36.0, 30.0)
    taper: float = 0.06
    skin_mm: float = 1.5
    bone_centre_mm: tuple[float, float] = (4.0, -6.0)
    bone_radius_mm: float = 9.0
    bone_cortex_mm: float = 2.5
    bone_drift_mm: float = 2.0


def fat_thickness_mm(angle_deg: NDArray[np.float64], fat_mm_by_region: tuple[float, float, float]) -> NDArray[np.float64]:
    """Fat thickness at placement angles (any shape): ``fat_mm_by_region[r]`` within ±40° of
    ``REGION_CENTRES_DEG[r]``, a raised-cosine blend in the 40° between plateaus."""
    a = np.mod(np.asarray(angle_deg, dtype=np.float64), 360.0)
    values = np.asarray(fat_mm_by_region, dtype=np.float64)
    out = np.empty_like(a)
    spacing = 360.0 / len(values)
    for r, centre in enumerate(REGION_CENTRES_DEG):
        nxt = (r + 1) % len(values)
        offset = np.mod(a - centre, 360.0)  # 0..360 from this region's centre
        within = offset < spacing
        # plateau up to 40°, blend from 40° to 80°, then the next region's plateau
        s = np.clip((offset - _PLATEAU_HALF_DEG) / (spacing - 2 * _PLATEAU_HALF_DEG), 0.0, 1.0)
        w = 0.5 - 0.5 * np.cos(np.pi * s)
        out[within] = ((1 - w) * values[r] + w * values[nxt])[within]
    return out


def _placement_angle_deg(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Angle of direction (x, y) in the placement convention (0° = +y, 90° = −x)."""
    return np.degrees(np.arctan2(-x, y))


# long function: the phantom's tissues built in one place, in the order they nest
def make_phantom(
    shape: tuple[int, int, int] = (128, 112, 72),
    voxel_mm: tuple[float, float, float] = (0.8, 0.8, 2.0),
    fat_mm_by_region: tuple[float, float, float] = (2.0, 4.0, 8.0),
    noise: float = 0.0,
    bias: float = 0.0,
    seed: int = 0,
    geometry: PhantomGeometry | None = None,
) -> tuple[Volume, LabelMap]:
    """A T1 image and its labels, both (I, J, K) = ``shape`` with voxel edges ``voxel_mm``.

    noise: Rician noise σ as a fraction of the fat intensity (0.05 is a fair clinical scan).
    bias: amplitude of the smooth multiplicative bias field, e.g. 0.3 for a field between
        about 0.74 and 1.35 (exp(±0.3)) across the limb.
    The world origin is the limb's centre: x = (i − (I−1)/2)·dx and so on.
    """
    geo = geometry or PhantomGeometry()
    rng = np.random.default_rng(seed)
    n_i, n_j, n_k = shape
    dx, dy, dz = (float(v) for v in voxel_mm)
    x = (np.arange(n_i) - (n_i - 1) / 2) * dx
    y = (np.arange(n_j) - (n_j - 1) / 2) * dy
    z = (np.arange(n_k) - (n_k - 1) / 2) * dz
    xx, yy = np.meshgrid(x, y, indexing="ij")
    half_length = max(abs(z[0]), 1e-9)
    labels = np.zeros(shape, dtype=np.uint8)
    marrow = np.zeros(shape, dtype=bool)
    max_fat = float(max(fat_mm_by_region))
    for k, zk in enumerate(z):
        scale = 1.0 + geo.taper * np.cos(np.pi * zk / half_length)
        a, b = geo.semi_axes_mm[0] * scale, geo.semi_axes_mm[1] * scale
        inside = (xx / a) ** 2 + (yy / b) ** 2 <= 1.0
        # the skin surface as a dense polygon (0.05 mm apart)
        n_points = int(np.ceil(2 * np.pi * max(a, b) / 0.05))
        t = np.linspace(0, 2 * np.pi, n_points, endpoint=False)
        contour = np.stack([a * np.cos(t), b * np.sin(t)], axis=1)
        fat_at_contour = fat_thickness_mm(_placement_angle_deg(contour[:, 0], contour[:, 1]), fat_mm_by_region)
        inner_a, inner_b = (max(v - geo.skin_mm - max_fat - 2, 1.0) for v in (a, b))
        band = inside & ((xx / inner_a) ** 2 + (yy / inner_b) ** 2 > 1)
        depth, nearest = cKDTree(contour).query(np.stack([xx[band], yy[band]], axis=1))
        plane = np.where(inside, int(Tissue.MUSCLE), int(Tissue.BACKGROUND)).astype(np.uint8)
        band_labels = np.where(
            depth < geo.skin_mm, int(Tissue.SKIN),
            np.where(depth < geo.skin_mm + fat_at_contour[nearest], int(Tissue.FAT), int(Tissue.MUSCLE)),
        )
        plane[band] = band_labels
        drift = geo.bone_drift_mm * np.sin(np.pi * zk / half_length)
        r_bone = np.hypot(xx - geo.bone_centre_mm[0] - drift, yy - geo.bone_centre_mm[1])
        plane[r_bone <= geo.bone_radius_mm] = int(Tissue.BONE)
        labels[:, :, k] = plane
        marrow[:, :, k] = r_bone <= geo.bone_radius_mm - geo.bone_cortex_mm

    intensity = np.zeros(shape, dtype=np.float64)
    for tissue, name in ((Tissue.SKIN, "skin"), (Tissue.FAT, "fat"), (Tissue.MUSCLE, "muscle"), (Tissue.BONE, "cortex")):
        intensity[labels == tissue] = _T1[name]
    intensity[marrow] = _T1["marrow"]
    intensity = ndimage.gaussian_filter(intensity, sigma=(0.4, 0.4, 0.2))
    if bias:
        intensity *= bias_field(shape, (dx, dy, dz), bias, rng)
    if noise:
        sd = noise * _T1["fat"]
        intensity = np.hypot(intensity + sd * rng.standard_normal(shape), sd * rng.standard_normal(shape))
    affine = np.diag([dx, dy, dz, 1.0])
    affine[:3, 3] = [x[0], y[0], z[0]]
    description = f"phantom fat {fat_mm_by_region} mm, noise {noise:g}, bias {bias:g}, seed {seed}"
    return Volume(intensity.astype(np.float32), affine, description), LabelMap(labels, affine, description)


def bias_field(
    shape: tuple[int, int, int], voxel_mm: tuple[float, float, float], amplitude: float, rng: np.random.Generator
) -> NDArray[np.float64]:
    """A smooth multiplicative field exp(amplitude·g), g in [−1, 1]: a random linear gradient
    plus a random quadratic bowl over the volume (the shape of a receive-coil profile)."""
    axes = [np.linspace(-1.0, 1.0, n) * (n * v) / max(s * w for s, w in zip(shape, voxel_mm, strict=True))
            for n, v in zip(shape, voxel_mm, strict=True)]
    gx, gy, gz = np.meshgrid(*axes, indexing="ij", sparse=True)
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    centre = rng.uniform(-0.5, 0.5, size=3)
    g = direction[0] * gx + direction[1] * gy + direction[2] * gz
    g = g + 0.7 * ((gx - centre[0]) ** 2 + (gy - centre[1]) ** 2 + 0.3 * (gz - centre[2]) ** 2)
    g = g - g.mean()
    g = g / max(float(np.abs(g).max()), 1e-12)
    return np.asarray(np.exp(amplitude * g))


# ---- the bundled demo ---------------------------------------------------------------------

DEMO_FAT_MM_BY_REGION: tuple[float, float, float] = (2.0, 4.0, 8.0)
DEMO_NOISE = 0.03
DEMO_BIAS = 0.15
DEMO_SEED = 0


@dataclass(frozen=True)
class DemoAnatomyPaths:
    """The bundled demo MRI: T1 image, label map (default :class:`TissueLabels`) and the grid
    placement of the demo recording (JSON of :class:`GridPlacement`)."""

    t1: Path
    labels: Path
    grid_placement: Path


def demo_anatomy_paths() -> DemoAnatomyPaths:
    """Where the demo MRI lives: ``resources/demo_mri/``, shipped with the package (like the demo
    recording, ``resources/demo_recording.npz``)."""
    from bmiss_engine.resources import bundled_path

    root = bundled_path("resources", "demo_mri")
    return DemoAnatomyPaths(root / "demo_t1.nii.gz", root / "demo_labels.nii.gz", root / "grid_placement.json")


def make_demo_phantom() -> tuple[Volume, LabelMap]:
    """The demo phantom exactly as bundled (before the T1 image is stored as int16)."""
    return make_phantom(fat_mm_by_region=DEMO_FAT_MM_BY_REGION, noise=DEMO_NOISE, bias=DEMO_BIAS, seed=DEMO_SEED)


def write_demo_phantom(directory: str | Path, placement: dict[str, object]) -> DemoAnatomyPaths:
    """Write the demo T1 (int16), labels (uint8) and ``placement`` (JSON) into ``directory``."""
    from bmiss_engine.anatomy.volume import save_nifti

    d = Path(directory)
    t1, labels = make_demo_phantom()
    paths = DemoAnatomyPaths(d / "demo_t1.nii.gz", d / "demo_labels.nii.gz", d / "grid_placement.json")
    save_nifti(Volume(np.rint(t1.data), t1.affine, t1.source), paths.t1, dtype=np.int16)
    save_nifti(labels, paths.labels)
    paths.grid_placement.write_text(json.dumps(placement, indent=2) + "\n")
    return paths
