"""The edits of discharges, statuses and units, and :func:`edit_from_dict`, which turns an
edit's plain data (``edit.as_dict()``) back into the edit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.editing.base import Edit, EditError, sorted_samples, unit_of, with_unit
from bmiss_engine.editing.refilter import UpdateFilter
from bmiss_engine.results import UNIT_STATUSES, DecompositionResult, UnitStatus

# two discharges of a merged unit closer than this are one discharge seen twice
_MERGE_COINCIDENCE_S = 0.0025


@dataclass(frozen=True)
class AddDischarges:
    """Add discharges (sample indices) to one unit."""

    unit_id: int
    samples: tuple[int, ...]
    kind: ClassVar[str] = "add_discharges"

    def __post_init__(self) -> None:
        object.__setattr__(self, "samples", sorted_samples(self.samples))

    @property
    def label(self) -> str:
        return f"Add {len(self.samples)} discharge(s) to unit {self.unit_id}"

    def apply(self, result: DecompositionResult) -> DecompositionResult:
        u = unit_of(result, self.unit_id)
        s = np.asarray(self.samples, dtype=np.int64)
        if s.size and (s.min() < 0 or s.max() >= result.n_samples):
            raise EditError(f"discharges must lie in 0..{result.n_samples - 1}")
        return with_unit(result, u.replace(discharge_samples=np.union1d(u.discharge_samples, s)))

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "unit_id": self.unit_id, "samples": list(self.samples)}


@dataclass(frozen=True)
class RemoveDischarges:
    """Remove discharges (sample indices) from one unit; samples it does not have are ignored."""

    unit_id: int
    samples: tuple[int, ...]
    kind: ClassVar[str] = "remove_discharges"

    def __post_init__(self) -> None:
        object.__setattr__(self, "samples", sorted_samples(self.samples))

    @property
    def label(self) -> str:
        return f"Remove {len(self.samples)} discharge(s) from unit {self.unit_id}"

    def apply(self, result: DecompositionResult) -> DecompositionResult:
        u = unit_of(result, self.unit_id)
        kept = np.setdiff1d(u.discharge_samples, np.asarray(self.samples, dtype=np.int64))
        return with_unit(result, u.replace(discharge_samples=kept))

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "unit_id": self.unit_id, "samples": list(self.samples)}


@dataclass(frozen=True)
class DeleteUnit:
    """Remove a unit from the result altogether (rejecting keeps it visible; this does not)."""

    unit_id: int
    kind: ClassVar[str] = "delete_unit"

    @property
    def label(self) -> str:
        return f"Delete unit {self.unit_id}"

    def apply(self, result: DecompositionResult) -> DecompositionResult:
        unit_of(result, self.unit_id)
        return result.with_units(tuple(u for u in result.units if u.unit_id != self.unit_id))

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "unit_id": self.unit_id}


@dataclass(frozen=True)
class SetStatus:
    """Mark units accepted, flagged (to look at again) or rejected."""

    unit_ids: tuple[int, ...]
    status: UnitStatus
    kind: ClassVar[str] = "set_status"

    def __post_init__(self) -> None:
        object.__setattr__(self, "unit_ids", tuple(int(i) for i in self.unit_ids))
        if self.status not in UNIT_STATUSES:
            raise EditError(f"status must be one of {', '.join(UNIT_STATUSES)}, got {self.status!r}")

    @property
    def label(self) -> str:
        ids = ", ".join(str(i) for i in self.unit_ids)
        return f"Mark unit{'s' if len(self.unit_ids) > 1 else ''} {ids} {self.status}"

    def apply(self, result: DecompositionResult) -> DecompositionResult:
        for uid in self.unit_ids:
            unit_of(result, uid)
        wanted = set(self.unit_ids)
        return result.with_units(tuple(
            u.replace(status=self.status) if u.unit_id in wanted else u for u in result.units
        ))

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "unit_ids": list(self.unit_ids), "status": self.status}


@dataclass(frozen=True)
class MergeUnits:
    """Merge units into the first one listed: the union of their discharges (coincident ones
    counted once) on the first unit's pulse train and filter. The others disappear.

    The first unit is kept, not given a new id, so its row and colour stay where the user
    saw them.
    """

    unit_ids: tuple[int, ...]
    kind: ClassVar[str] = "merge_units"

    def __post_init__(self) -> None:
        ids = tuple(dict.fromkeys(int(i) for i in self.unit_ids))
        if len(ids) < 2:
            raise EditError("merging needs at least two different units")
        object.__setattr__(self, "unit_ids", ids)

    @property
    def label(self) -> str:
        return f"Merge units {', '.join(str(i) for i in self.unit_ids)} into {self.unit_ids[0]}"

    def apply(self, result: DecompositionResult) -> DecompositionResult:
        units = [unit_of(result, uid) for uid in self.unit_ids]
        keeper = units[0]
        merged = _without_coincident(
            np.concatenate([u.discharge_samples for u in units]),
            max(1, round(_MERGE_COINCIDENCE_S * result.sampling_rate_hz)),
        )
        gone = set(self.unit_ids[1:])
        new = keeper.replace(discharge_samples=merged)
        return result.with_units(tuple(
            new if u.unit_id == keeper.unit_id else u for u in result.units if u.unit_id not in gone
        ))

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "unit_ids": list(self.unit_ids)}


def _without_coincident(samples: NDArray[np.int64], tolerance: int) -> NDArray[np.int64]:
    s = np.unique(samples)
    if s.size == 0:
        return s
    keep = np.ones(s.size, dtype=bool)
    last = s[0]
    for i in range(1, s.size):
        if s[i] - last <= tolerance:
            keep[i] = False
        else:
            last = s[i]
    return s[keep]


_EDIT_TYPES: dict[str, type[Any]] = {
    cls.kind: cls for cls in (AddDischarges, RemoveDischarges, DeleteUnit, SetStatus, MergeUnits, UpdateFilter)
}


def edit_from_dict(data: dict[str, Any]) -> Edit:
    """The edit that ``edit.as_dict()`` described."""
    values = dict(data)
    kind = values.pop("kind", None)
    if kind not in _EDIT_TYPES:
        raise EditError(f"unknown edit kind {kind!r}")
    for key in ("samples", "unit_ids"):
        if key in values:
            values[key] = tuple(values[key])
    try:
        cls = _EDIT_TYPES[kind]
        # edits holding arrays read their own encoding
        edit: Edit = cls.from_dict(values) if hasattr(cls, "from_dict") else cls(**values)
    except (TypeError, ValueError, KeyError) as exc:
        raise EditError(f"bad {kind} edit: {exc}") from None
    return edit
