"""The decomposition methods, one module each, behind one protocol.

A method is built from a :class:`~bmiss_engine.config.DecomposerConfig` and decomposes a
recording step by step: ``iterate(recording)`` yields :class:`~bmiss_engine.config.IterationState`
snapshots and returns the :class:`~bmiss_engine.results.DecompositionResult`; closing the
generator cancels. :class:`~bmiss_engine.decomposer.Decomposer` is the front door that picks
one by ``config.method``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Protocol

from bmiss_engine.config import DecomposerConfig, IterationState
from bmiss_engine.methods.bmiss import BmissMethod
from bmiss_engine.methods.fastica import FastIcaMethod
from bmiss_engine.methods.hybrid import HybridMethod
from bmiss_engine.methods.joint import JointMethod
from bmiss_engine.recording import Recording
from bmiss_engine.results import DecompositionResult


class DecompositionMethod(Protocol):
    """What every method implements."""

    def iterate(self, recording: Recording) -> Generator[IterationState, None, DecompositionResult]: ...


METHODS: dict[str, Callable[[DecomposerConfig], DecompositionMethod]] = {
    "fastica": FastIcaMethod,
    "hybrid": HybridMethod,
    "bmiss": BmissMethod,
    "joint": JointMethod,
}


def method_for(config: DecomposerConfig) -> DecompositionMethod:
    """The method ``config.method`` names, with ``config``."""
    return METHODS[config.method](config)


__all__ = ["METHODS", "BmissMethod", "DecompositionMethod", "FastIcaMethod", "HybridMethod", "JointMethod", "method_for"]
