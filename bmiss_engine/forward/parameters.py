"""Parameters of the analytic forward model, in physical units, with bounds and a map to [0, 1].

Two sets:

* :class:`MotorUnitParameters`, one value per motor unit (torch tensors of shape (n_units,)):
  where the unit lies, how fast it conducts, how long its fibres are, how large it is.
* :class:`AnatomyParameters`, shared by the units of one muscle (tensors of shape () or
  (n_units,)): layer thicknesses, conductivities, fibre direction relative to the grid.

Every field has a :class:`Bound`; :func:`to_unit_interval` and the ``from_unit_interval``
class methods map a set to and from a (n, n_fields) tensor in [0, 1] (the optimiser's space).
The map is affine per field (log-affine for the fibre count), differentiable and exactly
reversible; values outside the bounds map outside [0, 1] rather than being clipped, so the
caller decides whether to clamp.

Coordinates: z runs along the muscle fibres, x across them (medio-lateral), both in mm from
the centre of the electrode grid; depth is measured downwards from the muscle–fat interface.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import ClassVar, TypeVar

import torch
from torch import Tensor


@dataclass(frozen=True)
class Bound:
    """Range of one parameter; ``log`` maps it to [0, 1] on a logarithmic scale."""

    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        if not self.high > self.low:
            raise ValueError(f"bound needs high > low, got [{self.low}, {self.high}]")
        if self.log and self.low <= 0:
            raise ValueError("a logarithmic bound needs low > 0")

    def to_unit(self, value: Tensor) -> Tensor:
        if self.log:
            return (torch.log(value) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (value - self.low) / (self.high - self.low)

    def from_unit(self, unit: Tensor) -> Tensor:
        if self.log:
            return torch.exp(math.log(self.low) + unit * (math.log(self.high) - math.log(self.low)))
        return self.low + unit * (self.high - self.low)


_P = TypeVar("_P", bound="_BoundedSet")


@dataclass(frozen=True, eq=False)  # tensors have no single truth value: compare by identity
class _BoundedSet:
    """A frozen set of tensor-valued parameters, each field listed in ``BOUNDS``."""

    BOUNDS: ClassVar[dict[str, Bound]] = {}

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def as_dict(self) -> dict[str, Tensor]:
        return {name: getattr(self, name) for name in self.field_names()}

    @classmethod
    def from_unit_interval(cls: type[_P], unit: Tensor) -> _P:
        """Parameters from a tensor of shape (..., n_fields) in [0, 1], fields in declaration order."""
        names = cls.field_names()
        if unit.shape[-1] != len(names):
            raise ValueError(f"expected {len(names)} columns ({', '.join(names)}), got {unit.shape[-1]}")
        return cls(**{name: cls.BOUNDS[name].from_unit(unit[..., i]) for i, name in enumerate(names)})


def to_unit_interval(params: _BoundedSet) -> Tensor:
    """The parameters mapped to [0, 1], shape (..., n_fields) (fields broadcast together)."""
    cols = [params.BOUNDS[name].to_unit(value) for name, value in params.as_dict().items()]
    shape = max((c.shape for c in cols), key=len)  # fields are scalars or share one shape
    return torch.stack([c.expand(shape) for c in cols], dim=-1)


@dataclass(frozen=True, eq=False)
class MotorUnitParameters(_BoundedSet):
    """Parameters of n motor units; every field a float tensor of shape (n_units,).

    depth_mm: depth of the territory centre below the muscle–fat interface.
    ml_mm: medio-lateral (x) position of the territory centre from the grid centre.
    iz_mm: innervation zone position along the fibres (z) from the grid centre.
    cv_m_s: conduction velocity.
    semi_length_neg_mm, semi_length_pos_mm: fibre length from the innervation zone to the
        tendon on the −z and on the +z side.
    territory_radius_mm: radius of the (circular) territory in the x–y cross-section.
    n_fibres: number of fibres (normalised on a log scale).
    """

    depth_mm: Tensor
    ml_mm: Tensor
    iz_mm: Tensor
    cv_m_s: Tensor
    semi_length_neg_mm: Tensor
    semi_length_pos_mm: Tensor
    territory_radius_mm: Tensor
    n_fibres: Tensor

    BOUNDS: ClassVar[dict[str, Bound]] = {
        "depth_mm": Bound(0.0, 30.0),
        "ml_mm": Bound(-40.0, 40.0),
        "iz_mm": Bound(-60.0, 60.0),
        "cv_m_s": Bound(2.5, 6.0),
        "semi_length_neg_mm": Bound(20.0, 120.0),
        "semi_length_pos_mm": Bound(20.0, 120.0),
        "territory_radius_mm": Bound(0.5, 10.0),
        "n_fibres": Bound(10.0, 2000.0, log=True),
    }

    def __post_init__(self) -> None:
        shapes = {tuple(v.shape) for v in self.as_dict().values()}
        if len(shapes) != 1 or len(next(iter(shapes))) != 1:
            raise ValueError(f"every motor-unit parameter must have the same shape (n_units,), got {shapes}")

    @property
    def n_units(self) -> int:
        return int(self.depth_mm.shape[0])


@dataclass(frozen=True, eq=False)
class AnatomyParameters(_BoundedSet):
    """The volume conductor and its orientation; every field a float tensor of shape () (one
    muscle) or (n_units,) (one anatomy per unit, e.g. for training a surrogate).

    skin_mm, fat_mm: layer thicknesses above the muscle.
    sigma_muscle_along_s_m, sigma_muscle_across_s_m: muscle conductivity along the fibres and
        across them (the same in depth and medio-laterally).
    sigma_fat_s_m, sigma_skin_s_m: isotropic layer conductivities.
    fibre_angle_deg: angle from the grid's fibre axis to the fibres, counter-clockwise
        seen from above (positive turns the fibres from the grid's along-fibre axis towards
        its across axis).
    """

    skin_mm: Tensor
    fat_mm: Tensor
    sigma_muscle_along_s_m: Tensor
    sigma_muscle_across_s_m: Tensor
    sigma_fat_s_m: Tensor
    sigma_skin_s_m: Tensor
    fibre_angle_deg: Tensor

    BOUNDS: ClassVar[dict[str, Bound]] = {
        "skin_mm": Bound(0.5, 3.0),
        "fat_mm": Bound(0.5, 20.0),
        "sigma_muscle_along_s_m": Bound(0.2, 1.0),
        "sigma_muscle_across_s_m": Bound(0.03, 0.3),
        "sigma_fat_s_m": Bound(0.02, 0.1),
        "sigma_skin_s_m": Bound(0.1, 2.0),
        "fibre_angle_deg": Bound(-45.0, 45.0),
    }

    @classmethod
    def default(
        cls,
        skin_mm: float = 1.0,
        fat_mm: float = 2.0,
        sigma_muscle_along_s_m: float = 0.5,
        sigma_muscle_across_s_m: float = 0.1,
        sigma_fat_s_m: float = 0.05,
        sigma_skin_s_m: float = 1.0,
        fibre_angle_deg: float = 0.0,
        dtype: torch.dtype = torch.float64,
    ) -> AnatomyParameters:
        """Scalar anatomy; conductivities default to Farina & Merletti (2001)."""
        values = dict(locals())
        values.pop("cls")
        values.pop("dtype")
        return cls(**{k: torch.tensor(float(v), dtype=dtype) for k, v in values.items()})

    def __post_init__(self) -> None:
        if any(v.ndim > 1 for v in self.as_dict().values()):
            raise ValueError("anatomy parameters must be scalars or (n_units,) tensors")
