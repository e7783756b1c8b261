"""Running step-by-step computations: every long computation of the engine is a generator
that yields progress snapshots and returns its result; these helpers consume them.

``drain`` runs one to its end; ``relay`` re-yields its snapshots converted to another type,
inside another generator, and hands back its result (closing the outer generator closes the
inner one, so a Cancel reaches the innermost step).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, TypeVar

Y = TypeVar("Y")
Z = TypeVar("Z")
R = TypeVar("R")


def drain(gen: Generator[Y, Any, R], on_step: Callable[[Y], None] | None = None) -> R:
    """Run ``gen`` to its end and return its value; ``on_step`` sees every yielded item."""
    while True:
        try:
            item = next(gen)
        except StopIteration as stop:
            result: R = stop.value
            return result
        if on_step is not None:
            on_step(item)


def relay(gen: Generator[Y, Any, R], convert: Callable[[Y], Z | None]) -> Generator[Z, None, R]:
    """Yield ``convert(item)`` for each item of ``gen`` (items it maps to None are skipped);
    return ``gen``'s value. Closing this generator closes ``gen``."""
    try:
        while True:
            try:
                item = next(gen)
            except StopIteration as stop:
                result: R = stop.value
                return result
            converted = convert(item)
            if converted is not None:
                yield converted
    finally:
        gen.close()
