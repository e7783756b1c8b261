"""MUAP generators: map motor-unit properties to MUAPs on an electrode grid."""

from bmiss_engine.forward.line_source import LineSourceGenerator, MotorUnitProperties, MuapGenerator

__all__ = ["LineSourceGenerator", "MotorUnitProperties", "MuapGenerator"]
