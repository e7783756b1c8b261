"""Edits of a decomposition result as small frozen objects, and their history (undo/redo).

Each edit is a value with ``apply(result) -> result`` and a human ``label``; results are
immutable, so applying never changes its input. Quality figures (SIL, PNR, rate, CoV ISI) are
properties of :class:`MotorUnit`, so an edited unit reports them for its edited discharges
without any bookkeeping here.

:class:`EditHistory` keeps the result before every edit, so undo restores it exactly (same
arrays, not a recomputation); a new edit after undo drops the redo branch, as phy's
``History`` does. ``history.log`` is plain data (a list of dicts) that
:func:`edit_from_dict` turns back into edits, so a review can be saved and replayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.errors import BmissError
from bmiss_engine.results import DecompositionResult, MotorUnit, UnitStatus

_STATUSES: tuple[UnitStatus, ...] = ("accepted", "flagged", "rejected")
# two discharges of a merged unit closer than this are one discharge seen twice
_MERGE_COINCIDENCE_S = 0.0025


class EditError(BmissError):
    """An edit does not fit the result it is applied to (unknown unit, bad status, ...)."""


class Edit(Protocol):
    kind: ClassVar[str]

    @property
    def label(self) -> str: ...

    def apply(self, result: DecompositionResult) -> DecompositionResult: ...

    def as_dict(self) -> dict[str, Any]: ...


def _samples(values: Any) -> tuple[int, ...]:
    return tuple(sorted({int(v) for v in np.asarray(values, dtype=np.int64).ravel()}))


def _unit(result: DecompositionResult, unit_id: int) -> MotorUnit:
    try:
        return result.unit(unit_id)
    except KeyError:
        raise EditError(f"there is no unit {unit_id}") from None


def _replace_unit(result: DecompositionResult, new: MotorUnit) -> DecompositionResult:
    return result.with_units(tuple(new if u.unit_id == new.unit_id else u for u in result.units))


@dataclass(frozen=True)
class AddDischarges:
    """Add discharges (sample indices) to one unit."""

    unit_id: int
    samples: tuple[int, ...]
    kind: ClassVar[str] = "add_discharges"

    def __post_init__(self) -> None:
        object.__setattr__(self, "samples", _samples(self.samples))

    @property
    def label(self) -> str:
        return f"Add {len(self.samples)} discharge(s) to unit {self.unit_id}"

    def apply(self, result: DecompositionResult) -> DecompositionResult:
        u = _unit(result, self.unit_id)
        s = np.asarray(self.samples, dtype=np.int64)
        if s.size and (s.min() < 0 or s.max() >= result.n_samples):
            raise EditError(f"discharges must lie in 0..{result.n_samples - 1}")
        return _replace_unit(result, u.replace(discharge_samples=np.union1d(u.discharge_samples, s)))

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "unit_id": self.unit_id, "samples": list(self.samples)}


@dataclass(frozen=True)
class RemoveDischarges:
    """Remove discharges (sample indices) from one unit; samples it does not have are ignored."""

    unit_id: int
    samples: tuple[int, ...]
    kind: ClassVar[str] = "remove_discharges"

    def __post_init__(self) -> None:
        object.__setattr__(self, "samples", _samples(self.samples))

    @property
    def label(self) -> str:
        return f"Remove {len(self.samples)} discharge(s) from unit {self.unit_id}"

    def apply(self, result: DecompositionResult) -> DecompositionResult:
        u = _unit(result, self.unit_id)
        kept = np.setdiff1d(u.discharge_samples, np.asarray(self.samples, dtype=np.int64))
        return _replace_unit(result, u.replace(discharge_samples=kept))

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
        _unit(result, self.unit_id)
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
        if self.status not in _STATUSES:
            raise EditError(f"status must be one of {', '.join(_STATUSES)}, got {self.status!r}")

    @property
    def label(self) -> str:
        ids = ", ".join(str(i) for i in self.unit_ids)
        return f"Mark unit{'s' if len(self.unit_ids) > 1 else ''} {ids} {self.status}"

    def apply(self, result: DecompositionResult) -> DecompositionResult:
        for uid in self.unit_ids:
            _unit(result, uid)
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
        units = [_unit(result, uid) for uid in self.unit_ids]
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
    cls.kind: cls for cls in (AddDischarges, RemoveDischarges, DeleteUnit, SetStatus, MergeUnits)
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
        edit: Edit = _EDIT_TYPES[kind](**values)
    except TypeError as exc:
        raise EditError(f"bad {kind} edit: {exc}") from None
    return edit


class EditHistory:
    """Undo/redo over immutable results.

    ``current`` is the result after the edits done so far. ``do`` applies an edit (an invalid
    one raises :class:`EditError` and changes nothing) and drops anything that could have been
    redone; ``undo``/``redo`` move along the stored states and return the new current result.
    """

    def __init__(self, initial: DecompositionResult) -> None:
        self._states: list[DecompositionResult] = [initial]
        self._edits: list[Edit] = []
        self._position = 0  # index into _states of the current result

    @classmethod
    def from_log(
        cls, initial: DecompositionResult, log: list[dict[str, Any]] | tuple[dict[str, Any], ...],
        redo_log: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
    ) -> EditHistory:
        """The history a saved review describes: ``log`` (``history.log``) replayed on
        ``initial``, then ``redo_log`` (``history.redo_log``) replayed and undone, so undo and
        redo reach the same results as before saving. Raises :class:`EditError` for a log
        that does not fit ``initial``."""
        history = cls(initial)
        for entry in (*log, *redo_log):
            history.do(edit_from_dict(entry))
        for _ in redo_log:
            history.undo()
        return history

    @property
    def current(self) -> DecompositionResult:
        return self._states[self._position]

    @property
    def initial(self) -> DecompositionResult:
        return self._states[0]

    @property
    def can_undo(self) -> bool:
        return self._position > 0

    @property
    def can_redo(self) -> bool:
        return self._position < len(self._edits)

    @property
    def undo_label(self) -> str | None:
        return self._edits[self._position - 1].label if self.can_undo else None

    @property
    def redo_label(self) -> str | None:
        return self._edits[self._position].label if self.can_redo else None

    @property
    def edits(self) -> tuple[Edit, ...]:
        """The edits that lead from ``initial`` to ``current``."""
        return tuple(self._edits[: self._position])

    @property
    def log(self) -> list[dict[str, Any]]:
        """``edits`` as plain data (JSON-ready)."""
        return [e.as_dict() for e in self.edits]

    @property
    def redo_log(self) -> list[dict[str, Any]]:
        """The edits undone that ``redo`` would apply again, next first, as plain data."""
        return [e.as_dict() for e in self._edits[self._position :]]

    def do(self, edit: Edit) -> DecompositionResult:
        new = edit.apply(self.current)
        del self._states[self._position + 1 :]
        del self._edits[self._position :]
        self._states.append(new)
        self._edits.append(edit)
        self._position += 1
        return new

    def undo(self) -> DecompositionResult:
        if self.can_undo:
            self._position -= 1
        return self.current

    def redo(self) -> DecompositionResult:
        if self.can_redo:
            self._position += 1
        return self.current


def replay(initial: DecompositionResult, log: list[dict[str, Any]]) -> DecompositionResult:
    """Apply a saved edit log to ``initial``."""
    result = initial
    for entry in log:
        result = edit_from_dict(entry).apply(result)
    return result


def discharges_in_box(
    unit: MotorUnit, start_sample: float, stop_sample: float, low: float, high: float
) -> NDArray[np.int64]:
    """The unit's discharges between two samples whose pulse-train height lies in [low, high]
    (what a box drawn over the pulse-train plot encloses)."""
    d = unit.discharge_samples
    heights = unit.pulse_train[np.clip(d, 0, unit.pulse_train.size - 1)]
    inside = (d >= start_sample) & (d <= stop_sample) & (heights >= low) & (heights <= high)
    return np.asarray(d[inside], dtype=np.int64)


def largest_peak(unit: MotorUnit, start_sample: float, stop_sample: float) -> int | None:
    """The sample of the highest pulse-train value between two samples that is not already a
    discharge of the unit; None when the range holds no sample."""
    n = unit.pulse_train.size
    a, b = max(0, int(np.ceil(start_sample))), min(n, int(np.floor(stop_sample)) + 1)
    if b <= a:
        return None
    segment = np.array(unit.pulse_train[a:b], dtype=np.float64)
    taken = unit.discharge_samples[(unit.discharge_samples >= a) & (unit.discharge_samples < b)] - a
    segment[taken] = -np.inf
    if not np.isfinite(segment).any():
        return None
    return a + int(np.argmax(segment))


__all__ = [
    "AddDischarges",
    "DeleteUnit",
    "Edit",
    "EditError",
    "EditHistory",
    "MergeUnits",
    "RemoveDischarges",
    "SetStatus",
    "discharges_in_box",
    "edit_from_dict",
    "largest_peak",
    "replay",
]
