"""MUAP generators: map motor-unit properties to MUAPs on an electrode grid.

* ``line_source``: the simple line-source generator, the :class:`MuapGenerator` protocol and
  :class:`MotorUnitProperties` (numpy, used by the simulator by default);
* ``parameters``: the analytic model's parameter space in physical units, with bounds and a
  differentiable map to [0, 1];
* ``source``: the Rosenfalck fibre source in closed form in (kz, t);
* ``volume_conductor``: the skin–fat–anisotropic-muscle transfer function and electrode size;
* ``analytic``: the batched, differentiable torch model and its :class:`AnalyticGenerator`;
* ``cylindrical``: the multilayer cylindrical volume conductor (bone, anisotropic muscle, fat,
  skin; Farina et al. 2004) behind the same interface (:class:`CylindricalForwardModel`);
* ``surrogate``: its neural surrogate (:class:`SurrogateForwardModel`, weights in
  ``resources/surrogate/``, trained by ``bench/train_surrogate.py``).
"""

from bmiss_engine.forward.analytic import (
    AnalyticForwardModel,
    AnalyticGenerator,
    SpatialFilter,
    SpectralGrid,
    motor_unit_parameters,
)
from bmiss_engine.forward.cylindrical import (
    LIMBS,
    AxialGrid,
    CylinderGeometry,
    CylindricalForwardModel,
    CylindricalGenerator,
    LimbPreset,
)
from bmiss_engine.forward.line_source import LineSourceGenerator, MotorUnitProperties, MuapGenerator
from bmiss_engine.forward.parameters import AnatomyParameters, Bound, MotorUnitParameters, to_unit_interval
from bmiss_engine.forward.source import membrane_gradient_spectrum
from bmiss_engine.forward.surrogate import ForwardModel, SurrogateForwardModel
from bmiss_engine.forward.volume_conductor import electrode_transfer, layered_transfer

__all__ = [
    "LIMBS",
    "AnalyticForwardModel",
    "AnalyticGenerator",
    "AnatomyParameters",
    "AxialGrid",
    "Bound",
    "CylinderGeometry",
    "CylindricalForwardModel",
    "CylindricalGenerator",
    "ForwardModel",
    "LimbPreset",
    "LineSourceGenerator",
    "MotorUnitParameters",
    "MotorUnitProperties",
    "MuapGenerator",
    "SpatialFilter",
    "SpectralGrid",
    "SurrogateForwardModel",
    "electrode_transfer",
    "layered_transfer",
    "membrane_gradient_spectrum",
    "motor_unit_parameters",
    "to_unit_interval",
]
