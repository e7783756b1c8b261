"""Writers of decomposition results: CSV (one row per discharge), MAT, and our .npz."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io

from bmiss_engine.errors import BmissError, RecordingFormatError
from bmiss_engine.io.npz import _chmod_like_open, save_npz_atomic
from bmiss_engine.results import DecompositionResult, MotorUnit, SeparationModel


def write_result(result: DecompositionResult, path: str | os.PathLike[str]) -> None:
    """Write ``result`` in the format given by the extension: .csv, .mat or .npz."""
    path = Path(path)
    suffix = path.suffix.lower()
    writers = {".csv": write_csv, ".mat": write_mat, ".npz": write_result_npz}
    if suffix not in writers:
        raise BmissError(f"{path}: cannot write results as '{suffix}'; use .csv, .mat or .npz")
    writers[suffix](result, path)


def _atomic_bytes(path: Path, payload: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        _chmod_like_open(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_csv(result: DecompositionResult, path: str | os.PathLike[str]) -> None:
    """One row per discharge: ``unit_id,sample,time_s`` with a header."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(["unit_id", "sample", "time_s"])
    fs = result.sampling_rate_hz
    for u in result.units:
        for s in u.discharge_samples:
            out.writerow([u.unit_id, int(s), f"{s / fs:.6f}"])
    _atomic_bytes(Path(path), buf.getvalue().encode())


def write_mat(result: DecompositionResult, path: str | os.PathLike[str]) -> None:
    """MAT v5 with DEMUSE-style fields (``MUPulses`` 1-based, ``IPTs``, ``fsamp``) and ours."""
    n = len(result.units)
    pulses = np.empty((1, n), dtype=object)
    for i, u in enumerate(result.units):
        pulses[0, i] = (u.discharge_samples + 1).astype(np.float64)[None, :]
    ipts = np.stack([u.pulse_train for u in result.units]) if n else np.zeros((0, result.n_samples))
    data = {
        "MUPulses": pulses,
        "IPTs": ipts.astype(np.float64),
        "fsamp": float(result.sampling_rate_hz),
        "unit_id": np.asarray([u.unit_id for u in result.units], dtype=np.float64),
        "SIL": np.asarray([u.sil for u in result.units]),
        "PNR": np.asarray([u.pnr_db for u in result.units]),
        "CoV_ISI": np.asarray([u.cov_isi for u in result.units]),
    }
    buf = io.BytesIO()
    scipy.io.savemat(buf, data, do_compression=True)
    _atomic_bytes(Path(path), buf.getvalue())


def write_result_npz(result: DecompositionResult, path: str | os.PathLike[str]) -> None:
    """Everything needed to restore the result exactly (including the separation model)."""
    arrays: dict[str, Any] = {
        "sampling_rate_hz": np.float64(result.sampling_rate_hz),
        "n_samples": np.int64(result.n_samples),
        "meta": np.asarray(json.dumps({"config": result.config, "provenance": result.provenance}, default=str)),
        "unit_ids": np.asarray([u.unit_id for u in result.units], dtype=np.int64),
        "status": np.asarray([u.status for u in result.units]),
        "source_lag_samples": np.asarray([u.source_lag_samples for u in result.units], dtype=np.int64),
    }
    for i, u in enumerate(result.units):
        arrays[f"discharges_{i}"] = u.discharge_samples
        arrays[f"pulse_train_{i}"] = u.pulse_train
        if u.separation_filter is not None:
            arrays[f"filter_{i}"] = u.separation_filter
    m = result.model
    if m is not None:
        arrays["model"] = np.asarray(json.dumps({
            "channels": list(m.channels), "extension_factor": m.extension_factor,
            "band_hz": list(m.band_hz), "notch_hz": m.notch_hz, "sampling_rate_hz": m.sampling_rate_hz,
        }))
    save_npz_atomic(path, arrays)


def read_result_npz(path: str | os.PathLike[str]) -> DecompositionResult:
    """Read a result written by :func:`write_result_npz`."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        fs = float(data["sampling_rate_hz"])
        units = []
        for i, uid in enumerate(data["unit_ids"]):
            units.append(MotorUnit(
                int(uid), data[f"discharges_{i}"], data[f"pulse_train_{i}"], fs,
                data.get(f"filter_{i}"), str(data["status"][i]),  # type: ignore[arg-type]
                int(data["source_lag_samples"][i]),
            ))
        meta = json.loads(str(data["meta"]))
        model = None
        if "model" in data:
            m = json.loads(str(data["model"]))
            model = SeparationModel(tuple(m["channels"]), int(m["extension_factor"]), tuple(m["band_hz"]),
                                    m["notch_hz"], float(m["sampling_rate_hz"]))
        return DecompositionResult(tuple(units), fs, int(data["n_samples"]), model, meta["config"], meta["provenance"])
    except (OSError, KeyError, ValueError) as exc:
        raise RecordingFormatError(f"{path}: not a BMISS result file ({exc})") from None
