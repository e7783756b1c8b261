"""Results as CSV tables: one row per discharge, or one row per unit (a summary)."""

from __future__ import annotations

import csv
import io
import math
import os
import re
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.errors import RecordingFormatError
from bmiss_engine.io.atomic import write_text_atomic
from bmiss_engine.io.imported import imported_result
from bmiss_engine.results import THETA_FIELDS, DecompositionResult, MotorUnit

DISCHARGE_COLUMNS = ("unit_id", "sample", "time_s")
# then each forward-model parameter θ and its standard deviation (in the parameter's unit)
SUMMARY_COLUMNS = (
    "unit_id", "n_discharges", "mean_rate_hz", "cov_isi", "sil", "pnr_db", "status", "origin",
    *(name for f in THETA_FIELDS for name in (f.name, f"{f.name}_sd")),
)


# the endings a batch gives a recording's two tables, side by side (bmiss_engine.batch.outputs)
SUMMARY_ENDING = "_summary.csv"
DISCHARGES_ENDING = "_discharges.csv"


def table_columns(path: str | os.PathLike[str]) -> set[str]:
    """The lower-case column names in the first line of a ``,``/``;``/tab-separated text table
    (empty when it cannot be read)."""
    try:
        with Path(path).open("r", encoding="utf-8-sig", errors="replace") as fh:
            header = fh.readline()
    except OSError:
        return set()
    return {name.strip().strip('"').lower() for name in re.split(r"[,;\t]", header)}


def is_unit_summary(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a per-unit summary (:func:`write_unit_summary_csv`): a ``.csv`` whose
    header names ``unit_id`` and ``n_discharges`` but no ``sample``. It holds no discharge times."""
    if Path(path).suffix.lower() != ".csv":
        return False
    names = table_columns(path)
    return {"unit_id", "n_discharges"} <= names and "sample" not in names


def discharges_beside(summary: str | os.PathLike[str]) -> Path:
    """The discharge CSV written beside a per-unit summary: ``X_summary.csv`` →
    ``X_discharges.csv`` (a summary named otherwise, ``X.csv`` → ``X_discharges.csv``)."""
    summary = Path(summary)
    name = summary.name
    stem = name[: -len(SUMMARY_ENDING)] if name.lower().endswith(SUMMARY_ENDING) else summary.stem
    return summary.with_name(stem + DISCHARGES_ENDING)


def write_discharges_csv(result: DecompositionResult, path: str | os.PathLike[str]) -> None:
    """One row per discharge: ``unit_id,sample,time_s`` with a header; samples count from 0."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(DISCHARGE_COLUMNS)
    fs = result.sampling_rate_hz
    for u in result.units:
        for s in u.discharge_samples:
            out.writerow([u.unit_id, int(s), f"{s / fs:.6f}"])
    write_text_atomic(path, buf.getvalue())


def read_discharges_csv(path: str | os.PathLike[str]) -> DecompositionResult:
    """Read a table written by :func:`write_discharges_csv`.

    The file keeps no sampling rate nor length: the rate is recovered from ``sample/time_s``
    and the length is taken as one past the last discharge; pulse trains are zeros.
    """
    path = Path(path)
    ids, samples, times = read_discharge_rows(path, ",", "time_s")
    fs = sampling_rate_from(samples, times, path)
    unit_ids = list(dict.fromkeys(ids.tolist()))
    discharges = [samples[ids == uid] for uid in unit_ids]
    n_samples = int(samples.max()) + 1
    return imported_result(path, discharges, fs, n_samples, None, unit_ids, "csv")


def read_discharge_rows(
    path: Path, delimiter: str, time_column: str
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """(unit_id, sample, time) columns of a delimited discharge table, each (n_rows,); the
    discharge CSV and the BIDS events table differ only in delimiter and time column."""
    columns = (time_column, "sample", "unit_id")
    try:
        rows = list(csv.DictReader(path.read_text(encoding="utf-8").splitlines(), delimiter=delimiter))
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordingFormatError(f"{path}: cannot read ({exc})") from None
    if not rows or not set(columns) <= set(rows[0]):
        raise RecordingFormatError(f"{path}: the table needs the columns {columns[0]}, {columns[1]} and {columns[2]}")
    try:
        ids = np.asarray([int(r["unit_id"]) for r in rows], dtype=np.int64)
        samples = np.asarray([int(r["sample"]) for r in rows], dtype=np.int64)
        times = np.asarray([float(r[time_column]) for r in rows], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise RecordingFormatError(f"{path}: bad value in the table ({exc})") from None
    return ids, samples, times


def sampling_rate_from(samples: np.ndarray, times_s: np.ndarray, path: Path) -> float:
    """The sampling rate that maps sample indices to times (least squares over all rows)."""
    if not (times_s > 0).any():
        raise RecordingFormatError(f"{path}: cannot recover the sampling rate: no discharge after t = 0")
    fs = float(np.dot(samples, samples) / np.dot(samples, times_s))
    # times are written to the µs: snap to the whole rate every amplifier uses when that close
    return float(round(fs)) if abs(fs - round(fs)) < 1e-5 * fs else fs


def write_unit_summary_csv(result: DecompositionResult, path: str | os.PathLike[str]) -> None:
    """One row per unit: ``unit_id, n_discharges, mean_rate_hz, cov_isi, sil, pnr_db, status,
    origin`` ("blind", "model" or "joint"), then each forward-model parameter and its standard deviation
    in its unit (``depth_mm, depth_mm_sd, ml_mm, ...``, see :data:`SUMMARY_COLUMNS`). Cells are
    empty where a value is undefined (CoV of ISI with fewer than three discharges, θ of a unit
    found without the forward model)."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(SUMMARY_COLUMNS)
    for u in result.units:
        out.writerow([u.unit_id, u.n_discharges, _num(u.mean_rate_hz, 3), _num(u.cov_isi, 4),
                      _num(u.sil, 4), _num(u.pnr_db, 2), u.status, u.origin, *_theta_cells(u)])
    write_text_atomic(path, buf.getvalue())


def _theta_cells(u: MotorUnit) -> list[str]:
    theta, sd = u.theta or {}, u.theta_uncertainty
    return [cell for f in THETA_FIELDS
            for cell in (_num(theta.get(f.name, math.nan), 4), _num(sd.get(f.name, math.nan), 4))]


def _num(value: float, digits: int) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"
