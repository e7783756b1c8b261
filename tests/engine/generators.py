"""Run a decomposition generator to its end, keeping every state it yields."""

from __future__ import annotations

from collections.abc import Generator
from typing import TypeVar

S = TypeVar("S")
R = TypeVar("R")


def states_and_result(gen: Generator[S, None, R]) -> tuple[list[S], R]:
    """Every yielded state, in order, and the generator's return value."""
    states: list[S] = []
    while True:
        try:
            states.append(next(gen))
        except StopIteration as stop:
            return states, stop.value
