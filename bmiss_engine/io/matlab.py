"""Load MATLAB .mat files, v5 (scipy.io) and v7.3 (HDF5, h5py), into one plain Python form:

- numeric and logical arrays: ndarray with MATLAB's shape (at least 2-D, as MATLAB has it);
- char arrays: ``str``;
- cell arrays: object ndarray with MATLAB's shape, each element in this same form;
- 1×1 structs: ``dict`` of field name → value; struct arrays: object ndarray of dicts.

v7.3 files store arrays transposed (HDF5 is row-major) and cells as object references into
``#refs#``; both are undone here so that the two versions read alike.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.errors import RecordingFormatError

MatValue = Any  # ndarray | str | dict[str, MatValue]: recursive, so spelled out in the docstring


def load_mat(path: str | os.PathLike[str]) -> dict[str, MatValue]:
    """The variables of a .mat file by name, in the form described in the module docstring."""
    path = Path(path)
    with path.open("rb") as fh:
        head = fh.read(1024)
    is_hdf5 = head[:8] == b"\x89HDF\r\n\x1a\n" or head[512:520] == b"\x89HDF\r\n\x1a\n"
    from scipy.io.matlab import MatReadError

    # what scipy and h5py raise on damaged files: no common base class but Exception
    damaged = (OSError, ValueError, TypeError, KeyError, IndexError, NotImplementedError, EOFError,
               zlib.error, MatReadError, UnicodeDecodeError, OverflowError, MemoryError, RuntimeError)
    try:
        return _load_v73(path) if is_hdf5 else _load_v5(path)
    except RecordingFormatError:
        raise
    except damaged as exc:
        raise RecordingFormatError(f"{path}: not a readable MATLAB file ({type(exc).__name__}: {exc})") from None


def _load_v5(path: Path) -> dict[str, MatValue]:
    import scipy.io

    raw = scipy.io.loadmat(path, squeeze_me=False, struct_as_record=False, chars_as_strings=True)
    return {k: _from_v5(v) for k, v in raw.items() if not k.startswith("__")}


def _from_v5(value: Any) -> MatValue:
    from scipy.io.matlab import mat_struct

    if isinstance(value, mat_struct):
        return {name: _from_v5(getattr(value, name)) for name in value._fieldnames}
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "U":
            return "".join(str(s) for s in value.ravel())
        if value.dtype == object:
            out = np.empty(value.shape, dtype=object)
            for idx in np.ndindex(value.shape):
                out[idx] = _from_v5(value[idx])
            if out.size == 1 and isinstance(out.flat[0], dict):
                return out.flat[0]
            return out
        return value
    if isinstance(value, str):
        return value
    return np.atleast_2d(np.asarray(value))


def _load_v73(path: Path) -> dict[str, MatValue]:
    import h5py

    with h5py.File(path, "r") as f:
        return {k: _from_h5(f[k], f) for k in f if not k.startswith("#")}


def _from_h5(obj: Any, f: Any) -> MatValue:
    import h5py

    if isinstance(obj, h5py.Group):
        return {k: _from_h5(obj[k], f) for k in obj if not k.startswith("#")}
    cls = obj.attrs.get("MATLAB_class", b"double")
    cls = cls.decode() if isinstance(cls, bytes) else str(cls)
    if obj.attrs.get("MATLAB_empty", 0):
        return "" if cls == "char" else np.empty((0, 0), dtype=object if cls == "cell" else np.float64)
    data = obj[()]
    if cls == "cell":
        out = np.empty(data.shape, dtype=object)
        for idx in np.ndindex(data.shape):
            out[idx] = _from_h5(f[data[idx]], f)
        return out.T
    if cls == "char":
        return "".join(chr(c) for c in np.asarray(data, dtype=np.uint32).T.ravel())
    arr: NDArray[Any] = np.asarray(data).T
    if cls == "logical":
        arr = arr.astype(bool)
    return np.atleast_2d(arr)


def cells(value: MatValue) -> list[MatValue]:
    """The elements of a cell array in MATLAB's linear (column-major) order; a non-cell value is
    a one-element list."""
    if isinstance(value, np.ndarray) and value.dtype == object:
        return list(value.ravel(order="F"))
    return [value]


def scalar(value: MatValue, what: str, path: Path) -> float:
    """One number from a MATLAB value, or a RecordingFormatError naming ``what``."""
    try:
        arr = np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise RecordingFormatError(f"{path}: '{what}' must be a number") from None
    if arr.size != 1:
        raise RecordingFormatError(f"{path}: '{what}' must be a single number, got {arr.size} values")
    return float(arr[0])


def vector(value: MatValue, what: str, path: Path) -> NDArray[np.float64]:
    """A numeric MATLAB array as a flat float64 vector."""
    try:
        return np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise RecordingFormatError(f"{path}: '{what}' must be numeric") from None
