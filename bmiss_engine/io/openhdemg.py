"""openhdemg's ``.json`` files (``save_json_emgfile`` / ``emg_from_json``).

The file is gzip-compressed JSON: one object whose values are themselves JSON texts. Scalars
(``SOURCE``, ``FILENAME``, ``FSAMP``, ``IED``, ``EMG_LENGTH``, ``NUMBER_OF_MUS``) are
``json.dumps`` of the value; tables are pandas ``DataFrame.to_json(orient="split")``, i.e.
``{"columns": [...], "index": [...], "data": [[row], ...]}`` with one row per sample:
``RAW_SIGNAL`` (n × channels), ``REF_SIGNAL`` (n × 1), ``IPTS`` and ``BINARY_MUS_FIRING``
(n × units), ``ACCURACY`` (units × 1, SIL), ``EXTRAS`` (anything). ``MUPULSES`` is a list per
unit of 0-based discharge samples.

The file says nothing of the EMG's unit nor of the grid layout. Units: openhdemg keeps the
source's, which is µV for OTBioLab+ exports (``SOURCE`` "OTB") and mV for DEMUSE; µV is assumed
for other sources, "OPENHDEMG" (what openhdemg 0.2 writes for its own modules) included. BMISS
writes µV, ``SOURCE`` "CUSTOMCSV" (openhdemg's generic source), and the layout in ``EXTRAS``
columns ``bmiss_channel_row``/``bmiss_channel_column`` (plus per unit ``bmiss_unit_id``,
``bmiss_origin`` and ``bmiss_theta_<field>``/``bmiss_theta_sd_<field>``, see
:func:`~bmiss_engine.io.unit_model.extras_columns`), which openhdemg carries along untouched.
Files without them are read as a single column of channels; pass ``grid=`` to
``open_recording`` to give the real layout.

``REF_SIGNAL`` is in % MVC for openhdemg (its analyses of force steps and recruitment thresholds
take it so); BMISS writes the recording's reference channel scaled to it
(:func:`~bmiss_engine.io.reference.percent_of_mvc`) and reads it back as the auxiliary channel
"ref_signal", in % MVC.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.errors import RecordingFormatError
from bmiss_engine.io.atomic import write_bytes_atomic
from bmiss_engine.io.imported import imported_result
from bmiss_engine.io.reference import percent_of_mvc, reference_channel
from bmiss_engine.io.unit_model import extras_columns, from_extras, with_unit_models
from bmiss_engine.recording import ElectrodeGrid, Recording
from bmiss_engine.results import DecompositionResult

log = logging.getLogger(__name__)

VOLTS_PER_UNIT_BY_SOURCE = {"DEMUSE": 1e-3}
VOLTS_PER_UV = 1e-6
_SIGNAL_SOURCES = ("DEMUSE", "OTB", "CUSTOMCSV", "DELSYS", "OPENHDEMG")


def read_openhdemg_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The top-level object with every value decoded from its JSON text, read once:
    :func:`openhdemg_recording` and :func:`openhdemg_result` take it."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        text = gzip.decompress(raw).decode("utf-8") if raw[:2] == b"\x1f\x8b" else raw.decode("utf-8")
        outer = json.loads(text)
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordingFormatError(f"{path}: not an openhdemg .json file ({exc})") from None
    if not isinstance(outer, dict) or "SOURCE" not in outer:
        raise RecordingFormatError(f"{path}: not an openhdemg .json file (no SOURCE)")
    out = {}
    for key, value in outer.items():
        try:
            out[key] = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError:
            out[key] = value  # a plain string some writers leave unencoded
    return out


def _table(data: dict[str, Any], key: str, path: Path) -> tuple[list[Any], NDArray[np.float64]]:
    """(columns, values (rows, columns) float64) of a split-orient table; NaN where null."""
    table = data.get(key)
    if not isinstance(table, dict) or "data" not in table:
        raise RecordingFormatError(f"{path}: '{key}' is not a table")
    rows = table["data"]
    columns = list(table.get("columns", []))
    index = list(table.get("index", range(len(rows))))
    try:
        try:
            values = np.asarray(rows, dtype=np.float64)
        except TypeError:  # nulls (pandas writes NaN as null): the slow way
            values = np.asarray([[np.nan if v is None else v for v in row] for row in rows], dtype=np.float64)
        values = values.reshape(len(rows), len(columns))
    except (TypeError, ValueError):
        raise RecordingFormatError(f"{path}: '{key}' holds non-numeric or ragged rows") from None
    order = np.argsort(np.asarray(index, dtype=np.float64), kind="stable") if index else np.arange(len(rows))
    return columns, values[order]


def _extras_columns(data: dict[str, Any]) -> dict[str, list[Any]]:
    """The ``bmiss_*`` columns of ``EXTRAS`` as they are stored (name → values, None where null)."""
    table = data.get("EXTRAS")
    if not isinstance(table, dict):
        return {}
    columns = [str(c) for c in table.get("columns", [])]
    rows = [row for row in table.get("data", []) if isinstance(row, list)]
    return {name: [row[j] if j < len(row) else None for row in rows]
            for j, name in enumerate(columns) if name.startswith("bmiss_")}


def _extras(data: dict[str, Any]) -> dict[str, NDArray[np.float64]]:
    """The numeric ``bmiss_*`` columns of ``EXTRAS`` as float64 (NaN where null); text columns
    (``bmiss_origin``) are left out."""
    out = {}
    for name, col in _extras_columns(data).items():
        try:
            out[name] = np.asarray([np.nan if v is None else v for v in col], dtype=np.float64)
        except (TypeError, ValueError):
            continue
    return out


def read_openhdemg_recording(path: str | os.PathLike[str]) -> Recording:
    """The EMG of an openhdemg file (``RAW_SIGNAL``, with ``REF_SIGNAL`` as auxiliary "ref_signal")."""
    path = Path(path)
    return openhdemg_recording(read_openhdemg_file(path), path)


def openhdemg_recording(data: dict[str, Any], path: Path) -> Recording:
    """:func:`read_openhdemg_recording` of the object already read from ``path``."""
    source = str(data["SOURCE"])
    if source not in _SIGNAL_SOURCES:
        raise RecordingFormatError(f"{path}: openhdemg file of source {source!r} holds no EMG")
    _, emg = _table(data, "RAW_SIGNAL", path)
    if emg.size == 0:
        raise RecordingFormatError(f"{path}: the openhdemg file holds no EMG (empty RAW_SIGNAL)")
    fs = float(data.get("FSAMP", 0))
    ied = float(data.get("IED") or 0) or 8.0
    extras = _extras(data)
    n_channels = emg.shape[1]
    rows = extras.get("bmiss_channel_row", np.empty(0))[:n_channels]
    cols = extras.get("bmiss_channel_column", np.empty(0))[:n_channels]
    if rows.size == n_channels and np.isfinite(rows).all() and np.isfinite(cols).all():
        rc = np.stack([rows, cols], axis=1).astype(np.int64)
        shape = (int(rc[:, 0].max()) + 1, int(rc[:, 1].max()) + 1)
    else:
        log.warning("%s: openhdemg keeps no grid layout; channels read as one column", path)
        rc = np.stack([np.arange(n_channels), np.zeros(n_channels, dtype=np.int64)], axis=1)
        shape = (n_channels, 1)
    # files converted from DEMUSE keep the grid's missing corner as an all-empty (null) column
    recorded = ~np.isnan(emg).all(axis=0)
    if not recorded.all():
        log.info("%s: %d empty channel(s) dropped", path, int((~recorded).sum()))
        emg, rc = emg[:, recorded], rc[recorded]
    aux = {}
    if "REF_SIGNAL" in data:
        _, ref = _table(data, "REF_SIGNAL", path)
        if ref.shape[0] == emg.shape[0] and ref.shape[1] >= 1:
            aux["ref_signal"] = ref[:, 0].astype(np.float32)
    volts = VOLTS_PER_UNIT_BY_SOURCE.get(source, VOLTS_PER_UV)
    try:
        grid = ElectrodeGrid(shape[0], shape[1], ied, rc)
        return Recording((emg.T * volts).astype(np.float32), fs, grid, aux, str(path), "openhdemg")
    except RecordingFormatError as exc:
        raise RecordingFormatError(f"{path}: {exc}") from None


def read_openhdemg_result(path: str | os.PathLike[str]) -> DecompositionResult:
    """The units of an openhdemg file: ``MUPULSES`` (0-based) and ``IPTS``."""
    path = Path(path)
    return openhdemg_result(read_openhdemg_file(path), path)


def openhdemg_result(data: dict[str, Any], path: Path) -> DecompositionResult:
    """:func:`read_openhdemg_result` of the object already read from ``path``."""
    if "MUPULSES" not in data:
        raise RecordingFormatError(f"{path}: the openhdemg file holds no decomposition (no MUPULSES)")
    pulses = [np.asarray(p, dtype=np.float64).ravel() for p in data["MUPULSES"]]
    fs = float(data.get("FSAMP", 0))
    ipts = None
    if "IPTS" in data:
        _, values = _table(data, "IPTS", path)
        ipts = values.T if values.size else None
    n_samples = int(data.get("EMG_LENGTH") or (ipts.shape[1] if ipts is not None else 0))
    if ipts is not None and ipts.shape[0] != len(pulses):
        ipts = None
    ids_col = _extras(data).get("bmiss_unit_id", np.empty(0))[: len(pulses)]
    ids = [int(i) for i in ids_col] if ids_col.size == len(pulses) and np.isfinite(ids_col).all() else None
    result = imported_result(path, pulses, fs, n_samples, ipts, ids, "openhdemg")
    # files BMISS wrote keep each unit's origin, θ and θ's sd in EXTRAS, in the units' order
    models = from_extras(_extras_columns(data), len(result.units))
    if models is None:
        return result
    return with_unit_models(result, {u.unit_id: m for u, m in zip(result.units, models, strict=True)})


def write_openhdemg_json(
    result: DecompositionResult,
    path: str | os.PathLike[str],
    recording: Recording | None = None,
    *,
    ref_mvc: float | None = None,
) -> None:
    """Write an openhdemg file that ``emg_from_json`` opens: the units and, with ``recording``,
    the EMG (µV), the grid layout in ``EXTRAS`` and the reference channel
    (:func:`~bmiss_engine.io.reference.reference_channel`: force, torque, ...) as ``REF_SIGNAL``.
    Each unit's origin, θ and θ's sd go in ``EXTRAS`` too (read back here).

    openhdemg takes ``REF_SIGNAL`` in % MVC. ``ref_mvc`` is the MVC in the reference channel's
    own unit (e.g. volts at the AUX input); without it the channel is scaled to % of its own
    peak in this recording (100 at its strongest moment), which is right for an MVC trial and
    only relative for a submaximal one. Without a reference channel, or a recording, the
    ``REF_SIGNAL`` is zeros.
    """
    n = result.n_samples
    n_units = len(result.units)
    index = list(range(n))
    firing = np.zeros((n, n_units), dtype=np.int64)
    for j, u in enumerate(result.units):
        firing[u.discharge_samples, j] = 1
    ipts = np.stack([u.pulse_train for u in result.units], axis=1) if n_units else np.zeros((n, 0))
    extras: dict[str, list[Any]] = {"bmiss_unit_id": [u.unit_id for u in result.units], **extras_columns(result.units)}
    if recording is not None:
        raw = _split(list(range(recording.n_channels)), index, recording.emg_v.T / VOLTS_PER_UV)
        reference = reference_channel(recording)
        ref_values = percent_of_mvc(reference[1], ref_mvc) if reference is not None else np.zeros(n)
        extras["bmiss_channel_row"] = recording.grid.channel_rc[:, 0].tolist()
        extras["bmiss_channel_column"] = recording.grid.channel_rc[:, 1].tolist()
        ied = float(recording.grid.ied_mm)
    else:
        raw = _split([], index, np.zeros((n, 0)))
        ref_values = np.zeros(n)
        ied = 0.0
    n_extra = max(len(v) for v in extras.values())
    extra_rows = [[v[i] if i < len(v) else None for v in extras.values()] for i in range(n_extra)]
    emgfile = {
        "SOURCE": json.dumps("CUSTOMCSV"),
        "FILENAME": json.dumps(Path(path).name),
        "RAW_SIGNAL": raw,
        "REF_SIGNAL": _split([0], index, ref_values[:, None]),
        "ACCURACY": _split([0], list(range(n_units)), np.asarray([[_finite(u.sil)] for u in result.units])),
        "IPTS": _split(list(range(n_units)), index, ipts),
        "MUPULSES": json.dumps([u.discharge_samples.tolist() for u in result.units]),
        "FSAMP": json.dumps(float(result.sampling_rate_hz)),
        "IED": json.dumps(ied),
        "EMG_LENGTH": json.dumps(n),
        "NUMBER_OF_MUS": json.dumps(n_units),
        "BINARY_MUS_FIRING": _split(list(range(n_units)), index, firing),
        "EXTRAS": json.dumps({"columns": list(extras), "index": list(range(n_extra)), "data": extra_rows}),
    }
    payload = gzip.compress(json.dumps(emgfile).encode("utf-8"), compresslevel=4)
    write_bytes_atomic(Path(path), payload)


def _split(columns: list[Any], index: list[int], values: NDArray[Any]) -> str:
    """pandas' ``to_json(orient="split")`` of a (rows, columns) array."""
    return json.dumps({"columns": columns, "index": index, "data": np.asarray(values).tolist()})


def _finite(value: float) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None
