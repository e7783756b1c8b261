"""MRI volumes and tissue label maps, with their voxel-to-world affine.

World coordinates are in mm, in the RAS+ convention of NIfTI as nibabel reads it (+x towards
the subject's Right, +y Anterior, +z Superior). DICOM's LPS positions are converted to RAS when a series is read
(:mod:`bmiss_engine.anatomy.dicom`), so a volume reads the same from either format.

A voxel index (i, j, k) maps to world ``affine @ (i, j, k, 1)``; voxel centres sit on integer
indices.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.errors import AnatomyError

_AFFINE_TOLERANCE_MM = 1e-3


class Tissue(IntEnum):
    """Canonical tissue codes of a :class:`LabelMap` (0 is outside the body)."""

    BACKGROUND = 0
    SKIN = 1
    FAT = 2
    MUSCLE = 3
    BONE = 4


@dataclass(frozen=True)
class TissueLabels:
    """The values a label-map *file* uses for each tissue (each an int or a tuple of ints, e.g.
    several muscles). ``ignore`` lists values read as background (tendon, vessel, ...); any
    other value not listed is an error. Defaults: skin 1, fat 2, muscle 3, bone 4."""

    skin: int | tuple[int, ...] = 1
    fat: int | tuple[int, ...] = 2
    muscle: int | tuple[int, ...] = 3
    bone: int | tuple[int, ...] = 4
    ignore: tuple[int, ...] = ()

    def mapping(self) -> dict[int, Tissue]:
        """File value → canonical tissue (background 0 always included)."""
        out: dict[int, Tissue] = {0: Tissue.BACKGROUND}
        for value in self.ignore:
            out[int(value)] = Tissue.BACKGROUND
        for tissue, values in ((Tissue.SKIN, self.skin), (Tissue.FAT, self.fat),
                               (Tissue.MUSCLE, self.muscle), (Tissue.BONE, self.bone)):
            for value in (values,) if isinstance(values, int) else values:
                if int(value) in out and out[int(value)] is not Tissue.BACKGROUND:
                    raise AnatomyError(f"label value {value} is given to two tissues")
                out[int(value)] = tissue
        return out


def _check_affine(affine: NDArray[np.float64], what: str) -> NDArray[np.float64]:
    a = np.asarray(affine, dtype=np.float64)
    if a.shape != (4, 4) or not np.isfinite(a).all():
        raise AnatomyError(f"{what}: the voxel-to-world affine must be a finite 4×4 matrix, got shape {a.shape}")
    if abs(np.linalg.det(a[:3, :3])) < 1e-9:
        raise AnatomyError(f"{what}: the voxel-to-world affine is singular")
    a = a.copy()
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Volume:
    """A scalar MRI volume.

    data: float32 array of shape (I, J, K), the image intensities.
    affine: float64 (4, 4), voxel index (i, j, k) → world position in mm (RAS+).
    source: the file or directory it came from, or a description.
    """

    data: NDArray[np.float32]
    affine: NDArray[np.float64]
    source: str = ""

    def __post_init__(self) -> None:
        data = np.asarray(self.data)
        if data.ndim != 3:
            raise AnatomyError(f"{self.source or 'volume'}: expected a 3-D image, got shape {data.shape}")
        if min(data.shape) < 1:
            raise AnatomyError(f"{self.source or 'volume'}: empty image (shape {data.shape})")
        data = np.ascontiguousarray(data, dtype=np.float32)
        if not np.isfinite(data).all():
            raise AnatomyError(f"{self.source or 'volume'}: the image holds NaN or infinite values")
        data.setflags(write=False)
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "affine", _check_affine(self.affine, self.source or "volume"))

    @property
    def shape(self) -> tuple[int, int, int]:
        i, j, k = self.data.shape
        return (int(i), int(j), int(k))

    @property
    def voxel_size_mm(self) -> tuple[float, float, float]:
        """Edge lengths of a voxel along i, j and k, in mm."""
        return voxel_size_mm(self.affine)


@dataclass(frozen=True, eq=False)
class LabelMap:
    """Tissue labels on a voxel grid.

    labels: uint8 array of shape (I, J, K) holding :class:`Tissue` codes (0 background,
        1 skin, 2 fat, 3 muscle, 4 bone), whatever values the file used.
    affine: float64 (4, 4), voxel index → world mm (RAS+).
    source: where it came from.
    """

    labels: NDArray[np.uint8]
    affine: NDArray[np.float64]
    source: str = ""

    def __post_init__(self) -> None:
        labels = np.asarray(self.labels)
        what = self.source or "label map"
        if labels.ndim != 3:
            raise AnatomyError(f"{what}: expected a 3-D label map, got shape {labels.shape}")
        if labels.size and int(labels.max()) > max(Tissue):
            raise AnatomyError(f"{what}: tissue codes must be 0..{int(max(Tissue))}, found {int(labels.max())}")
        labels = np.ascontiguousarray(labels, dtype=np.uint8)
        labels.setflags(write=False)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "affine", _check_affine(self.affine, what))

    @property
    def shape(self) -> tuple[int, int, int]:
        i, j, k = self.labels.shape
        return (int(i), int(j), int(k))

    @property
    def voxel_size_mm(self) -> tuple[float, float, float]:
        return voxel_size_mm(self.affine)

    def mask(self, *tissues: Tissue) -> NDArray[np.bool_]:
        """Boolean (I, J, K): voxels of any of the given tissues."""
        return np.isin(self.labels, np.array([int(t) for t in tissues], dtype=np.uint8))

    @property
    def body(self) -> NDArray[np.bool_]:
        """Boolean (I, J, K): every voxel inside the body."""
        return self.labels > 0


def voxel_size_mm(affine: NDArray[np.float64]) -> tuple[float, float, float]:
    """Lengths of the affine's three voxel axes, mm."""
    norms = np.linalg.norm(np.asarray(affine)[:3, :3], axis=0)
    return (float(norms[0]), float(norms[1]), float(norms[2]))


def world_to_voxel(affine: NDArray[np.float64], points_mm: NDArray[np.float64]) -> NDArray[np.float64]:
    """Continuous voxel indices (n, 3) of world points (n, 3)."""
    inv = np.linalg.inv(affine)
    return np.asarray(np.asarray(points_mm, dtype=np.float64) @ inv[:3, :3].T + inv[:3, 3])


def voxel_to_world(affine: NDArray[np.float64], indices: NDArray[np.float64]) -> NDArray[np.float64]:
    """World points (n, 3), mm, of continuous voxel indices (n, 3)."""
    return np.asarray(indices, dtype=np.float64) @ np.asarray(affine)[:3, :3].T + np.asarray(affine)[:3, 3]


def check_aligned(volume: Volume, label_map: LabelMap) -> None:
    """Raise :class:`AnatomyError` unless the image and the label map share one voxel grid
    (same shape, affines equal within 1 µm)."""
    if volume.shape != label_map.shape:
        raise AnatomyError(
            f"{label_map.source or 'label map'} has shape {label_map.shape} but the image "
            f"{volume.source or ''} has {volume.shape}"
        )
    diff = float(np.abs(volume.affine - label_map.affine).max())
    if diff > _AFFINE_TOLERANCE_MM:
        raise AnatomyError(
            f"{label_map.source or 'label map'} and the image {volume.source or ''} have different voxel-to-world "
            f"affines (they differ by up to {diff:.3g} mm); resample the labels onto the image first"
        )


def _is_nifti(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith((".nii", ".nii.gz"))


def _nibabel() -> Any:
    import nibabel  # lazy: only readers of MRI pay for it (untyped: used through Any)

    return nibabel


def _read_nifti(path: Path) -> tuple[NDArray[Any], NDArray[np.float64]]:
    nib = _nibabel()
    try:
        img = nib.load(str(path))
        data = np.asarray(img.dataobj)
        affine = np.asarray(img.affine, dtype=np.float64)
    except Exception as exc:  # nibabel raises many types for damaged files
        raise AnatomyError(f"{path}: not a readable NIfTI file ({exc})") from exc
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise AnatomyError(f"{path}: expected a 3-D volume, got shape {data.shape}")
    if np.iscomplexobj(data) or not np.issubdtype(data.dtype, np.number):
        raise AnatomyError(f"{path}: unsupported voxel type {data.dtype}")
    return data, affine


def _read_any(path: str | Path) -> tuple[NDArray[Any], NDArray[np.float64], str]:
    p = Path(path)
    if not p.exists():
        raise AnatomyError(f"{p}: no such file or directory")
    if p.is_dir():
        from bmiss_engine.anatomy.dicom import read_dicom_series

        data, affine = read_dicom_series(p)
        return data, affine, str(p)
    if _is_nifti(p):
        data, affine = _read_nifti(p)
        return data, affine, str(p)
    if p.suffix.lower() == ".dcm":
        from bmiss_engine.anatomy.dicom import read_dicom_series

        data, affine = read_dicom_series(p.parent)
        return data, affine, str(p.parent)
    raise AnatomyError(f"{p}: not an MRI volume (expected .nii, .nii.gz or a DICOM series directory)")


def load_volume(path: str | Path) -> Volume:
    """Read an MRI image: NIfTI (.nii, .nii.gz) or a DICOM series (its directory, or one .dcm
    file in it). Raises :class:`AnatomyError` for anything unreadable or inconsistent."""
    data, affine, source = _read_any(path)
    return Volume(np.asarray(data, dtype=np.float32), affine, source)


def load_label_map(path: str | Path, labels: TissueLabels | None = None, like: Volume | None = None) -> LabelMap:
    """Read a tissue label map (NIfTI or DICOM), translating the file's values ``labels`` to the
    canonical :class:`Tissue` codes. With ``like``, the map must share the image's voxel grid
    (else :class:`AnatomyError`)."""
    labels = labels or TissueLabels()
    data, affine, source = _read_any(path)
    values = np.asarray(data)
    if not np.issubdtype(values.dtype, np.integer):
        rounded = np.rint(values)
        if not np.allclose(values, rounded, atol=1e-3):
            raise AnatomyError(f"{source}: a label map must hold whole numbers, found fractional values")
        values = rounded.astype(np.int64)
    offset = -min(int(values.min()), 0)
    if offset:
        values = values.astype(np.int64) + offset
    mapping = labels.mapping()
    present = np.flatnonzero(np.bincount(values.ravel())) - offset
    unknown = [int(v) for v in present if int(v) not in mapping]
    if unknown:
        raise AnatomyError(
            f"{source}: label values {unknown[:10]} are not assigned to a tissue "
            f"(known: {sorted(mapping)}); list them in TissueLabels (or its 'ignore')"
        )
    lut = np.zeros(int(present.max()) + offset + 1, dtype=np.uint8)
    for value, tissue in mapping.items():
        if 0 <= value + offset < lut.size:
            lut[value + offset] = int(tissue)
    out = LabelMap(lut[values], affine, source)
    if like is not None:
        check_aligned(like, out)
    return out


def save_nifti(image: Volume | LabelMap, path: str | Path, dtype: type[np.generic] | None = None) -> Path:
    """Write a volume (float32, or ``dtype``) or a label map (uint8) as NIfTI with its affine."""
    nib = _nibabel()
    p = Path(path)
    if isinstance(image, LabelMap):
        array: NDArray[np.generic] = image.labels.astype(np.uint8)
    else:
        array = image.data.astype(dtype or np.float32)
    img = nib.Nifti1Image(array, image.affine)
    img.set_qform(image.affine, code=1)
    img.set_sform(image.affine, code=1)
    p.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(p))
    return p
