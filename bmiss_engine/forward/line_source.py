"""A simple, physically plausible MUAP generator: line sources in an anisotropic medium.

Each fibre carries the second spatial derivative of the Rosenfalck intracellular action
potential, ``Vm(u) = 96·u³·e^(-u) - 90`` mV (u in mm behind the wavefront), as a line current
source. Two wavefronts leave the innervation zone at the conduction velocity and stop at the
fibre ends; truncating the source there gives the generation and extinction (end-of-fibre)
components. The potential at a point electrode is that of a line source in an infinite
anisotropic medium (Lorente de Nó): ``φ ∝ Σ_z I(z) / sqrt(ρ² + (σr/σz)·(z_e - z)²)``, with ρ the
transverse distance. A motor unit is the sum over fibres spread over its territory, with
innervation-zone and length jitter.

It has no fat or skin layer and no electrode size: the layered volume conductor of the
forward-model issue replaces it behind the same ``MuapGenerator`` interface.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.recording import ElectrodeGrid

# Scale from the dimensionless sum to volts, chosen so that one fibre 3 mm under an electrode
# gives about 1 µV peak to peak (a 300-fibre superficial unit: a few hundred µV).
_VOLTS_PER_UNIT_SOURCE = 1.1e-6 / 80.0


@dataclass(frozen=True)
class MotorUnitProperties:
    """Properties of n motor units, each field an array of shape (n_units,).

    depth_mm: depth of the territory centre below the skin; ml_mm: medio-lateral offset
    from the grid centre; iz_mm: innervation zone along the fibres from the grid centre;
    cv_m_s: conduction velocity; fibre_length_mm: mean fibre length (the IZ sits at its
    middle); territory_radius_mm; n_fibres.
    """

    depth_mm: NDArray[np.float64]
    ml_mm: NDArray[np.float64]
    iz_mm: NDArray[np.float64]
    cv_m_s: NDArray[np.float64]
    fibre_length_mm: NDArray[np.float64]
    territory_radius_mm: NDArray[np.float64]
    n_fibres: NDArray[np.float64]

    def __post_init__(self) -> None:
        n = None
        for f in fields(self):
            arr = np.atleast_1d(np.asarray(getattr(self, f.name), dtype=np.float64))
            object.__setattr__(self, f.name, arr)
            if n is not None and arr.shape != (n,):
                raise ValueError(f"{f.name} has shape {arr.shape}, expected ({n},)")
            n = arr.shape[0]

    @property
    def n_units(self) -> int:
        return int(self.depth_mm.shape[0])

    def as_dict(self) -> dict[str, NDArray[np.float64]]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class MuapGenerator(Protocol):
    """Anything that renders MUAPs on a grid."""

    def render(
        self, units: MotorUnitProperties, grid: ElectrodeGrid, sampling_rate_hz: float
    ) -> tuple[NDArray[np.float32], int]:
        """MUAPs in volts, shape (n_units, n_channels, n_muap_samples), and the index of the
        sample at which the unit discharges (the innervation zone fires)."""
        ...


def _rosenfalck_source(u_mm: NDArray[np.float64]) -> NDArray[np.float64]:
    """d²Vm/du² of the Rosenfalck potential (mV/mm²); zero ahead of the wavefront (u < 0)."""
    u = np.clip(u_mm, 0.0, None)
    out = 96.0 * (6 * u - 6 * u**2 + u**3) * np.exp(-u)
    return np.where(u_mm >= 0, out, 0.0)


@dataclass(frozen=True)
class LineSourceGenerator:
    """Renders MUAPs with the line-source model.

    ``n_sim_fibres`` fibres per unit are simulated and scaled to the unit's fibre count;
    ``anisotropy`` is σ_radial / σ_axial; ``seed`` fixes the fibre placement.
    """

    n_sim_fibres: int = 16
    anisotropy: float = 0.2
    dz_mm: float = 0.5
    pre_s: float = 0.005
    duration_s: float = 0.040
    iz_jitter_mm: float = 2.0
    length_jitter: float = 0.05
    seed: int = 0

    def render(
        self, units: MotorUnitProperties, grid: ElectrodeGrid, sampling_rate_hz: float
    ) -> tuple[NDArray[np.float32], int]:
        rng = np.random.default_rng(self.seed)
        pos = grid.positions_mm()  # (n_channels, 2): along, across
        pre = round(self.pre_s * sampling_rate_hz)
        n_t = round(self.duration_s * sampling_rate_hz)
        t_s = (np.arange(n_t) - pre) / sampling_rate_hz
        muaps = np.zeros((units.n_units, grid.n_channels, n_t), dtype=np.float64)
        for k in range(units.n_units):
            r = units.territory_radius_mm[k] * np.sqrt(rng.random(self.n_sim_fibres))
            a = 2 * np.pi * rng.random(self.n_sim_fibres)
            fib_x = units.ml_mm[k] + r * np.cos(a)
            fib_y = np.maximum(units.depth_mm[k] + r * np.sin(a), 0.5)
            fib_iz = units.iz_mm[k] + self.iz_jitter_mm * (2 * rng.random(self.n_sim_fibres) - 1)
            fib_len = units.fibre_length_mm[k] * (1 + self.length_jitter * rng.standard_normal(self.n_sim_fibres))
            v_mm_s = units.cv_m_s[k] * 1e3
            acc = np.zeros((grid.n_channels, n_t))
            for f in range(self.n_sim_fibres):
                half = fib_len[f] / 2
                z = np.arange(fib_iz[f] - half, fib_iz[f] + half, self.dz_mm)  # (n_z,)
                front = v_mm_s * np.clip(t_s, 0, None)  # distance travelled by each front
                right = fib_iz[f] + front[:, None] - z[None, :]  # u behind the right-going front
                left = z[None, :] - (fib_iz[f] - front[:, None])
                source = np.where(z[None, :] >= fib_iz[f], _rosenfalck_source(right), _rosenfalck_source(left))
                source[t_s < 0] = 0.0
                # only the part of each front still inside the fibre exists
                source[:, (z < fib_iz[f] - half) | (z > fib_iz[f] + half)] = 0.0
                dz_e = pos[:, 0][None, :] - z[:, None]  # (n_z, n_channels)
                rho2 = (pos[:, 1][None, :] - fib_x[f]) ** 2 + fib_y[f] ** 2
                kernel = 1.0 / np.sqrt(rho2 + self.anisotropy * dz_e**2)
                acc += (source @ kernel).T * self.dz_mm
            muaps[k] = acc * (units.n_fibres[k] / self.n_sim_fibres) * _VOLTS_PER_UNIT_SOURCE
        return muaps.astype(np.float32), pre
