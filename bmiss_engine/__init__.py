"""BMISS engine: HD-sEMG decomposition into motor units. Imports no GUI toolkit.

``Decomposer`` is imported on first use: it brings torch and SciPy's statistics (about 3 s
on a small machine), which reading files, settings and results do not need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bmiss_engine.config import (
    DEFAULT_METHOD,
    AcceptanceSettings,
    DecomposerConfig,
    InversionSettings,
    IterationState,
    JointSettings,
    SeparationSettings,
)
from bmiss_engine.errors import AnatomyError, BmissError, ConfigError, DecompositionError, RecordingFormatError
from bmiss_engine.recording import ElectrodeGrid, Recording
from bmiss_engine.results import DecompositionResult, MotorUnit, SeparationModel
from bmiss_engine.version import __version__

if TYPE_CHECKING:
    from bmiss_engine.decomposer import Decomposer


def __getattr__(name: str) -> Any:
    if name == "Decomposer":
        from bmiss_engine.decomposer import Decomposer

        return Decomposer
    raise AttributeError(f"module 'bmiss_engine' has no attribute {name!r}")


__all__ = [
    "DEFAULT_METHOD",
    "AcceptanceSettings",
    "AnatomyError",
    "BmissError",
    "ConfigError",
    "Decomposer",
    "DecomposerConfig",
    "DecompositionError",
    "DecompositionResult",
    "ElectrodeGrid",
    "InversionSettings",
    "IterationState",
    "JointSettings",
    "MotorUnit",
    "Recording",
    "RecordingFormatError",
    "SeparationModel",
    "SeparationSettings",
    "__version__",
]
