"""BMISS engine: HD-sEMG decomposition into motor units. Imports no GUI toolkit."""

__version__ = "0.1.0"

from bmiss_engine.decomposer import Decomposer, DecomposerConfig, IterationState
from bmiss_engine.errors import AnatomyError, BmissError, ConfigError, DecompositionError, RecordingFormatError
from bmiss_engine.recording import ElectrodeGrid, Recording
from bmiss_engine.results import DecompositionResult, MotorUnit, SeparationModel

__all__ = [
    "AnatomyError",
    "BmissError",
    "ConfigError",
    "Decomposer",
    "DecomposerConfig",
    "DecompositionError",
    "DecompositionResult",
    "ElectrodeGrid",
    "IterationState",
    "MotorUnit",
    "Recording",
    "RecordingFormatError",
    "SeparationModel",
    "__version__",
]
