"""What the forward model says about each unit (``MotorUnit.origin``, ``theta``, ``theta_sd``),
in the shapes the export formats that have no place for it of their own can carry: a table
(units × fields, NaN where a unit has no value) and per-unit origin labels, plus the way back.

MAT files keep it in a top-level struct ``bmiss`` (:func:`mat_struct`), which DEMUSE, MUedit
(it loads only ``signal`` and ``parameters``) and openhdemg's MAT loader pass over; openhdemg
JSON files keep it as ``EXTRAS`` columns (:func:`extras_columns`), which openhdemg carries along
untouched. In both a missing value and a NaN read alike: a value that is NaN comes back absent,
and a unit whose every value is absent comes back with ``theta`` (or ``theta_sd``) None.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, get_args

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.results import THETA_FIELDS, DecompositionResult, MotorUnit, UnitOrigin

_FIELD_UNITS = {f.name: f.unit for f in THETA_FIELDS}
_ORIGINS: dict[str, UnitOrigin] = {o: o for o in get_args(UnitOrigin)}
# EXTRAS column names in openhdemg JSON files
ORIGIN_COLUMN = "bmiss_origin"
THETA_PREFIX = "bmiss_theta_"
THETA_SD_PREFIX = "bmiss_theta_sd_"


@dataclass(frozen=True)
class UnitModel:
    """One unit's model information as a file gives it back: ``origin`` (``results.UnitOrigin``),
    ``theta`` (field → value in physical units) and ``theta_sd`` (field → standard deviation
    on the optimiser's [0, 1] scale), each None when the unit has none."""

    origin: UnitOrigin = "blind"
    theta: dict[str, float] | None = None
    theta_sd: dict[str, float] | None = None


def theta_names(units: Sequence[MotorUnit]) -> tuple[str, ...]:
    """The θ fields a table of ``units`` has columns for: every :data:`THETA_FIELDS` name, in
    that order (a blind-only result has the same columns, all NaN), then any other key a unit
    carries, sorted."""
    known = [f.name for f in THETA_FIELDS]
    extra = {k for u in units for d in (u.theta, u.theta_sd) if d for k in d} - set(known)
    return (*known, *sorted(extra))


def theta_table(units: Sequence[MotorUnit], names: Sequence[str], sd: bool = False) -> NDArray[np.float64]:
    """float64 (n_units, n_fields): each unit's ``theta`` (or with ``sd``, ``theta_sd``) under
    ``names``; NaN where the unit has no value."""
    table = np.full((len(units), len(names)), np.nan)
    for i, u in enumerate(units):
        values = (u.theta_sd if sd else u.theta) or {}
        for j, name in enumerate(names):
            if name in values:
                table[i, j] = float(values[name])
    return table


def row_dict(names: Sequence[str], row: NDArray[Any]) -> dict[str, float] | None:
    """A table row back as a dict of its finite values; None when it has none."""
    values = {str(n): float(v) for n, v in zip(names, np.asarray(row, dtype=np.float64).ravel(), strict=True)
              if math.isfinite(v)}
    return values or None


def origin_of(value: object) -> UnitOrigin:
    """A stored origin label (see ``results.UnitOrigin``); anything unknown counts as "blind"."""
    return _ORIGINS.get(str(value).strip(), "blind")


def mat_struct(units: Sequence[MotorUnit]) -> dict[str, Any]:
    """The ``bmiss`` struct for ``scipy.io.savemat``: ``unit_id`` (1 × n_units), ``origin``
    (1 × n_units cell of "blind", "model", "joint"), ``theta_fields`` and ``theta_units`` (1 × n_fields
    cells: names and physical units), ``theta`` (n_units × n_fields, physical units) and
    ``theta_sd`` (n_units × n_fields, [0, 1] scale), NaN where a unit has no value."""
    names = theta_names(units)
    return {
        "unit_id": np.asarray([[u.unit_id for u in units]], dtype=np.float64).reshape(1, len(units)),
        "origin": _cell([u.origin for u in units]),
        "theta_fields": _cell(list(names)),
        "theta_units": _cell([_FIELD_UNITS.get(n, "") for n in names]),
        "theta": theta_table(units, names),
        "theta_sd": theta_table(units, names, sd=True),
    }


def from_mat_struct(struct: object, n_units: int) -> dict[int, UnitModel]:
    """Unit id → :class:`UnitModel` from a ``bmiss`` struct as :func:`~bmiss_engine.io.matlab.load_mat`
    gives it (a dict); empty when it is not one :func:`mat_struct` wrote for ``n_units`` units
    (a file another tool rewrote with other units keeps its discharges and loses this)."""
    if not isinstance(struct, dict):
        return {}
    try:
        ids = np.asarray(struct["unit_id"], dtype=np.float64).ravel()
        origins = _texts(struct["origin"])
        names = _texts(struct["theta_fields"])
        theta = np.asarray(struct["theta"], dtype=np.float64).reshape(n_units, len(names))
        theta_sd = np.asarray(struct["theta_sd"], dtype=np.float64).reshape(n_units, len(names))
    except (KeyError, TypeError, ValueError):
        return {}
    if ids.size != n_units or len(origins) != n_units:
        return {}
    return {int(uid): UnitModel(origin_of(o), row_dict(names, theta[i]), row_dict(names, theta_sd[i]))
            for i, (uid, o) in enumerate(zip(ids, origins, strict=True))}


def extras_columns(units: Sequence[MotorUnit]) -> dict[str, list[Any]]:
    """openhdemg ``EXTRAS`` columns, one row per unit: ``bmiss_origin``, then
    ``bmiss_theta_<field>`` and ``bmiss_theta_sd_<field>`` for each of :func:`theta_names`
    (None, JSON null, where a unit has no value)."""
    names = theta_names(units)
    columns: dict[str, list[Any]] = {ORIGIN_COLUMN: [u.origin for u in units]}
    for prefix, sd in ((THETA_PREFIX, False), (THETA_SD_PREFIX, True)):
        table = theta_table(units, names, sd)
        for j, name in enumerate(names):
            columns[prefix + name] = [float(v) if math.isfinite(v) else None for v in table[:, j]]
    return columns


def from_extras(columns: Mapping[str, Sequence[Any]], n_units: int) -> list[UnitModel] | None:
    """The :class:`UnitModel` of each unit, in order, from ``EXTRAS`` columns (name → values);
    None when the file has no ``bmiss_origin`` column for its units."""
    origins = list(columns.get(ORIGIN_COLUMN, ()))[:n_units]
    if len(origins) != n_units:
        return None
    # the sd prefix starts with the θ prefix: take the sd columns first
    sd_names = [c[len(THETA_SD_PREFIX):] for c in columns if c.startswith(THETA_SD_PREFIX)]
    names = [c[len(THETA_PREFIX):] for c in columns if c.startswith(THETA_PREFIX) and not c.startswith(THETA_SD_PREFIX)]
    theta = _extras_table(columns, THETA_PREFIX, names, n_units)
    theta_sd = _extras_table(columns, THETA_SD_PREFIX, sd_names, n_units)
    return [UnitModel(origin_of(o), row_dict(names, theta[i]), row_dict(sd_names, theta_sd[i]))
            for i, o in enumerate(origins)]


def _extras_table(columns: Mapping[str, Sequence[Any]], prefix: str, names: Sequence[str], n_units: int) -> NDArray[np.float64]:
    """float64 (n_units, len(names)) of the columns ``prefix + name``; NaN for null or non-numbers."""
    table = np.full((n_units, len(names)), np.nan)
    for j, name in enumerate(names):
        for i, value in enumerate(list(columns[prefix + name])[:n_units]):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                table[i, j] = float(value)
    return table


def with_unit_models(result: DecompositionResult, models: Mapping[int, UnitModel]) -> DecompositionResult:
    """``result`` with each unit whose id ``models`` holds given that origin, θ and θ's sd."""
    if not models:
        return result
    units = tuple(
        u.replace(origin=m.origin, theta=m.theta, theta_sd=m.theta_sd) if (m := models.get(u.unit_id)) else u
        for u in result.units
    )
    return DecompositionResult(units, result.sampling_rate_hz, result.n_samples, result.model, result.config,
                               result.provenance)


def unit_model_summary(u: MotorUnit) -> dict[str, Any]:
    """A unit's model information for a JSON summary: ``origin``, and ``theta`` (physical units)
    and ``theta_sd`` ([0, 1] scale) when the unit has them."""
    out: dict[str, Any] = {"origin": u.origin}
    if u.theta is not None:
        out["theta"] = dict(u.theta)
    if u.theta_sd is not None:
        out["theta_sd"] = dict(u.theta_sd)
    return out


def _cell(items: Sequence[Any]) -> NDArray[Any]:
    out = np.empty((1, len(items)), dtype=object)
    for i, item in enumerate(items):
        out[0, i] = item
    return out


def _texts(value: object) -> list[str]:
    """The strings of a loaded cell array (a lone string is one)."""
    if isinstance(value, str):
        return [value]
    return [str(v) for v in np.asarray(value, dtype=object).ravel(order="F")]
