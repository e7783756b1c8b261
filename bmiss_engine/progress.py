"""Running step-by-step computations: every long computation of the engine is a generator
that yields progress snapshots and returns its result; these helpers consume them.

``drain`` runs one to its end; ``relay`` re-yields its snapshots converted to another type,
inside another generator, and hands back its result (closing the outer generator closes the
inner one, so a Cancel reaches the innermost step). ``checkpoint`` stops a computation within
an inner loop when the thread's :class:`CancelFlag` (see :func:`cancellable`) is set.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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


class Cancelled(Exception):
    """Raised by :func:`checkpoint` in a thread whose :class:`CancelFlag` is set."""


class CancelFlag:
    """A plain flag another thread sets to stop a computation at its next :func:`checkpoint`:
    within one step of an inner loop, not only between the snapshots a generator yields."""

    def __init__(self) -> None:
        self.requested = False

    def set(self) -> None:
        self.requested = True


_flag: ContextVar[CancelFlag | None] = ContextVar("bmiss_cancel_flag", default=None)


@contextmanager
def cancellable(flag: CancelFlag) -> Iterator[CancelFlag]:
    """Within this block (in this thread), :func:`checkpoint` raises :class:`Cancelled` once
    ``flag`` is set. Generators advanced inside it check the flag too."""
    token = _flag.set(flag)
    try:
        yield flag
    finally:
        _flag.reset(token)


def checkpoint() -> None:
    """Raise :class:`Cancelled` if the running thread's computation was asked to stop. Cheap:
    called in every inner loop of the engine (an Adam step, a batch of θ, a fixed-point step)."""
    flag = _flag.get()
    if flag is not None and flag.requested:
        raise Cancelled
