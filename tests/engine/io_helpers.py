"""Small recordings and results for the format tests, and a MATLAB v7.3 writer that lays
variables out as MATLAB does (HDF5 with a 512-byte MAT header, transposed arrays, cells as
object references into ``#refs#``, structs as groups)."""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np

from bmiss_engine.recording import ElectrodeGrid, Recording
from bmiss_engine.results import DecompositionResult, MotorUnit

FS_HZ = 2048.0
N_SAMPLES = 3000


def small_recording(seed: int = 0) -> Recording:
    """11 channels on a 4×3 grid whose (0, 0) electrode is missing, 3000 samples, with force."""
    rng = np.random.default_rng(seed)
    rc = [(r, c) for r in range(4) for c in range(3) if (r, c) != (0, 0)]
    grid = ElectrodeGrid(4, 3, 8.0, np.asarray(rc), bad_channels=(2,), name="test4x3")
    emg = rng.normal(0, 20e-6, (len(rc), N_SAMPLES)).astype(np.float32)
    force = np.linspace(0, 1, N_SAMPLES, dtype=np.float32)
    return Recording(emg, FS_HZ, grid, {"force": force}, "memory", "test")


def small_result(seed: int = 0) -> DecompositionResult:
    """Three units (ids 0, 2, 5) firing at about 10, 13 and 17 Hz, with peaky pulse trains."""
    rng = np.random.default_rng(seed)
    units = []
    for uid, rate in zip((0, 2, 5), (10.0, 13.0, 17.0), strict=True):
        isi = FS_HZ / rate
        base = np.arange(40, N_SAMPLES - 40, isi)
        d = np.unique(np.clip(np.rint(base + rng.normal(0, 5, base.size)), 0, N_SAMPLES - 1).astype(np.int64))
        train = np.abs(rng.normal(0, 0.05, N_SAMPLES)).astype(np.float32)
        train[d] = 1.0 + rng.normal(0, 0.05, d.size).astype(np.float32)
        units.append(MotorUnit(uid, d, train, FS_HZ))
    return DecompositionResult(tuple(units), FS_HZ, N_SAMPLES)


def assert_same_discharges(a: DecompositionResult, b: DecompositionResult, ids: bool = True) -> None:
    assert len(a.units) == len(b.units)
    for ua, ub in zip(a.units, b.units, strict=True):
        np.testing.assert_array_equal(ua.discharge_samples, ub.discharge_samples)
        if ids:
            assert ua.unit_id == ub.unit_id


def write_mat73(path, variables: dict[str, Any]) -> None:
    """Write ``variables`` as MATLAB's ``save -v7.3`` does: str → char, dict → struct,
    object ndarray → cell, numbers → double (MATLAB shape, at least 2-D)."""
    with h5py.File(path, "w", userblock_size=512) as f:
        refs = f.create_group("#refs#")
        counter = iter(range(10**6))
        for name, value in variables.items():
            _put(f, name, value, refs, counter)
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    with open(path, "r+b") as fh:
        fh.write(header.ljust(116, b" ") + b"\0" * 8 + b"\x00\x02IM")


def _put(parent: h5py.Group, name: str, value: Any, refs: h5py.Group, counter: Any) -> None:
    if isinstance(value, dict):
        group = parent.create_group(name)
        group.attrs["MATLAB_class"] = np.bytes_("struct")
        for key, item in value.items():
            _put(group, key, item, refs, counter)
        return
    if isinstance(value, str):
        codes = np.asarray([[ord(ch)] for ch in value], dtype=np.uint16)  # 1×n char → HDF5 (n, 1)
        ds = parent.create_dataset(name, data=codes)
        ds.attrs["MATLAB_class"] = np.bytes_("char")
        return
    arr = np.asarray(value)
    if arr.dtype == object:
        ref_array = np.empty(arr.shape[::-1], dtype=h5py.ref_dtype)
        for idx in np.ndindex(arr.shape):
            key = f"r{next(counter)}"
            _put(refs, key, arr[idx], refs, counter)
            ref_array[idx[::-1]] = refs[key].ref
        ds = parent.create_dataset(name, data=ref_array)
        ds.attrs["MATLAB_class"] = np.bytes_("cell")
        return
    arr = np.atleast_2d(arr.astype(np.float64))
    if arr.size == 0:
        ds = parent.create_dataset(name, data=np.asarray(arr.shape[::-1], dtype=np.uint64))
        ds.attrs["MATLAB_class"] = np.bytes_("double")
        ds.attrs["MATLAB_empty"] = np.uint8(1)
        return
    ds = parent.create_dataset(name, data=arr.T)
    ds.attrs["MATLAB_class"] = np.bytes_("double")
