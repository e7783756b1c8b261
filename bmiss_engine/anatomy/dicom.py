"""A DICOM series (one directory of single-slice files) as a 3-D array and a RAS affine.

Steps: read every file pydicom accepts (others, e.g. DICOMDIR or notes, are skipped); keep one
series (an error names them if several are present); check that every slice has the same
size, pixel spacing and orientation (ImageOrientationPatient); sort the slices by their
position (ImagePositionPatient) projected on the slice normal; check that the steps between
them are equal (a step ≥ 1.5× the usual one means missing slices, reported with the positions
around the gap); apply RescaleSlope/Intercept.

Array layout: data[c, r, s] is column c, row r of the s-th slice (the first index runs along
the image rows, as in NIfTI's x). Affine: DICOM positions are LPS; they are turned into RAS
(x and y negated) so that a series reads like the same image written as NIfTI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.errors import AnatomyError

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _read_slices(directory: Path) -> list[Any]:
    import pydicom
    from pydicom.errors import InvalidDicomError

    slices = []
    for path in sorted(p for p in directory.iterdir() if p.is_file()):
        try:
            ds = pydicom.dcmread(str(path))
        except (InvalidDicomError, OSError, EOFError, ValueError):
            continue
        if "PixelData" not in ds:
            continue
        ds.filename = str(path)
        slices.append(ds)
    return slices


def _vector(ds: Any, keyword: str, n: int) -> NDArray[np.float64]:
    value = getattr(ds, keyword, None)
    if value is None or len(value) != n:
        raise AnatomyError(f"{ds.filename}: DICOM slice lacks {keyword}")
    return np.asarray([float(v) for v in value], dtype=np.float64)


# long function: one pass over the series as DICOM lays it out (sort, check, stack, orient); split, the
# checks would lose their order
def read_dicom_series(directory: str | Path) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
    """Data (n_columns, n_rows, n_slices) float32 and the (4, 4) voxel-to-world RAS affine (mm)
    of the DICOM series in ``directory``. Raises :class:`AnatomyError` naming the directory or
    file when the series is absent, mixed, inconsistent or has missing slices."""
    d = Path(directory)
    slices = _read_slices(d)
    if not slices:
        raise AnatomyError(f"{d}: no DICOM images found")
    series = {str(getattr(ds, "SeriesInstanceUID", "")) for ds in slices}
    if len(series) > 1:
        raise AnatomyError(f"{d}: holds {len(series)} DICOM series; put each series in its own directory")
    if len(slices) < 2:
        raise AnatomyError(f"{d}: a DICOM series needs at least two slices, found one")

    first = slices[0]
    orientation = _vector(first, "ImageOrientationPatient", 6)
    spacing = _vector(first, "PixelSpacing", 2)
    shape = (int(first.Rows), int(first.Columns))
    for ds in slices[1:]:
        if (int(ds.Rows), int(ds.Columns)) != shape:
            raise AnatomyError(f"{ds.filename}: slice size {ds.Rows}×{ds.Columns} differs from {shape[0]}×{shape[1]}")
        if not np.allclose(_vector(ds, "ImageOrientationPatient", 6), orientation, atol=1e-4):
            raise AnatomyError(f"{ds.filename}: slice orientation differs from the rest of the series")
        if not np.allclose(_vector(ds, "PixelSpacing", 2), spacing, atol=1e-4):
            raise AnatomyError(f"{ds.filename}: pixel spacing differs from the rest of the series")

    row_dir = orientation[:3]  # direction in which the column index grows
    col_dir = orientation[3:]  # direction in which the row index grows
    normal = np.cross(row_dir, col_dir)
    positions = np.stack([_vector(ds, "ImagePositionPatient", 3) for ds in slices])
    along = positions @ normal
    order = np.argsort(along)
    along = along[order]
    positions = positions[order]
    steps = np.diff(along)
    if np.any(steps < 1e-3):
        i = int(np.argmin(steps))
        raise AnatomyError(f"{d}: two slices share the position {along[i]:.3f} mm along the slice normal")
    step = float(np.median(steps))
    gaps = np.flatnonzero(steps > 1.5 * step)
    if gaps.size:
        g = int(gaps[0])
        n_missing = round(steps[g] / step) - 1
        raise AnatomyError(
            f"{d}: about {n_missing} slice(s) missing between {along[g]:.2f} and {along[g + 1]:.2f} mm "
            f"along the slice normal (spacing {step:.3g} mm elsewhere)"
        )
    if np.any(np.abs(steps - step) > max(0.01 * step, 1e-3)):
        raise AnatomyError(f"{d}: slice spacing is irregular ({steps.min():.3g} to {steps.max():.3g} mm)")
    in_plane = positions - positions[0]
    off_line = in_plane - np.outer(in_plane @ normal, normal)
    if np.abs(off_line).max() > 0.01 * max(spacing.min(), 1e-3) + 1e-3:
        raise AnatomyError(f"{d}: slice positions do not lie on one line along the slice normal")

    planes = []
    for k in order:
        ds = slices[int(k)]
        try:
            pixels = np.asarray(ds.pixel_array, dtype=np.float64)
        except Exception as exc:  # pydicom raises many types for unsupported transfer syntaxes
            raise AnatomyError(f"{ds.filename}: cannot decode the pixel data ({exc})") from exc
        if pixels.shape != shape:
            raise AnatomyError(f"{ds.filename}: expected one {shape[0]}×{shape[1]} frame, got {pixels.shape}")
        slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
        intercept = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
        planes.append((pixels * slope + intercept).T)  # (columns, rows)
    data = np.stack(planes, axis=-1).astype(np.float32)

    affine_lps = np.eye(4)
    affine_lps[:3, 0] = row_dir * spacing[1]  # column index: ColumnSpacing = PixelSpacing[1]
    affine_lps[:3, 1] = col_dir * spacing[0]  # row index: RowSpacing = PixelSpacing[0]
    affine_lps[:3, 2] = (positions[-1] - positions[0]) / (len(positions) - 1)
    affine_lps[:3, 3] = positions[0]
    return data, _LPS_TO_RAS @ affine_lps


def write_dicom_series(
    data: NDArray[np.floating], affine: NDArray[np.float64], directory: str | Path, series_uid: str | None = None
) -> list[Path]:
    """Write a volume (I, J, K) as a DICOM series of K single-slice MR files (int16 pixels with
    a rescale slope when the values are not whole numbers), the inverse of
    :func:`read_dicom_series`; for tests and for exporting phantoms."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    values = np.asarray(data, dtype=np.float64)
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ np.asarray(affine, dtype=np.float64)
    spacing_c, spacing_r = np.linalg.norm(lps[:3, 0]), np.linalg.norm(lps[:3, 1])
    orientation = np.concatenate([lps[:3, 0] / spacing_c, lps[:3, 1] / spacing_r])
    whole = np.allclose(values, np.rint(values)) and np.abs(values).max() < 32767
    slope = 1.0 if whole else max(float(np.abs(values).max()), 1e-12) / 32000.0
    series_uid = series_uid or generate_uid()
    paths = []
    for k in range(values.shape[2]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID = series_uid
        ds.Modality = "MR"
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [f"{v:.6f}" for v in lps[:3, 3] + k * lps[:3, 2]]
        ds.ImageOrientationPatient = [f"{v:.8f}" for v in orientation]
        ds.PixelSpacing = [f"{spacing_r:.6f}", f"{spacing_c:.6f}"]
        ds.SliceThickness = f"{np.linalg.norm(lps[:3, 2]):.6f}"
        ds.Rows, ds.Columns = int(values.shape[1]), int(values.shape[0])
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        ds.PixelRepresentation = 1
        ds.RescaleSlope, ds.RescaleIntercept = f"{slope:.10g}", "0"
        pixels = np.rint(values[:, :, k].T / slope).astype(np.int16)
        ds.PixelData = pixels.tobytes()
        path = d / f"slice{k:04d}.dcm"
        ds.save_as(str(path), enforce_file_format=True)
        paths.append(path)
    return paths
