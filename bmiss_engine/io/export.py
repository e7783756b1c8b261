"""Write a decomposition result in the format its file name asks for; read ours back."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bmiss_engine.errors import BmissError, RecordingFormatError
from bmiss_engine.io.npz import NPZ_DAMAGE_ERRORS, numpy_file_problem, save_npz_atomic
from bmiss_engine.recording import Recording
from bmiss_engine.results import DecompositionResult, MotorUnit, SeparationModel

RESULT_SUFFIXES = (".csv", ".mat", ".npz", ".tsv", ".json")
_WRITERS_TAKING_EMG = (".mat", ".json")


def result_writer(path: str | os.PathLike[str]) -> Callable[..., None]:
    """The writer for ``path``: ``*_summary.csv`` one row per unit, other ``.csv`` one row per
    discharge, ``.mat`` DEMUSE + MUedit, ``.tsv`` BIDS events, ``.json`` openhdemg, ``.npz`` ours.

    Raises BmissError for any other extension, before anything is computed or written.
    """
    name = Path(path).name.lower()
    suffix = Path(name).suffix
    if name.endswith("_summary.csv"):
        from bmiss_engine.io.discharge_tables import write_unit_summary_csv

        return write_unit_summary_csv
    if suffix == ".csv":
        from bmiss_engine.io.discharge_tables import write_discharges_csv

        return write_discharges_csv
    if suffix == ".mat":
        from bmiss_engine.io.matfiles import write_mat

        return write_mat
    if suffix == ".tsv":
        from bmiss_engine.io.bids_events import write_bids_events

        return write_bids_events
    if suffix == ".json":
        from bmiss_engine.io.openhdemg import write_openhdemg_json

        return write_openhdemg_json
    if suffix == ".npz":
        return write_result_npz
    raise BmissError(f"{path}: cannot write results as '{suffix}'; use {', '.join(RESULT_SUFFIXES)}")


def write_result(
    result: DecompositionResult, path: str | os.PathLike[str], recording: Recording | None = None
) -> None:
    """Write ``result`` in the format given by the file name (see :func:`result_writer`), atomically.

    ``recording`` (the decomposed one) lets the MAT and openhdemg files carry the EMG too, which
    MUedit, DEMUSE and openhdemg need to display units; the other formats ignore it.
    """
    writer = result_writer(path)
    if Path(path).suffix.lower() in _WRITERS_TAKING_EMG:
        writer(result, path, recording)
    else:
        writer(result, path)


def write_result_npz(result: DecompositionResult, path: str | os.PathLike[str]) -> None:
    """Everything needed to restore the result exactly (including the separation model)."""
    arrays: dict[str, Any] = {
        "sampling_rate_hz": np.float64(result.sampling_rate_hz),
        "n_samples": np.int64(result.n_samples),
        "meta": np.asarray(json.dumps({"config": result.config, "provenance": result.provenance}, default=str)),
        "unit_ids": np.asarray([u.unit_id for u in result.units], dtype=np.int64),
        "status": np.asarray([u.status for u in result.units]),
        "origin": np.asarray([u.origin for u in result.units]),
        "source_lag_samples": np.asarray([u.source_lag_samples for u in result.units], dtype=np.int64),
        # θ and its sd (bmiss and hybrid units), null for units without
        "theta": np.asarray(json.dumps([{"theta": u.theta, "theta_sd": u.theta_sd} for u in result.units],
                                       default=_json_float)),
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


def _json_float(value: object) -> object:
    """numpy scalars as plain floats for JSON."""
    return float(value)  # type: ignore[arg-type]


def _floats(values: dict[str, Any] | None) -> dict[str, float] | None:
    """A θ dict back from JSON; nan was written as NaN (json's extension), read back as nan."""
    return None if values is None else {k: float("nan") if v is None else float(v) for k, v in values.items()}


def read_result_npz(path: str | os.PathLike[str]) -> DecompositionResult:
    """Read a result written by :func:`write_result_npz`."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        fs = float(data["sampling_rate_hz"])
        # files written before θ was kept have no "theta" entry
        thetas = json.loads(str(data["theta"])) if "theta" in data else [{}] * len(data["unit_ids"])
        units = []
        for i, uid in enumerate(data["unit_ids"]):
            units.append(MotorUnit(
                int(uid), data[f"discharges_{i}"], data[f"pulse_train_{i}"], fs,
                data.get(f"filter_{i}"), str(data["status"][i]),  # type: ignore[arg-type]
                int(data["source_lag_samples"][i]),
                _floats(thetas[i].get("theta")), _floats(thetas[i].get("theta_sd")),
                # files written before units had an origin: every unit was blind
                str(data["origin"][i]) if "origin" in data else "blind",  # type: ignore[arg-type]
            ))
        meta = json.loads(str(data["meta"]))
        model = None
        if "model" in data:
            m = json.loads(str(data["model"]))
            model = SeparationModel(tuple(m["channels"]), int(m["extension_factor"]), tuple(m["band_hz"]),
                                    m["notch_hz"], float(m["sampling_rate_hz"]))
        return DecompositionResult(tuple(units), fs, int(data["n_samples"]), model, meta["config"], meta["provenance"])
    except (*NPZ_DAMAGE_ERRORS, KeyError, TypeError, IndexError) as exc:
        raise RecordingFormatError(f"{path}: not a BMISS result file ({numpy_file_problem(exc)})") from None
