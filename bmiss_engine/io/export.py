"""Write a decomposition result in the format its file name asks for; read ours back."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bmiss_engine.errors import BmissError, RecordingFormatError
from bmiss_engine.io.npz import NPZ_DAMAGE_ERRORS, numpy_file_problem, save_npz_atomic
from bmiss_engine.recording import Recording
from bmiss_engine.results import DecompositionResult, MotorUnit, SeparationModel


@dataclass(frozen=True)
class ResultFormat:
    """One way to write a decomposition: what an export dialog offers, and how a file name
    picks it.

    key: short name ("csv", "summary", "mat", "muedit", "json", "tsv", "npz"); label: what a
    user reads; ending: the end of the file names this writer takes (matched in the order of
    :data:`RESULT_FORMATS`, so ``_summary.csv`` before ``.csv``); suggested_ending: what a
    dialog appends to a bare name; opens_in: the tools that read the file; carries_emg: the
    writer stores the recording beside the units (pass it to :func:`write_result`), which those
    tools need to show or edit the units.
    """

    key: str
    label: str
    ending: str
    opens_in: str
    carries_emg: bool = False
    suggested_ending: str = ""

    @property
    def dialog_filter(self) -> str:
        """A Qt file-dialog filter, e.g. ``"openhdemg JSON (*.json)"``."""
        return f"{self.label} (*{self.suggested_ending or self.ending})"

    def file_name(self, stem: str) -> str:
        """``stem`` with this format's ending."""
        return stem + (self.suggested_ending or self.ending)


RESULT_FORMATS: tuple[ResultFormat, ...] = (
    ResultFormat("summary", "Per-unit summary, CSV", "_summary.csv", "spreadsheets, R, pandas"),
    ResultFormat("csv", "Discharges, one row each, CSV", ".csv", "spreadsheets, R, pandas"),
    ResultFormat("muedit", "MUedit MAT", "_muedit.mat", "MUedit", carries_emg=True),
    ResultFormat("mat", "MAT for DEMUSE and openhdemg (MUedit too)", ".mat", "DEMUSE, openhdemg (emg_from_demuse), MUedit",
                 carries_emg=True),
    ResultFormat("json", "openhdemg JSON", ".json", "openhdemg (emg_from_json)", carries_emg=True),
    ResultFormat("tsv", "BIDS events", ".tsv", "BIDS tools, MUniverse", suggested_ending="_events.tsv"),
    ResultFormat("npz", "BMISS result", ".npz", "BMISS (with its separation filters)"),
)
RESULT_SUFFIXES = (".csv", ".mat", ".npz", ".tsv", ".json")


def result_format(path: str | os.PathLike[str]) -> ResultFormat:
    """The :class:`ResultFormat` a file name asks for; BmissError for any other name."""
    name = Path(path).name.lower()
    for fmt in RESULT_FORMATS:
        if name.endswith(fmt.ending):
            return fmt
    raise BmissError(f"{path}: cannot write results as '{Path(name).suffix}'; use {', '.join(RESULT_SUFFIXES)} "
                     "(*_summary.csv: one row per unit; *_muedit.mat: MUedit's layout alone)")


def result_writer(path: str | os.PathLike[str]) -> Callable[..., None]:
    """The writer for ``path`` (see :data:`RESULT_FORMATS`): ``*_summary.csv`` one row per
    unit, other ``.csv`` one row per discharge, ``*_muedit.mat`` MUedit, other ``.mat`` DEMUSE +
    openhdemg + MUedit, ``.json`` openhdemg, ``.tsv`` BIDS events, ``.npz`` ours.

    Raises BmissError for any other name, before anything is computed or written.
    """
    key = result_format(path).key
    if key == "summary":
        from bmiss_engine.io.discharge_tables import write_unit_summary_csv

        return write_unit_summary_csv
    if key == "csv":
        from bmiss_engine.io.discharge_tables import write_discharges_csv

        return write_discharges_csv
    if key in ("mat", "muedit"):
        from bmiss_engine.io.matfiles import write_mat, write_muedit_mat

        return write_muedit_mat if key == "muedit" else write_mat
    if key == "tsv":
        from bmiss_engine.io.bids_events import write_bids_events

        return write_bids_events
    if key == "json":
        from bmiss_engine.io.openhdemg import write_openhdemg_json

        return write_openhdemg_json
    return write_result_npz


def write_result(
    result: DecompositionResult,
    path: str | os.PathLike[str],
    recording: Recording | None = None,
    *,
    ref_mvc: float | None = None,
) -> None:
    """Write ``result`` in the format given by the file name (see :func:`result_writer`), atomically.

    ``recording``: the recording the units were found in, sample for sample (for a decomposed
    time window, that window: :meth:`Recording.crop`). The formats that carry the EMG (MAT,
    MUedit MAT, openhdemg JSON: :attr:`ResultFormat.carries_emg`) store it, and need it to be
    opened for editing in their tools; the others ignore it. ``ref_mvc``: the MVC in the unit of
    the recording's reference channel (force, torque), for the formats that store that
    channel in % MVC (openhdemg JSON, the MAT's ``ref_signal``); without it, % of the channel's
    peak (see :func:`~bmiss_engine.io.reference.percent_of_mvc`).

    Raises BmissError for a name no writer takes, or, for the formats carrying the EMG, a
    recording of another rate or length than the result or discharges outside its samples
    (the EMG and the units would not line up in the other tools).
    """
    fmt = result_format(path)
    writer = result_writer(path)
    if not fmt.carries_emg:
        writer(result, path)
        return
    _check_discharges_inside(result, path)
    if recording is not None:
        recording = _decomposed_part(result, recording, path)
    writer(result, path, recording, ref_mvc=ref_mvc)


def _check_discharges_inside(result: DecompositionResult, path: str | os.PathLike[str]) -> None:
    """The tools that take the EMG index their pulse trains and EMG with the discharges: each
    must lie inside the decomposition's samples (discharges shifted to count from a recording's
    start, as :func:`~bmiss_engine.io.units_to_export` shifts those of a window, do not)."""
    for u in result.units:
        d = u.discharge_samples
        if d.size and (int(d.min()) < 0 or int(d.max()) >= result.n_samples):
            raise BmissError(f"{path}: unit {u.unit_id} has discharges outside the decomposition's "
                             f"{result.n_samples} samples; write the units as found, with the recording (or window) "
                             "they were found in")


def _decomposed_part(result: DecompositionResult, recording: Recording, path: str | os.PathLike[str]) -> Recording:
    """``recording`` as the units see it: whole, or the time window the settings stored in
    ``result`` decomposed (``window_s``); BmissError when it cannot be theirs."""
    if abs(recording.sampling_rate_hz - result.sampling_rate_hz) > 1e-6 * result.sampling_rate_hz:
        raise BmissError(f"{path}: the recording is sampled at {recording.sampling_rate_hz:g} Hz, the units at "
                         f"{result.sampling_rate_hz:g} Hz: not the recording they were found in")
    if recording.n_samples == result.n_samples:
        return recording
    window = result.config.get("window_s")
    if isinstance(window, (list, tuple)) and len(window) == 2 and recording.n_samples > result.n_samples:
        part = recording.crop(float(window[0]), float(window[1]))
        if part.n_samples == result.n_samples:
            return part
    raise BmissError(f"{path}: the recording has {recording.n_samples} samples, the decomposition "
                     f"{result.n_samples}: pass the recording (or the window) the units were found in")


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


_RESULT_KEYS = {"sampling_rate_hz", "n_samples", "meta", "unit_ids"}


def is_result_npz(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a result :func:`write_result_npz` wrote (``bmiss decompose --out
    X.npz``, a batch's ``*_result.npz``), not a recording in the plain ``.npz`` layout. Reads
    the archive's list of arrays only; False for anything unreadable (its reader says why)."""
    try:
        with Path(path).open("rb") as fh:
            if fh.read(4) != b"PK\x03\x04":
                return False
        with np.load(path, allow_pickle=False) as z:
            names = set(z.files)
    except NPZ_DAMAGE_ERRORS:
        return False
    return names >= _RESULT_KEYS and "emg" not in names


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
