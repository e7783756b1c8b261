"""What every edit shares: the protocol, its error, and replacing one unit of a result."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import numpy as np

from bmiss_engine.errors import BmissError
from bmiss_engine.results import DecompositionResult, MotorUnit


class EditError(BmissError):
    """An edit does not fit the result it is applied to (unknown unit, bad status, ...)."""


class Edit(Protocol):
    kind: ClassVar[str]

    @property
    def label(self) -> str: ...

    def apply(self, result: DecompositionResult) -> DecompositionResult: ...

    def as_dict(self) -> dict[str, Any]: ...


def sorted_samples(values: Any) -> tuple[int, ...]:
    """Sample indices as a sorted tuple of distinct ints."""
    return tuple(sorted({int(v) for v in np.asarray(values, dtype=np.int64).ravel()}))


def unit_of(result: DecompositionResult, unit_id: int) -> MotorUnit:
    try:
        return result.unit(unit_id)
    except KeyError:
        raise EditError(f"there is no unit {unit_id}") from None


def with_unit(result: DecompositionResult, new: MotorUnit) -> DecompositionResult:
    """``result`` with the unit of ``new``'s id replaced by ``new``."""
    return result.with_units(tuple(new if u.unit_id == new.unit_id else u for u in result.units))
