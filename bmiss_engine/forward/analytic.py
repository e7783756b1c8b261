"""The analytic forward model: MUAPs on an electrode grid from motor-unit and anatomy parameters.

Pipeline, for n units at once (torch, differentiable in every parameter):

1. source: A(kz, t), the spatial spectrum of one average fibre's windowed ∂Vm/∂z, in closed form
   at the sampling instants (:mod:`bmiss_engine.forward.source`);
2. volume conductor: H(kx, kz) of the skin–fat–muscle layers for a unit current at the unit's
   depth, averaged over its territory, times the electrode's 2·J1(rk)/(rk)
   (:mod:`bmiss_engine.forward.volume_conductor`);
3. the potential at electrode (x, z) and instant t is

       φ = σi·π·r_f²·N · ∫∫ H·E·(j·kz)·A(kz, t)·e^(j·kx·(x − x0))·e^(j·kz·z) dkx dkz / (2π)²

   (N fibres of radius r_f, σi intracellular conductivity). The integrals are sums over
   frequency grids (below) evaluated *directly* at the electrode positions (a cosine sum in kx,
   H being even in kx, then a Hermitian half-spectrum sum in kz, done as one real matrix
   product with A); no FFT, so electrodes need not sit on a sampling lattice and x0, zi and the
   fibre angle enter smoothly. kz = 0 is left out: j·kz makes its term exactly zero.
4. spatial filter: monopolar, or single / double differential along the grid's fibre axis, as
   linear combinations of monopolar potentials at (virtual) electrodes one inter-electrode
   distance apart: SD at a channel is φ(next electrode towards +z) − φ(channel), DD is
   φ(+1) − 2φ(0) + φ(−1), centred on the channel. Electrodes beyond the grid's edge are
   evaluated by the model like any other point.

Discretisation (see :class:`SpectralGrid`): a uniform frequency step 2π/P makes the sums see
the sources repeated every P mm. Far away a unit's potential is dipolar (∝ 1/r², carried by the
lowest frequencies, where H ∝ 1/k), so with one uniform step the images cost (depth/P)²: 2 % of
the peak for a unit 15 mm deep with P = 512 mm. The 2-D integrand is therefore split by a smooth
partition of unity at |k| ≈ 0.2–0.4 rad/mm: the part near the origin is summed with a 4096 mm
period, the rest, whose field has no far-reaching dipolar part, with 512 mm along and 256 mm
across the fibres. The step of 0.5 mm caps the frequencies at π/0.5 ≈ 6.3 rad/mm, and the sums
stop earlier where e^(−k·D) < 1e-5 for the nearest fibre D mm below the electrodes. Measured
against 8× wider and 2× finer grids: ≤ 1e-4 of the MUAP peak for depths 1–25 mm under 1.5–21 mm
of skin and fat (float32 and float64 alike); against direct quadrature in the half-space,
1.5e-5 (see the tests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from bmiss_engine.forward.line_source import MotorUnitProperties
from bmiss_engine.forward.parameters import AnatomyParameters, MotorUnitParameters
from bmiss_engine.forward.source import centred_spectrum, iz_spread_factor
from bmiss_engine.forward.volume_conductor import electrode_transfer, layered_transfer
from bmiss_engine.recording import ElectrodeGrid

SpatialFilter = Literal["monopolar", "single_differential", "double_differential"]

# (offsets along the grid's fibre axis in inter-electrode distances, weights)
_FILTER_TAPS: dict[str, tuple[tuple[int, ...], tuple[float, ...]]] = {
    "monopolar": ((0,), (1.0,)),
    "single_differential": ((0, 1), (-1.0, 1.0)),
    "double_differential": ((-1, 0, 1), (1.0, -2.0, 1.0)),
}


@dataclass(frozen=True)
class SpectralGrid:
    """Spatial-frequency quadrature for the inverse transforms (trapezoid rules in kx and kz).

    A uniform step 2π/P makes the sum see sources repeated every P mm. Far from a unit its
    potential is dipolar (∝ 1/r², from the low frequencies, where H ∝ 1/k), so the images'
    error falls only as (depth/P)²: 2 % of the peak for a unit 15 mm deep with P = 512 mm. The
    integrand is therefore split by a smooth partition of unity χ(kx)·χ(kz) (χ = 1 below
    ``low_frequency_rad_mm``, a C∞ step down to 0 at twice that): χχ·f is summed with the fine
    step 2π/``low_frequency_period_mm`` (images 4 m away), (1 − χχ)·f with the coarse steps
    2π/period, which is harmless there because (1 − χχ)·f has no low frequencies, so its field
    decays fast and its images do not reach the grid. ``step_mm`` sets the highest frequency,
    π/step, and ``tolerance`` truncates earlier where e^(−k·D) is negligible for the nearest
    source.
    """

    step_mm: float = 0.5
    period_along_mm: float = 512.0
    period_across_mm: float = 256.0
    low_frequency_rad_mm: float = 0.2
    low_frequency_period_mm: float = 4096.0
    tolerance: float = 1e-5

    def cutoff_rad_mm(self, nearest_source_mm: float) -> float:
        """Highest frequency kept: where e^(−k·D) falls below ``tolerance`` for the nearest
        source at D mm below the electrodes (H decays at least that fast), capped by Nyquist."""
        nyquist = np.pi / self.step_mm
        if nearest_source_mm <= 0:
            return float(nyquist)
        return float(min(nyquist, np.log(1 / self.tolerance) / nearest_source_mm))

    def _low_weight(self, k: NDArray[np.float64]) -> NDArray[np.float64]:
        """χ(k): 1 up to k1, 0 from 2·k1, in between the C∞ step e^(−1/(1−s)) / (e^(−1/s) +
        e^(−1/(1−s))), s = k/k1 − 1: with every derivative continuous, (1 − χ)·f has a field
        that decays faster than any power of the distance."""
        s = np.clip(k / self.low_frequency_rad_mm - 1.0, 0.0, 1.0)
        with np.errstate(divide="ignore", over="ignore"):
            rise = np.where(s > 0, np.exp(-1.0 / np.where(s > 0, s, 1.0)), 0.0)
            fall = np.where(s < 1, np.exp(-1.0 / np.where(s < 1, 1.0 - s, 1.0)), 0.0)
        return np.asarray(fall / (rise + fall), dtype=np.float64)

    def blocks(self, cutoff_rad_mm: float = np.inf) -> tuple[FrequencyBlock, FrequencyBlock]:
        """The 2-D quadrature as two rectangular blocks: near the origin the fine grid with
        weights χ(kx)·χ(kz), everywhere the coarse grid with 1 − χ(kx)·χ(kz). Splitting in 2-D
        rather than per axis keeps the fine step where it is needed only: H is singular at
        k = 0 alone, so (1 − χχ)·f is smooth on the coarse grid (half the work of a per-axis
        split)."""
        out = []
        for fine in (True, False):
            along = self.period_along_mm
            across = self.period_across_mm
            if fine:
                along = across = self.low_frequency_period_mm
            kx, wx = self._uniform(across, True, cutoff_rad_mm, fine)
            kz, wz = self._uniform(along, False, cutoff_rad_mm, fine)
            low = self._low_weight(kx)[:, None] * self._low_weight(kz)[None, :]
            partition = low if fine else 1.0 - low
            out.append(FrequencyBlock(kx, kz, wx[:, None] * wz[None, :] * partition))
        return out[0], out[1]

    def _uniform(
        self, period_mm: float, with_zero: bool, cutoff_rad_mm: float, fine: bool
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Trapezoid nodes k ≥ 0 of step 2π/period and weights for the whole line (each k > 0
        also stands for −k), up to the cutoff (and, for the fine grid, up to 2·k1)."""
        step = 2 * np.pi / period_mm
        top = min(cutoff_rad_mm, 2 * self.low_frequency_rad_mm if fine else np.pi / self.step_mm)
        k = step * np.arange(0 if with_zero else 1, int(np.floor(top / step)) + 1, dtype=np.float64)
        w = np.where(k == 0, step, 2 * step)
        if not fine and k.size and np.isclose(k[-1], np.pi / self.step_mm):
            w[-1] = step  # Nyquist counted once
        return k, w


@dataclass(frozen=True)
class FrequencyBlock:
    """Nodes kx (n_kx,) and kz (n_kz,) in rad/mm and 2-D weights (n_kx, n_kz) in rad²/mm²."""

    kx_rad_mm: NDArray[np.float64]
    kz_rad_mm: NDArray[np.float64]
    weights: NDArray[np.float64]


@dataclass(frozen=True)
class _Geometry:
    """Virtual electrodes of a grid under a spatial filter.

    along_mm, across_mm: (n_points,) grid coordinates of the distinct points where the
    monopolar potential is needed; combine: (n_channels, n_points) weights giving each
    channel's filtered signal from them.
    """

    along_mm: NDArray[np.float64]
    across_mm: NDArray[np.float64]
    combine: NDArray[np.float64]

    @classmethod
    def of(cls, grid: ElectrodeGrid, spatial_filter: SpatialFilter) -> _Geometry:
        if spatial_filter not in _FILTER_TAPS:
            raise ValueError(f"unknown spatial filter {spatial_filter!r}; choose from {sorted(_FILTER_TAPS)}")
        offsets, taps = _FILTER_TAPS[spatial_filter]
        pos = grid.positions_mm()  # (n_channels, 2): along, across
        shift = np.array(offsets, dtype=np.float64)[None, :, None] * np.array([grid.ied_mm, 0.0])
        points = (pos[:, None, :] + shift).reshape(-1, 2)
        unique, inverse = np.unique(np.round(points, 9), axis=0, return_inverse=True)
        inverse = inverse.reshape(pos.shape[0], len(offsets))
        combine = np.zeros((pos.shape[0], unique.shape[0]))
        for o, tap in enumerate(taps):
            np.add.at(combine, (np.arange(pos.shape[0]), inverse[:, o]), tap)
        return cls(unique[:, 0], unique[:, 1], combine)


@dataclass(frozen=True)
class AnalyticForwardModel:
    """Renders MUAPs with the layered volume conductor (settings only; no learned state).

    electrode_radius_mm: radius of the circular electrodes (0: point electrodes).
    spatial_filter: "monopolar", "single_differential" or "double_differential" (see module doc).
    pre_s, duration_s: the MUAP window starts ``pre_s`` before the discharge and lasts
        ``duration_s``.
    iz_spread_mm, end_spread_mm: widths of the uniform spread of innervation zones and of
        tendon ends among a unit's fibres.
    fibre_radius_um, intracellular_conductivity_s_m: scale of a fibre's membrane current.
    spectral: frequency grids (accuracy against speed).
    dtype: real dtype of the computation (the result is float32).
    """

    electrode_radius_mm: float = 1.5
    spatial_filter: SpatialFilter = "monopolar"
    pre_s: float = 0.005
    duration_s: float = 0.035
    iz_spread_mm: float = 4.0
    end_spread_mm: float = 10.0
    fibre_radius_um: float = 25.0
    intracellular_conductivity_s_m: float = 1.01
    spectral: SpectralGrid = field(default_factory=SpectralGrid)
    dtype: torch.dtype = torch.float32

    def onset(self, sampling_rate_hz: float) -> int:
        """Index of the MUAP sample at which the unit discharges."""
        return round(self.pre_s * sampling_rate_hz)

    def n_samples(self, sampling_rate_hz: float) -> int:
        return round(self.duration_s * sampling_rate_hz)

    def muaps(
        self, units: MotorUnitParameters, anatomy: AnatomyParameters, grid: ElectrodeGrid, sampling_rate_hz: float
    ) -> Tensor:
        """MUAPs in volts, float32 tensor of shape (n_units, n_channels, n_samples).

        Channel k is at ``grid.channel_rc[k]``; sample ``onset(sampling_rate_hz)`` is the
        discharge. Differentiable with respect to every tensor in ``units`` and ``anatomy``;
        computed on the device of ``units`` (``anatomy`` must live there too).
        """
        dtype = self.dtype
        device = units.depth_mm.device  # the model runs where the parameters live
        spectral = self.spectral
        blocks = spectral.blocks(spectral.cutoff_rad_mm(_nearest_source_mm(units, anatomy)))
        kz_np = np.concatenate([b.kz_rad_mm for b in blocks])
        kz = torch.as_tensor(kz_np, dtype=dtype, device=device)
        t_s = torch.as_tensor(
            (np.arange(self.n_samples(sampling_rate_hz)) - self.onset(sampling_rate_hz)) / sampling_rate_hz,
            dtype=dtype, device=device,
        )
        # e^(j·kz·zi)·A, the source seen from its innervation zone: (U, T, Kz) real and imaginary
        source_re, source_im = centred_spectrum(
            kz, t_s, units.cv_m_s.to(dtype), units.semi_length_neg_mm.to(dtype), units.semi_length_pos_mm.to(dtype),
            self.end_spread_mm,
        )

        geometry = _Geometry.of(grid, self.spatial_filter)
        along = torch.as_tensor(geometry.along_mm, dtype=dtype, device=device)
        across = torch.as_tensor(geometry.across_mm, dtype=dtype, device=device)
        angle = anatomy.fibre_angle_deg.to(dtype)
        x0 = units.ml_mm.to(dtype)[:, None]  # (U, 1)
        if angle.ndim == 0 and not angle.requires_grad and float(angle) == 0.0:
            # fibres along the grid axis: one cosine sum per column serves every row
            x_unique_np, column = np.unique(geometry.across_mm, return_inverse=True)
            x_mm = torch.as_tensor(x_unique_np, dtype=dtype, device=device)[None, :]  # (1, Q)
            z_mm = along[None, :]  # (1, P)
            point_column = torch.as_tensor(column.ravel(), dtype=torch.long, device=device)
        else:
            theta = (angle * (math.pi / 180.0)).reshape(-1, 1)  # (1 or U, 1)
            # fibre coordinates of the points: z along the fibres, x across them
            z_mm = along[None, :] * torch.cos(theta) + across[None, :] * torch.sin(theta)
            x_mm = -along[None, :] * torch.sin(theta) + across[None, :] * torch.cos(theta)
            point_column = torch.arange(along.shape[0], device=device)

        # Σ over kx for every point's x: H is even in kx, so a cosine sum; (U, Q, Kz) per block
        transfer_z = []
        for block in blocks:
            kx = torch.as_tensor(block.kx_rad_mm, dtype=dtype, device=device)
            weights = block.weights * electrode_transfer(block.kx_rad_mm, block.kz_rad_mm, self.electrode_radius_mm)
            transfer = layered_transfer(
                kx, torch.as_tensor(block.kz_rad_mm, dtype=dtype, device=device), units.depth_mm.to(dtype),
                units.territory_radius_mm.to(dtype), anatomy, torch.as_tensor(weights, dtype=dtype, device=device),
            )
            transfer_z.append(torch.matmul(torch.cos((x_mm - x0)[..., None] * kx), transfer))
        along_fibre = torch.cat(transfer_z, dim=-1)[:, point_column, :]  # (U, P, Kz)

        # Σ over kz: Re[j·kz·e^(j·kz·(z − zi))·(re + j·im)] = −kz·(sin·re + cos·im), with the
        # innervation-zone spread's sinc
        iz = units.iz_mm.to(dtype)[:, None, None]
        phase = (z_mm[..., None] - iz) * kz  # (U, P, Kz)
        weighted = along_fibre * (kz * iz_spread_factor(kz, self.iz_spread_mm))
        potential = -(
            torch.matmul(weighted * torch.sin(phase), source_re.transpose(1, 2))
            + torch.matmul(weighted * torch.cos(phase), source_im.transpose(1, 2))
        )  # (U, P, T)

        scale = (
            self.intracellular_conductivity_s_m * math.pi * (self.fibre_radius_um * 1e-6) ** 2
            * 1e3  # mV/mm² of ∂²Vm/∂z² to V/m²
            / (2 * math.pi) ** 2  # the weights carry Δkx·Δkz
        )
        potential = potential * (scale * units.n_fibres.to(dtype))[:, None, None]
        combine = torch.as_tensor(geometry.combine, dtype=dtype, device=device)
        return torch.matmul(combine, potential).to(torch.float32)


def _nearest_source_mm(units: MotorUnitParameters, anatomy: AnatomyParameters) -> float:
    """A lower bound of the distance, scaled for anisotropy, from the skin to the closest
    fibre of any unit: the territory-averaged H decays at least as e^(−k·D) with this D."""
    with torch.no_grad():
        ratio = anatomy.sigma_muscle_along_s_m / anatomy.sigma_muscle_across_s_m
        slowest = float(torch.sqrt(ratio).clamp(max=1.0).min())
        depth = units.depth_mm.detach()
        closest_fibre = depth - torch.minimum(units.territory_radius_mm.detach(), depth)
        layers = anatomy.skin_mm.detach() + anatomy.fat_mm.detach()
        return float(closest_fibre.min()) * slowest + float(layers.min())


def motor_unit_parameters(
    properties: MotorUnitProperties, anatomy: AnatomyParameters, dtype: torch.dtype = torch.float64
) -> MotorUnitParameters:
    """The analytic model's parameters for units described by :class:`MotorUnitProperties`.

    ``properties.depth_mm`` is below the skin; the model's depth is below the muscle surface,
    so skin and fat are subtracted (a unit cannot lie above the muscle: clipped at 0). The
    innervation zone sits in the middle of the fibres.
    """

    def t(values: NDArray[np.float64]) -> Tensor:
        return torch.as_tensor(values, dtype=dtype)

    above_muscle = float(anatomy.skin_mm.detach().mean() + anatomy.fat_mm.detach().mean())
    half = t(properties.fibre_length_mm / 2)
    return MotorUnitParameters(
        depth_mm=t(np.clip(properties.depth_mm - above_muscle, 0.0, None)),
        ml_mm=t(properties.ml_mm),
        iz_mm=t(properties.iz_mm),
        cv_m_s=t(properties.cv_m_s),
        semi_length_neg_mm=half,
        semi_length_pos_mm=half.clone(),
        territory_radius_mm=t(properties.territory_radius_mm),
        n_fibres=t(properties.n_fibres),
    )


@dataclass(frozen=True, eq=False)
class AnalyticGenerator:
    """The analytic model behind the :class:`~bmiss_engine.forward.MuapGenerator` protocol.

    ``anatomy`` holds scalar tensors (default: :meth:`AnatomyParameters.default`); units are
    rendered ``batch_units`` at a time without gradients, to bound memory.
    """

    model: AnalyticForwardModel = field(default_factory=AnalyticForwardModel)
    anatomy: AnatomyParameters = field(default_factory=AnatomyParameters.default)
    batch_units: int = 32

    def render(
        self, units: MotorUnitProperties, grid: ElectrodeGrid, sampling_rate_hz: float
    ) -> tuple[NDArray[np.float32], int]:
        """MUAPs in volts, shape (n_units, n_channels, n_samples), and the discharge sample."""
        params = motor_unit_parameters(units, self.anatomy, self.model.dtype)
        chunks = []
        with torch.no_grad():
            for start in range(0, units.n_units, self.batch_units):
                part = MotorUnitParameters(**{k: v[start : start + self.batch_units] for k, v in params.as_dict().items()})
                chunks.append(self.model.muaps(part, self.anatomy, grid, sampling_rate_hz).numpy())
        return np.concatenate(chunks, axis=0), self.model.onset(sampling_rate_hz)
