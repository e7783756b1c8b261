"""Discharges as a BIDS ``*_events.tsv`` (the form MUniverse / MUnitQuest take submissions in).

Columns: ``onset`` (s from the first sample), ``duration`` (0: a discharge is an instant),
``sample`` (index from 0 in the EMG file the events accompany), ``unit_id``. A sidecar
``*_events.json`` describes the columns, as BIDS recommends for non-standard ones.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np

from bmiss_engine.io.atomic import write_text_atomic
from bmiss_engine.io.discharge_tables import read_discharge_rows, sampling_rate_from
from bmiss_engine.io.imported import imported_result
from bmiss_engine.results import DecompositionResult

EVENT_COLUMNS = ("onset", "duration", "sample", "unit_id")

_SIDECAR = {
    "onset": {"Description": "Time of the motor unit discharge from the first EMG sample", "Units": "s"},
    "duration": {"Description": "Discharges are instantaneous", "Units": "s"},
    "sample": {"Description": "Sample index (from 0) of the discharge in the accompanying EMG recording"},
    "unit_id": {"Description": "Identifier of the motor unit, stable within this decomposition"},
}


def write_bids_events(result: DecompositionResult, path: str | os.PathLike[str]) -> None:
    """Write ``path`` (name it ``*_events.tsv``) and its ``*_events.json`` sidecar, sorted by onset."""
    path = Path(path)
    rows = [(int(s), u.unit_id) for u in result.units for s in u.discharge_samples]
    rows.sort()
    buf = io.StringIO()
    out = csv.writer(buf, delimiter="\t", lineterminator="\n")
    out.writerow(EVENT_COLUMNS)
    fs = result.sampling_rate_hz
    for sample, uid in rows:
        out.writerow([f"{sample / fs:.6f}", "0", sample, uid])
    write_text_atomic(path, buf.getvalue())
    sidecar = path.with_name(path.name[: -len(path.suffix)] + ".json")
    write_text_atomic(sidecar, json.dumps({**_SIDECAR, "SamplingFrequency": fs}, indent=2) + "\n")


def read_bids_events(path: str | os.PathLike[str]) -> DecompositionResult:
    """Read discharges from an events table with ``onset``, ``sample`` and ``unit_id`` columns.

    The rate comes from the sidecar's ``SamplingFrequency`` when present, else from
    ``sample/onset``; the length is one past the last discharge; pulse trains are zeros.
    """
    path = Path(path)
    ids, samples, onsets = read_discharge_rows(path, "\t", "onset")
    fs = _sidecar_rate(path) or sampling_rate_from(samples, onsets, path)
    unit_ids = sorted(set(ids.tolist()))
    discharges = [np.sort(samples[ids == uid]) for uid in unit_ids]
    return imported_result(path, discharges, fs, int(samples.max()) + 1, None, unit_ids, "bids-events")


def _sidecar_rate(path: Path) -> float | None:
    sidecar = path.with_name(path.name[: -len(path.suffix)] + ".json")
    try:
        value = json.loads(sidecar.read_text(encoding="utf-8")).get("SamplingFrequency")
        return float(value) if value else None
    except (OSError, ValueError, AttributeError, TypeError):
        return None
