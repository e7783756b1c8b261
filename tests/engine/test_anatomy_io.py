"""MRI volumes and label maps: NIfTI and DICOM round trips, and the errors for bad input."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from bmiss_engine.anatomy import (
    AnatomyError,
    LabelMap,
    Tissue,
    TissueLabels,
    Volume,
    check_aligned,
    load_label_map,
    load_volume,
    save_nifti,
    write_dicom_series,
)
from bmiss_engine.errors import BmissError


def _oblique_affine() -> np.ndarray:
    """0.7 × 0.9 × 2.5 mm voxels, turned 20° about z and 10° about x, off-centre."""
    a, b = np.radians(20.0), np.radians(10.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    affine = np.eye(4)
    affine[:3, :3] = rz @ rx @ np.diag([0.7, 0.9, 2.5])
    affine[:3, 3] = [-40.0, 12.5, 77.0]
    return affine


def test_anatomy_error_is_an_engine_error() -> None:
    assert issubclass(AnatomyError, BmissError)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_nifti_keeps_data_and_affine(tmp_path, suffix) -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(6, 5, 4)).astype(np.float32)
    affine = _oblique_affine()
    path = tmp_path / f"t1{suffix}"
    nib.save(nib.Nifti1Image(data, affine), str(path))
    volume = load_volume(path)
    np.testing.assert_array_equal(volume.data, data)
    np.testing.assert_allclose(volume.affine, affine, atol=1e-5)
    np.testing.assert_allclose(volume.voxel_size_mm, (0.7, 0.9, 2.5), atol=1e-6)
    assert volume.source == str(path)
    # and our own writer reads back the same
    again = load_volume(save_nifti(volume, tmp_path / "again.nii.gz"))
    np.testing.assert_array_equal(again.data, data)
    np.testing.assert_allclose(again.affine, volume.affine, atol=1e-5)


def test_dicom_series_round_trip(tmp_path) -> None:
    rng = np.random.default_rng(1)
    data = rng.integers(-500, 3000, size=(7, 6, 5)).astype(np.float32)
    affine = _oblique_affine()
    paths = write_dicom_series(data, affine, tmp_path / "series")
    assert len(paths) == 5
    (tmp_path / "series" / "notes.txt").write_text("not DICOM")  # ignored
    volume = load_volume(tmp_path / "series")
    np.testing.assert_array_equal(volume.data, data)
    np.testing.assert_allclose(volume.affine, affine, atol=1e-4)
    # one file of the series names the series too
    np.testing.assert_array_equal(load_volume(paths[2]).data, data)


def test_dicom_series_in_any_file_order(tmp_path) -> None:
    data = np.arange(4 * 3 * 6, dtype=np.float32).reshape(4, 3, 6)
    paths = write_dicom_series(data, _oblique_affine(), tmp_path / "s")
    for i, p in enumerate(reversed(paths)):  # file names no longer follow the slice order
        p.rename(p.with_name(f"x{i:02d}.dcm"))
    np.testing.assert_array_equal(load_volume(tmp_path / "s").data, data)


def test_dicom_missing_slice_is_named(tmp_path) -> None:
    data = np.ones((4, 3, 6), dtype=np.float32)
    paths = write_dicom_series(data, np.diag([1.0, 1.0, 2.0, 1.0]), tmp_path / "s")
    paths[3].unlink()
    with pytest.raises(AnatomyError, match=r"1 slice\(s\) missing between 4.00 and 8.00 mm") as err:
        load_volume(tmp_path / "s")
    assert str(tmp_path / "s") in str(err.value)


def test_dicom_mixed_orientation_is_an_error(tmp_path) -> None:
    data = np.ones((4, 3, 3), dtype=np.float32)
    write_dicom_series(data, np.diag([1.0, 1.0, 2.0, 1.0]), tmp_path / "s", series_uid="1.2.3")
    other = np.diag([1.0, 1.0, 2.0, 1.0])
    other[:3, :3] = other[:3, :3] @ np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]])
    other[2, 3] = 6.0
    extra = write_dicom_series(data[:, :, :1], other, tmp_path / "t", series_uid="1.2.3")
    extra[0].rename(tmp_path / "s" / "odd.dcm")
    with pytest.raises(AnatomyError, match="differs"):
        load_volume(tmp_path / "s")


def test_unreadable_and_wrong_shape_files(tmp_path) -> None:
    with pytest.raises(AnatomyError, match="no such file"):
        load_volume(tmp_path / "absent.nii.gz")
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"not a nifti file at all")
    with pytest.raises(AnatomyError, match="not a readable NIfTI"):
        load_volume(bad)
    flat = tmp_path / "flat.nii"
    nib.save(nib.Nifti1Image(np.zeros((4, 5), np.float32), np.eye(4)), str(flat))
    with pytest.raises(AnatomyError, match="3-D"):
        load_volume(flat)
    series = tmp_path / "series.nii"
    nib.save(nib.Nifti1Image(np.zeros((4, 5, 3, 2), np.float32), np.eye(4)), str(series))
    with pytest.raises(AnatomyError, match="3-D"):
        load_volume(series)
    (tmp_path / "empty").mkdir()
    with pytest.raises(AnatomyError, match="no DICOM images"):
        load_volume(tmp_path / "empty")
    with pytest.raises(AnatomyError, match="not an MRI volume"):
        load_volume(_touch(tmp_path / "a.txt"))


def _touch(path):
    path.write_text("x")
    return path


def test_label_map_values_are_translated(tmp_path) -> None:
    raw = np.zeros((4, 4, 2), dtype=np.int16)
    raw[0], raw[1], raw[2], raw[3, :2], raw[3, 2:] = 10, 20, 30, 31, 40
    raw[0, 0, 0] = 99  # e.g. a tendon, read as background
    path = save_nifti(Volume(raw.astype(np.float32), np.eye(4)), tmp_path / "labels.nii.gz", dtype=np.int16)
    labels = load_label_map(path, TissueLabels(skin=10, fat=20, muscle=(30, 31), bone=40, ignore=(99,)))
    assert labels.labels.dtype == np.uint8
    assert labels.labels[0, 0, 0] == Tissue.BACKGROUND
    assert labels.labels[0, 1, 0] == Tissue.SKIN
    assert labels.labels[1, 0, 0] == Tissue.FAT
    assert set(np.unique(labels.labels[2:4, :2])) == {int(Tissue.MUSCLE)}
    assert labels.labels[3, 3, 1] == Tissue.BONE
    with pytest.raises(AnatomyError, match=r"label values \[10, 20, 30, 31, 40, 99\] are not assigned"):
        load_label_map(path)


def test_mismatched_affines_are_an_error(tmp_path) -> None:
    image = Volume(np.zeros((5, 5, 3), np.float32), np.diag([1.0, 1.0, 3.0, 1.0]), "t1.nii.gz")
    shifted = np.diag([1.0, 1.0, 3.0, 1.0])
    shifted[0, 3] = 2.0
    path = save_nifti(LabelMap(np.zeros((5, 5, 3), np.uint8), shifted), tmp_path / "labels.nii.gz")
    with pytest.raises(AnatomyError, match="different voxel-to-world affines"):
        load_label_map(path, like=image)
    with pytest.raises(AnatomyError, match="shape"):
        check_aligned(image, LabelMap(np.zeros((5, 5, 4), np.uint8), image.affine))
    check_aligned(image, LabelMap(np.zeros((5, 5, 3), np.uint8), image.affine))  # same grid: fine
