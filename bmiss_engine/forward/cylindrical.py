"""Multilayer cylindrical volume conductor: bone, anisotropic muscle, fat and skin (Farina,
Mesin, Martina & Merletti 2004, IEEE TBME 51(3):415–426; Blok et al. 2002 for three layers).

Geometry: concentric cylinders around the z axis (the fibre direction): bone ρ < a (σb),
muscle a < ρ < b (σρ radially and angularly, σz along the fibres), fat b < ρ < c (σf), skin
c < ρ < d (σs), the skin surface insulated. Radii in mm; ``a = 0`` means no bone.

Transfer function. Transform along z (kz, rad/mm) and expand in angle (harmonic n). In a layer
of radial conductivity σ the potential is A·I_n(κρ) + B·K_n(κρ), κ = |kz| in isotropic layers
and κ = |kz|·√(σz/σρ) in the muscle. A unit point current at (ρ0, φ0) in the muscle adds the
primary term (1/σρ)·I_n(κρ<)·K_n(κρ>) (the Green's function of σρ·∇⊥² − σz·kz²: the jump of
σρ·∂ρ at ρ0 is −1/ρ0, the Wronskian of I_n and K_n is 1/x). Potential and radial current are
continuous at every interface and the radial current is zero at ρ = d. The system is solved
from the outside in with admittances Y = σ·∂ρΦ/Φ (Y(d) = 0):

    in a layer [r_i, r_o] of (σ, κ), with L_I = I_n'/I_n, L_K = K_n'/K_n at x = κr:
      u   = (Y(r_o) − σκ·L_K(x_o)) / (σκ·L_I(x_o) − Y(r_o))         (reflection at r_o)
      q   = I_n(x_i)·K_n(x_o) / (I_n(x_o)·K_n(x_i))                  (≤ 1: two decays)
      Y(r_i) = σκ·(L_K(x_i) + u·q·L_I(x_i)) / (1 + u·q)
      Φ(r_o)/Φ(r_i) = K_n(x_o)/K_n(x_i) · (1 + u)/(1 + u·q)

for skin then fat; u_b, the muscle's reflection at b, follows from Y(b) the same way. The bone
reflects with v_a = (σρκ·L_I(κa) − Y_a)/(Y_a − σρκ·L_K(κa)), Y_a = σb·|kz|·L_I(|kz|·a). With
D = v_a·u_b·I_n(κa)K_n(κb)/(K_n(κa)I_n(κb)) the potential on the skin is

    H(kz, n; ρ0) = α(kz, n)·I_n(κρ0)/I_n(κb) + β(kz, n)·K_n(κρ0)/K_n(κa)
    α = T·(1 + u_b)/(1 − D)·I_n(κb)K_n(κb)/σρ,   β = T·(1 + u_b)/(1 − D)·v_a·I_n(κa)K_n(κb)/σρ

with T = Φ(d)/Φ(b) the product of the fat and skin transfers (β = 0 without bone). Every
factor is a ratio in which the exponentials of I_n and K_n cancel or decay, so nothing
overflows for any kz·r; α and β depend on the geometry only and are computed once per limb
(float64, cached), the two ratios per unit. log I_n and log K_n come from the ratio
recurrences (I_{n+1}/I_n backwards from an asymptotic start, K_{n+1}/K_n forwards from K_0 and
K_1), so they hold for any order and argument (scipy's ive/kve under- and overflow there).

Units and sums. H is in (S/m)⁻¹; for a radius R → ∞, R·H(kz, n = kx·R) tends to the planar
H(kx, kz) of :mod:`~bmiss_engine.forward.volume_conductor` (checked in the tests). The
potential at the electrode (φ, z) on the skin is, as in the planar model with ∫dkx → Σ_n,

    φ = σi·π·r_f²·N · Σ_n ∫ H·E·(j·kz)·A(kz, t)·e^(j·n·(φ − φ0))·e^(j·kz·z) dkz / (2π)²

(H even in n and kz: a cosine sum over n ≥ 0 and a Hermitian half-spectrum in kz, both done as
in :mod:`~bmiss_engine.forward.analytic`). The angular sum is exact (a Fourier series, cut
where e^(−n·D/d) < tolerance for the nearest fibre D mm under the skin). The kz integral uses
the midpoint rule: in a limb of finite radius the n = 0 term behaves as 1/kz² near kz = 0 (a
fibre's end-of-fibre dipole raises a far potential that tends to different constants at
z → ±∞, the "standing" far field of a limb), the integrand tends to a finite, non-zero value
there, and the midpoint rule (no node at 0) represents the step exactly within half a period.
A 512 mm period serves limbs up to about 20 mm in radius; wider limbs sum their low
frequencies with a longer period, split off by a smooth partition of unity as in
:class:`~bmiss_engine.forward.analytic.SpectralGrid` (see :class:`AxialGrid`).

Territory. Fibres spread uniformly over a disc of radius R around (ρ0, φ0) in the
cross-section: by Graf's addition theorem the mean of I_n(κρ)e^(−jnφ) (and of K_n) over the
disc is its value at the centre times 2·I1(κR)/(κR) — the planar model's factor. The disc is
kept inside the muscle (R ≤ b − ρ0 and R ≤ ρ0 − a).

Electrodes: circular of radius r, 2·J1(r·k)/(r·k) with k = √(kz² + (n/d)²), or rectangular
(a along z, w around), sinc(kz·a/2)·sinc((n/d)·w/2) (the planar size filters, the angular
frequency n/d on the skin).

Fast path. Per call, a unit costs the two Bessel ratios at its radius, I_n(κρ0)/I_n(κb) and
K_n(κρ0)/K_n(κa), for every (kz, n): recurrences of some 100 small steps. With
``radial_step_mm`` set, the point-source transfer H(kz, n; ρ0) they make is read instead from a
table over the muscle's radii built once per limb: cubic Hermite pieces of log H, with its
exact slope (H > 0: for each (kz, n) it is the Green's function of a radial Sturm–Liouville
problem with positive coefficients). The MUAPs change by about 1e-8 relative
(bench/cylinder_fast_path.py).

Motor units use :class:`~bmiss_engine.forward.parameters.MotorUnitParameters` unchanged:
``depth_mm`` is below the muscle surface (ρ0 = b − depth), ``ml_mm`` the arc length on the skin
from the grid's centre line (φ0 = ml/d), so the model serves the inversion like the planar one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import numpy as np
import torch
from numpy.typing import NDArray
from scipy import special
from torch import Tensor

from bmiss_engine.forward.analytic import SpatialFilter, _Geometry, motor_unit_parameters
from bmiss_engine.forward.line_source import MotorUnitProperties
from bmiss_engine.forward.parameters import AnatomyParameters, Bound, MotorUnitParameters
from bmiss_engine.forward.source import centred_spectrum, iz_spread_factor
from bmiss_engine.recording import ElectrodeGrid

ElectrodeShape = Literal["circular", "rectangular"]

# steps of the backward I_{n+1}/I_n recurrence above the highest order needed: started from
# the Amos-type approximation x/(ν − ½ + √((ν + ½)² + x²)), 30 steps leave < 1e-8 in log I_n
# for x up to 1200 and n up to 100 (against scipy's ive where it does not underflow)
_RECURRENCE_EXTRA = 30
# the innermost radius a unit's centre may take (log I_n(κρ) → −∞ at the axis)
_MIN_RADIUS_MM = 0.25
# θ bounds of the inversion (:meth:`CylindricalForwardModel.unit_bounds`): a unit's centre stays
# this far outside the bone (or the axis), clear of the clamp at _MIN_RADIUS_MM; and a grid on
# an arc sees units this far beyond its outer columns (the planar model's ±40 mm is a 13×5
# grid's half-width, 16 mm, plus 24 mm)
DEPTH_MARGIN_MM = 1.0
VISIBLE_BEYOND_GRID_MM = 24.0


@dataclass(frozen=True)
class LimbPreset:
    """A default limb for the cylinder where there is no MRI (mm): the limb's (skin) radius, a
    central bone's radius, and the fat and skin above the muscle."""

    skin_radius_mm: float
    bone_radius_mm: float
    fat_mm: float
    skin_mm: float

    @property
    def muscle_radius_mm(self) -> float:
        return self.skin_radius_mm - self.fat_mm - self.skin_mm


# the default limbs; the sources of the figures are given with their torch-free copy,
# bmiss_engine.config.LIMB_PRESETS (tests/engine/test_cylinder_wiring.py checks they agree)
LIMBS: dict[str, LimbPreset] = {
    "forearm": LimbPreset(skin_radius_mm=41.0, bone_radius_mm=9.0, fat_mm=3.0, skin_mm=1.2),
    "thigh": LimbPreset(skin_radius_mm=83.0, bone_radius_mm=13.5, fat_mm=8.0, skin_mm=1.5),
}


# -- modified Bessel functions of every order, in log form ------------------------------------
def log_bessel_i(x: Tensor, n_max: int) -> tuple[Tensor, Tensor]:
    """log I_n(x) for n = 0 … n_max, and the ratios I_{n+1}(x)/I_n(x); both of shape
    (*x.shape, n_max + 1). x > 0, any size (no overflow: I_0 enters as log(i0e(x)) + x).

    The ratios come from the backward recurrence r_m = 1/(2m/x + r_{m+1}) (r_m = I_m/I_{m−1},
    the minimal solution, stable backwards), started ``_RECURRENCE_EXTRA`` orders higher.
    Differentiable in x.
    """
    start = n_max + 1 + _RECURRENCE_EXTRA
    nu = float(start + 1)
    ratio = x / (nu - 0.5 + torch.sqrt((nu + 0.5) ** 2 + x * x))
    kept: list[Tensor] = []
    for m in range(start, 0, -1):
        ratio = 1.0 / (2.0 * m / x + ratio)
        if m <= n_max + 1:
            kept.append(ratio)
    kept.reverse()  # kept[j] = I_{j+1}/I_j
    ratios = torch.stack(kept, dim=-1)
    log0 = (torch.log(torch.special.i0e(x)) + x)[..., None]
    log_i = torch.cat([log0, log0 + torch.cumsum(torch.log(ratios[..., :-1]), dim=-1)], dim=-1)
    return log_i, ratios


def _scaled_k01(x: Tensor) -> tuple[Tensor, Tensor]:
    """e^x·K_0(x) and e^x·K_1(x) with their first derivatives for autograd (torch's own have no
    gradient): value + (x − x̄)·derivative, both factors detached, is exact to first order."""
    k0 = torch.special.scaled_modified_bessel_k0(x.detach())
    k1 = torch.special.scaled_modified_bessel_k1(x.detach())
    if not x.requires_grad:
        return k0, k1
    step = x - x.detach()
    return k0 + step * (k0 - k1), k1 + step * (k1 * (1.0 - 1.0 / x.detach()) - k0)


def log_bessel_k(x: Tensor, n_max: int) -> tuple[Tensor, Tensor]:
    """log K_n(x) for n = 0 … n_max, and the ratios K_{n+1}(x)/K_n(x); both of shape
    (*x.shape, n_max + 1). The forward recurrence s_{m+1} = 1/s_m + 2m/x (K grows with the
    order: the dominant solution, stable forwards) from s_1 = K_1/K_0."""
    k0, k1 = _scaled_k01(x)
    ratio = k1 / k0
    kept = [ratio]
    for m in range(1, n_max + 1):
        ratio = 1.0 / ratio + 2.0 * m / x
        kept.append(ratio)
    ratios = torch.stack(kept, dim=-1)
    log0 = (torch.log(k0) - x)[..., None]
    log_k = torch.cat([log0, log0 + torch.cumsum(torch.log(ratios[..., :-1]), dim=-1)], dim=-1)
    return log_k, ratios


@dataclass(frozen=True)
class _Bessel:
    """log I_n, log K_n and the log-derivatives L_I = I_n'/I_n, L_K = K_n'/K_n at x, each of
    shape (*x.shape, n_max + 1)."""

    log_i: Tensor
    log_k: Tensor
    d_i: Tensor
    d_k: Tensor

    @classmethod
    def at(cls, x: Tensor, n_max: int) -> _Bessel:
        log_i, ratio_i = log_bessel_i(x, n_max)
        log_k, ratio_k = log_bessel_k(x, n_max)
        n_over_x = torch.arange(n_max + 1, dtype=x.dtype, device=x.device) / x[..., None]
        # I_n' = I_{n+1} + (n/x)·I_n and K_n' = −K_{n+1} + (n/x)·K_n
        return cls(log_i, log_k, ratio_i + n_over_x, n_over_x - ratio_k)


# -- geometry ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CylinderGeometry:
    """The limb's layers: radii in mm, conductivities in S/m.

    muscle_radius_mm: radius of the muscle–fat interface (b); fat_mm, skin_mm: thicknesses;
    bone_radius_mm: a (0: no bone; then the muscle fills the core).
    """

    muscle_radius_mm: float
    fat_mm: float
    skin_mm: float
    bone_radius_mm: float = 0.0
    sigma_bone_s_m: float = 0.02
    sigma_muscle_radial_s_m: float = 0.1
    sigma_muscle_axial_s_m: float = 0.5
    sigma_fat_s_m: float = 0.05
    sigma_skin_s_m: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.bone_radius_mm < self.muscle_radius_mm - _MIN_RADIUS_MM:
            raise ValueError(f"need 0 ≤ bone radius < muscle radius, got {self.bone_radius_mm}, {self.muscle_radius_mm}")
        if self.fat_mm < 0 or self.skin_mm < 0:
            raise ValueError("layer thicknesses must be ≥ 0")
        sigmas = (self.sigma_bone_s_m, self.sigma_muscle_radial_s_m, self.sigma_muscle_axial_s_m, self.sigma_fat_s_m,
                  self.sigma_skin_s_m)
        if min(sigmas) <= 0:
            raise ValueError("conductivities must be > 0")

    @property
    def skin_radius_mm(self) -> float:
        """d: the radius of the skin surface, where the electrodes lie."""
        return self.muscle_radius_mm + self.fat_mm + self.skin_mm

    @property
    def anisotropy(self) -> float:
        """√(σz/σρ): κ = |kz|·anisotropy in the muscle."""
        return math.sqrt(self.sigma_muscle_axial_s_m / self.sigma_muscle_radial_s_m)

    @classmethod
    def from_anatomy(
        cls, anatomy: AnatomyParameters, muscle_radius_mm: float, bone_radius_mm: float = 0.0,
        sigma_bone_s_m: float = 0.02,
    ) -> CylinderGeometry:
        """The cylinder of a (scalar) :class:`AnatomyParameters`: its skin and fat thickness and
        conductivities (across the fibres: radial and angular; along them: axial)."""
        values = {}
        for name in ("skin_mm", "fat_mm", "sigma_muscle_along_s_m", "sigma_muscle_across_s_m", "sigma_fat_s_m",
                     "sigma_skin_s_m"):
            value = getattr(anatomy, name)
            if value.ndim != 0:
                raise ValueError("the cylindrical model takes one anatomy for all units (scalar tensors)")
            values[name] = float(value.detach())
        return cls(
            muscle_radius_mm=muscle_radius_mm, fat_mm=values["fat_mm"], skin_mm=values["skin_mm"],
            bone_radius_mm=bone_radius_mm, sigma_bone_s_m=sigma_bone_s_m,
            sigma_muscle_radial_s_m=values["sigma_muscle_across_s_m"],
            sigma_muscle_axial_s_m=values["sigma_muscle_along_s_m"], sigma_fat_s_m=values["sigma_fat_s_m"],
            sigma_skin_s_m=values["sigma_skin_s_m"],
        )


@dataclass(frozen=True)
class LayerTransfer:
    """What depends on the geometry alone, for axial frequencies kz (K,) and harmonics
    n = 0 … n_max: α and β (K, n_max + 1) in (S/m)⁻¹, and the normalisers log I_n(κb) and
    log K_n(κa) (K, n_max + 1; the latter None without bone). float64 numpy arrays."""

    kz_rad_mm: NDArray[np.float64]
    alpha: NDArray[np.float64]
    beta: NDArray[np.float64] | None
    log_i_muscle_surface: NDArray[np.float64]
    log_k_bone_surface: NDArray[np.float64] | None


def layer_transfer(geometry: CylinderGeometry, kz_rad_mm: NDArray[np.float64], n_max: int) -> LayerTransfer:
    """α, β of the module docstring for kz > 0 (K,) and n = 0 … n_max (float64)."""
    g = geometry
    k = torch.as_tensor(np.abs(kz_rad_mm), dtype=torch.float64)
    if bool((k <= 0).any()):
        raise ValueError("the cylindrical transfer needs kz ≠ 0 (use the midpoint nodes of AxialGrid)")
    kappa = k * g.anisotropy
    b, c, d = g.muscle_radius_mm, g.muscle_radius_mm + g.fat_mm, g.skin_radius_mm
    kk = k[:, None]
    kap = kappa[:, None]

    def layer(admittance: Tensor, sigma: float, wave: Tensor, inner: _Bessel, outer: _Bessel) -> tuple[Tensor, Tensor]:
        """(admittance at the inner radius, potential outer/inner) of one layer."""
        sk = sigma * wave
        u = (admittance - sk * outer.d_k) / (sk * outer.d_i - admittance)
        q = torch.exp(inner.log_i - outer.log_i + outer.log_k - inner.log_k)
        inner_admittance = sk * (inner.d_k + u * q * inner.d_i) / (1.0 + u * q)
        ratio = torch.exp(outer.log_k - inner.log_k) * (1.0 + u) / (1.0 + u * q)
        return inner_admittance, ratio

    at_d, at_c, at_b = _Bessel.at(k * d, n_max), _Bessel.at(k * c, n_max), _Bessel.at(k * b, n_max)
    admittance = torch.zeros_like(at_d.d_i)  # insulated skin surface
    admittance, skin = layer(admittance, g.sigma_skin_s_m, kk, at_c, at_d)
    admittance, fat = layer(admittance, g.sigma_fat_s_m, kk, at_b, at_c)
    muscle_b = _Bessel.at(kappa * b, n_max)
    sk = g.sigma_muscle_radial_s_m * kap
    u_b = (admittance - sk * muscle_b.d_k) / (sk * muscle_b.d_i - admittance)
    common = skin * fat * (1.0 + u_b) / g.sigma_muscle_radial_s_m
    if g.bone_radius_mm <= 0:
        alpha = common * torch.exp(muscle_b.log_i + muscle_b.log_k)
        return LayerTransfer(np.asarray(kz_rad_mm, dtype=np.float64), alpha.numpy(), None,
                             muscle_b.log_i.numpy(), None)
    a = g.bone_radius_mm
    muscle_a = _Bessel.at(kappa * a, n_max)
    bone_admittance = g.sigma_bone_s_m * kk * _Bessel.at(k * a, n_max).d_i
    v_a = (sk * muscle_a.d_i - bone_admittance) / (bone_admittance - sk * muscle_a.d_k)
    loop = v_a * u_b * torch.exp(muscle_a.log_i - muscle_a.log_k + muscle_b.log_k - muscle_b.log_i)
    common = common / (1.0 - loop)
    alpha = common * torch.exp(muscle_b.log_i + muscle_b.log_k)
    beta = common * v_a * torch.exp(muscle_a.log_i + muscle_b.log_k)
    return LayerTransfer(np.asarray(kz_rad_mm, dtype=np.float64), alpha.numpy(), beta.numpy(),
                         muscle_b.log_i.numpy(), muscle_a.log_k.numpy())


def point_source_transfer(geometry: CylinderGeometry, kz_rad_mm: NDArray[np.float64], n_max: int,
                          radius_mm: float) -> NDArray[np.float64]:
    """H(kz, n) (K, n_max + 1) in (S/m)⁻¹ on the skin for a unit point current at radius
    ``radius_mm`` in the muscle (a reference evaluation, float64)."""
    transfer = layer_transfer(geometry, kz_rad_mm, n_max)
    x = torch.as_tensor(np.abs(kz_rad_mm) * geometry.anisotropy * radius_mm, dtype=torch.float64)
    log_i, _ = log_bessel_i(x, n_max)
    h = transfer.alpha * np.exp(log_i.numpy() - transfer.log_i_muscle_surface)
    if transfer.beta is not None and transfer.log_k_bone_surface is not None:
        log_k, _ = log_bessel_k(x, n_max)
        h = h + transfer.beta * np.exp(log_k.numpy() - transfer.log_k_bone_surface)
    return np.asarray(h, dtype=np.float64)


# -- axial quadrature --------------------------------------------------------------------------
@dataclass(frozen=True)
class AxialGrid:
    """Midpoint quadrature of the kz integral (nodes (m + ½)·2π/P, never kz = 0).

    The sum sees the sources repeated every P mm (with alternating sign: the midpoint rule).
    Beyond a few limb radii a unit's potential in a limb decays exponentially along z (or
    tends to the constant of the end-of-fibre far field, which the alternating images leave
    exact), so P ≳ 24 radii suffices: measured against P = 2048 mm, P = 512 mm errs by 3e-10
    of the MUAP peak in a 15 mm muscle (skin radius 18 mm), 8e-6 at 33 mm, 1e-3 at 63 mm.
    Where ``period_mm`` < ``radii_per_period``·d (wide limbs, and the planar limit) the
    integrand is split by a smooth partition of unity χ(kz) (1 below ``low_frequency_rad_mm``,
    0 from twice that): χ·f is summed with the period ``radii_per_period``·d, (1 − χ)·f,
    whose field decays fast, with ``period_mm``. ``step_mm`` sets the highest frequency
    π/step; ``tolerance`` cuts the sums (in kz and in n) earlier where e^(−k·D) is negligible
    for the nearest fibre D mm under the skin.
    """

    step_mm: float = 0.5
    period_mm: float = 512.0
    low_frequency_rad_mm: float = 0.2
    radii_per_period: float = 24.0
    tolerance: float = 1e-5

    def cutoff_rad_mm(self, nearest_source_mm: float) -> float:
        nyquist = math.pi / self.step_mm
        if nearest_source_mm <= 0:
            return nyquist
        return min(nyquist, math.log(1 / self.tolerance) / nearest_source_mm)

    def _low_weight(self, k: NDArray[np.float64]) -> NDArray[np.float64]:
        s = np.clip(k / self.low_frequency_rad_mm - 1.0, 0.0, 1.0)
        with np.errstate(divide="ignore", over="ignore"):
            rise = np.where(s > 0, np.exp(-1.0 / np.where(s > 0, s, 1.0)), 0.0)
            fall = np.where(s < 1, np.exp(-1.0 / np.where(s < 1, 1.0 - s, 1.0)), 0.0)
        return np.asarray(fall / (rise + fall), dtype=np.float64)

    def nodes(self, cutoff_rad_mm: float, skin_radius_mm: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """kz (K,) > 0 and weights (K,) for ∫ over the whole line (each node stands for ±kz),
        for a limb of skin radius d."""
        nyquist = math.pi / self.step_mm
        long_period = self.radii_per_period * skin_radius_mm
        blocks: list[tuple[float, float, bool | None]] = [(self.period_mm, nyquist, None)]
        if long_period > self.period_mm:
            blocks = [(long_period, 2 * self.low_frequency_rad_mm, True), (self.period_mm, nyquist, False)]
        ks, ws = [], []
        for period, top, fine in blocks:
            step = 2 * math.pi / period
            top = min(top, cutoff_rad_mm)
            k = step * (np.arange(max(0, math.floor(top / step - 0.5) + 1), dtype=np.float64) + 0.5)
            low = self._low_weight(k)
            w = 2 * step * (np.ones_like(k) if fine is None else low if fine else 1.0 - low)
            keep = w > 0
            ks.append(k[keep])
            ws.append(w[keep])
        return np.concatenate(ks), np.concatenate(ws)


def electrode_size_factor(
    kz_rad_mm: NDArray[np.float64], angular_rad_mm: NDArray[np.float64], shape: ElectrodeShape,
    radius_mm: float, size_mm: tuple[float, float],
) -> NDArray[np.float64]:
    """Mean over the electrode's surface, (K, N): circular 2·J1(r·k)/(r·k), k = √(kz² + kφ²);
    rectangular sinc(kz·a/2)·sinc(kφ·w/2), (a, w) = ``size_mm`` along z and around the limb.
    ``angular_rad_mm`` is n/d, the angular frequency on the skin."""
    kz = np.abs(kz_rad_mm)[:, None]
    kphi = np.abs(angular_rad_mm)[None, :]
    if shape == "rectangular":
        along, around = size_mm
        return np.asarray(np.sinc(kz * along / (2 * np.pi)) * np.sinc(kphi * around / (2 * np.pi)), dtype=np.float64)
    if shape != "circular":
        raise ValueError(f"unknown electrode shape {shape!r}")
    rk = radius_mm * np.hypot(kz, kphi)
    if radius_mm <= 0:
        return np.ones_like(rk)
    safe = np.where(rk > 0, rk, 1.0)
    return np.asarray(np.where(rk > 0, 2.0 * special.j1(safe) / safe, 1.0), dtype=np.float64)


@dataclass(frozen=True)
class _Tables:
    """Geometry-only arrays of one limb, grid and electrode: kz (K,); α·w and β·w (K, N+1)
    with the quadrature weights, the angular multiplicity (1 for n = 0, else 2) and the
    electrode factor folded in; the normalisers of the per-unit Bessel ratios."""

    kz_rad_mm: NDArray[np.float64]
    alpha: NDArray[np.float64]
    beta: NDArray[np.float64] | None
    log_i_muscle_surface: NDArray[np.float64]
    log_k_bone_surface: NDArray[np.float64] | None
    factor: NDArray[np.float64]  # what α·w and β·w hold beyond α and β: weights, multiplicity, electrode


@lru_cache(maxsize=16)
def _tables(
    geometry: CylinderGeometry, axial: AxialGrid, n_max: int, nearest_source_mm: float, shape: ElectrodeShape,
    radius_mm: float, size_mm: tuple[float, float],
) -> _Tables:
    kz, w = axial.nodes(axial.cutoff_rad_mm(nearest_source_mm), geometry.skin_radius_mm)
    transfer = layer_transfer(geometry, kz, n_max)
    n = np.arange(n_max + 1, dtype=np.float64)
    factor = w[:, None] * np.where(n == 0, 1.0, 2.0)[None, :]
    factor = factor * electrode_size_factor(kz, n / geometry.skin_radius_mm, shape, radius_mm, size_mm)
    beta = None if transfer.beta is None else transfer.beta * factor
    return _Tables(kz, transfer.alpha * factor, beta, transfer.log_i_muscle_surface, transfer.log_k_bone_surface,
                   factor)


# the radial table's nodes are at most this fraction of their radius apart: near the axis
# log I_n(κρ) ≈ n·log ρ, whose cubic pieces err by about (Δ/ρ)⁴·n/64
_RADIAL_RELATIVE_STEP = 0.04


@dataclass(frozen=True)
class _RadialTable:
    """The transfer to the skin of a point source at radius ρ in the muscle, before the
    electrode and quadrature factors, tabulated over the muscle's radii as cubic Hermite
    pieces of its logarithm: on [ρ_j, ρ_j+1], at t in [0, 1],
    log(α·I_n(κρ)/I_n(κb) + β·K_n(κρ)/K_n(κa)) = c0 + c1·t + c2·t² + c3·t³, ``log_h``
    (J, 4, K, N+1) (β = 0 without bone; the sum is > 0: for each (kz, n) it is the Green's
    function of a radial Sturm–Liouville problem with positive coefficients). ``radii_mm``
    (J + 1,) the nodes. Tensors of the model's dtype and device."""

    radii_mm: Tensor
    log_h: Tensor

    def at(self, rho: Tensor) -> Tensor:
        """The log transfer at radii ``rho`` (U,) within the table: (U, K, N+1),
        differentiable in ``rho`` (C¹: the pieces share values and slopes at the nodes)."""
        nodes = self.radii_mm
        index = (torch.searchsorted(nodes, rho.detach().contiguous(), right=True) - 1).clamp(0, nodes.numel() - 2)
        t = ((rho - nodes[index]) / (nodes[index + 1] - nodes[index]))[:, None, None]
        c = self.log_h.index_select(0, index)  # (U, 4, K, N+1)
        return ((c[:, 3] * t + c[:, 2]) * t + c[:, 1]) * t + c[:, 0]


def _hermite_pieces(value: Tensor, slope: Tensor, width: Tensor) -> Tensor:
    """Cubic Hermite coefficients (J, 4, ...) on the J intervals between J + 1 nodes, from the
    values and slopes at the nodes (J + 1, ...) and the intervals' widths (J,)."""
    width = width.reshape(-1, *([1] * (value.dim() - 1)))
    p0, p1 = value[:-1], value[1:]
    m0, m1 = slope[:-1] * width, slope[1:] * width
    return torch.stack([p0, m0, 3.0 * (p1 - p0) - 2.0 * m0 - m1, 2.0 * (p0 - p1) + m0 + m1], dim=1)


def radial_nodes(first_mm: float, last_mm: float, step_mm: float) -> NDArray[np.float64]:
    """Radii from ``first_mm`` to ``last_mm``, at most ``step_mm`` and ``_RADIAL_RELATIVE_STEP``
    of the radius apart (geometric near the axis, evenly spaced farther out)."""
    nodes = [first_mm]
    while nodes[-1] < last_mm:
        nodes.append(nodes[-1] + min(step_mm, _RADIAL_RELATIVE_STEP * nodes[-1]))
    nodes[-1] = last_mm
    if len(nodes) > 2 and nodes[-1] - nodes[-2] < 0.5 * min(step_mm, _RADIAL_RELATIVE_STEP * nodes[-2]):
        del nodes[-2]  # no sliver of an interval at the end
    return np.asarray(nodes, dtype=np.float64)


@lru_cache(maxsize=8)
def _radial_table(
    geometry: CylinderGeometry, axial: AxialGrid, n_max: int, nearest_source_mm: float, step_mm: float,
    dtype: torch.dtype, device: torch.device,
) -> _RadialTable:
    """The log transfer of :class:`_RadialTable` on radii from the innermost centre a unit may
    take to the muscle surface (:func:`radial_nodes`), in float64, then cast."""
    kz, _ = axial.nodes(axial.cutoff_rad_mm(nearest_source_mm), geometry.skin_radius_mm)
    transfer = layer_transfer(geometry, kz, n_max)
    kappa = torch.as_tensor(kz * geometry.anisotropy, dtype=torch.float64)
    b, a = geometry.muscle_radius_mm, geometry.bone_radius_mm
    rho = torch.as_tensor(radial_nodes(a + _MIN_RADIUS_MM, b, step_mm))
    bessel = _Bessel.at(rho[:, None] * kappa, n_max)  # (J + 1, K, N+1)
    slope_scale = kappa[None, :, None]  # d/dρ log f(κρ) = κ·f'/f
    alpha = torch.as_tensor(transfer.alpha)
    log_i = bessel.log_i - torch.as_tensor(transfer.log_i_muscle_surface)
    if transfer.beta is None or transfer.log_k_bone_surface is None:
        log_h, slope = torch.log(alpha) + log_i, slope_scale * bessel.d_i
    else:
        log_k = bessel.log_k - torch.as_tensor(transfer.log_k_bone_surface)
        top = torch.maximum(log_i, log_k)
        part_i = alpha * torch.exp(log_i - top)
        part_k = torch.as_tensor(transfer.beta) * torch.exp(log_k - top)
        total = part_i + part_k
        log_h = top + torch.log(total)
        slope = slope_scale * (part_i * bessel.d_i + part_k * bessel.d_k) / total
    if not bool(torch.isfinite(log_h).all()):
        raise ValueError("the radial table needs a positive transfer at every radius (use radial_step_mm=None)")
    pieces = _hermite_pieces(log_h, slope, rho[1:] - rho[:-1])
    return _RadialTable(rho.to(dtype=dtype, device=device), pieces.to(dtype=dtype, device=device))


# -- the model ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CylindricalForwardModel:
    """Renders MUAPs with the cylindrical volume conductor (settings only; no learned state).

    The limb: ``muscle_radius_mm`` (the muscle–fat interface), ``bone_radius_mm`` (0: none) and
    ``sigma_bone_s_m``; skin and fat thickness and the other conductivities come from the
    :class:`AnatomyParameters` passed to :meth:`muaps` (scalar tensors; they are read as numbers,
    so the MUAPs are not differentiable in the anatomy, only in the units' parameters).

    A grid lies on the skin centred at angle 0, z = 0: its along-fibre coordinate is z, its
    across coordinate the arc length on the skin (angle = across/d), so a standard grid covers
    an arc and a grid as wide as 2π·d wraps around the limb. A unit's ``ml_mm`` is the arc length
    of its angle on the skin, ``depth_mm`` its depth below the muscle surface (clipped so the
    centre stays ≥ 0.25 mm from the axis or the bone). ``fibre_angle_deg`` turns the grid on the
    skin relative to the fibres (the limb's axis).

    electrode_shape, electrode_radius_mm, electrode_size_mm: circular electrodes of a radius, or
    rectangular ones (along z, around the limb). The other settings are those of
    :class:`~bmiss_engine.forward.analytic.AnalyticForwardModel`; ``max_harmonic`` caps the
    angular sum (None: cut by ``axial.tolerance``).

    grid_around: the grid is wrapped once around the limb (the paper's 10×32): its columns
    across the fibres sit 2π·d/n apart around the skin, whatever the grid's ``ied_mm`` (which
    stays the spacing along the fibres), so the outer columns are neighbours.

    radial_step_mm: None, each call evaluates the units' Bessel ratios I_n(κρ)/I_n(κb) and
    K_n(κρ)/K_n(κa) by their recurrences (exact); a step (mm), the point-source transfer is
    read from a table over the muscle's radii at most that far apart (and 4 % of the radius
    near the axis), built once per limb and grid of kz (cubic Hermite pieces of its log with
    the exact slopes; 4·J·K·(N+1) numbers for J intervals, some 10–40 MB in float32 for the
    default limbs): at 0.5 mm the same MUAPs within 1e-7 relative in float64, with a few
    large tensor operations per call instead of the recurrences' hundreds, forward and
    backward (bench/cylinder_fast_path.py measures both).
    """

    muscle_radius_mm: float = 15.0
    bone_radius_mm: float = 0.0
    sigma_bone_s_m: float = 0.02
    electrode_shape: ElectrodeShape = "circular"
    electrode_radius_mm: float = 1.5
    electrode_size_mm: tuple[float, float] = (0.0, 0.0)
    spatial_filter: SpatialFilter = "monopolar"
    pre_s: float = 0.005
    duration_s: float = 0.035
    iz_spread_mm: float = 4.0
    end_spread_mm: float = 10.0
    fibre_radius_um: float = 25.0
    intracellular_conductivity_s_m: float = 1.01
    axial: AxialGrid = field(default_factory=AxialGrid)
    max_harmonic: int | None = None
    dtype: torch.dtype = torch.float32
    grid_around: bool = False
    radial_step_mm: float | None = None

    def __post_init__(self) -> None:
        if self.radial_step_mm is not None and not self.radial_step_mm > 0:
            raise ValueError(f"radial_step_mm must be > 0 (or None), got {self.radial_step_mm}")

    def onset(self, sampling_rate_hz: float) -> int:
        """Index of the MUAP sample at which the unit discharges."""
        return round(self.pre_s * sampling_rate_hz)

    def n_samples(self, sampling_rate_hz: float) -> int:
        return round(self.duration_s * sampling_rate_hz)

    def geometry(self, anatomy: AnatomyParameters) -> CylinderGeometry:
        return CylinderGeometry.from_anatomy(anatomy, self.muscle_radius_mm, self.bone_radius_mm, self.sigma_bone_s_m)

    def n_harmonics(self, geometry: CylinderGeometry) -> int:
        """Highest harmonic summed: e^(−n·D/d) < tolerance for D = fat + skin (a fibre at the
        muscle surface), at most d·π/step (the spatial Nyquist on the skin)."""
        d = geometry.skin_radius_mm
        nearest = geometry.fat_mm + geometry.skin_mm
        top = d * math.pi / self.axial.step_mm
        if nearest > 0:
            top = min(top, d * math.log(1 / self.axial.tolerance) / nearest)
        n = max(1, math.ceil(top))
        return n if self.max_harmonic is None else min(n, self.max_harmonic)

    def across_scale(self, grid: ElectrodeGrid, geometry: CylinderGeometry) -> float:
        """Arc length on the skin per mm of the grid's across coordinate: 1 for a grid on an
        arc; 2π·d/(n·ied) for a grid of n columns wrapped around the limb."""
        if not self.grid_around:
            return 1.0
        n_across = grid.n_columns if grid.fibre_axis == "rows" else grid.n_rows
        return 2 * math.pi * geometry.skin_radius_mm / (n_across * grid.ied_mm)

    def wraps(self, grid: ElectrodeGrid, geometry: CylinderGeometry) -> bool:
        """Whether the grid goes all around the limb (wrapped, or an arc as long as the
        circumference less one electrode spacing)."""
        if self.grid_around:
            return True
        n_across = grid.n_columns if grid.fibre_axis == "rows" else grid.n_rows
        return n_across * grid.ied_mm >= 2 * math.pi * geometry.skin_radius_mm

    @staticmethod
    def centre_radius_mm(depth_mm: Tensor, geometry: CylinderGeometry) -> Tensor:
        """The radius of a territory's centre (U,) ``depth_mm`` below the muscle surface, kept
        between the bone (or the axis) and the surface."""
        b, a = geometry.muscle_radius_mm, geometry.bone_radius_mm
        return (b - depth_mm).clamp(min=a + _MIN_RADIUS_MM, max=b)

    def territory_limit_mm(self, depth_mm: Tensor, geometry: CylinderGeometry) -> Tensor:
        """The largest territory radius (U,) rendered for centres ``depth_mm`` below the muscle
        surface: a territory stays in the muscle, below its surface and outside the bone (or
        the axis); a larger radius is rendered as this one."""
        rho = self.centre_radius_mm(depth_mm, geometry)
        limit = (geometry.muscle_radius_mm - rho).clamp_min(0.0)
        if geometry.bone_radius_mm > 0:
            limit = torch.minimum(limit, rho - geometry.bone_radius_mm)
        return limit

    def unit_bounds(self, anatomy: AnatomyParameters, grid: ElectrodeGrid) -> dict[str, Bound]:
        """:attr:`MotorUnitParameters.BOUNDS` with depth and medio-lateral position fitted to
        this limb and grid, so that an optimiser within them never meets a clamped, flat
        region of the model: depth from 0 to ``DEPTH_MARGIN_MM`` above the bone (or the
        axis), at most the planar bound (30 mm); ml (arc on the skin) over the arc the grid
        sees, its outer columns ± ``VISIBLE_BEYOND_GRID_MM``, or all around (±π·d) when the
        grid wraps the limb or that arc would be longer."""
        geometry = self.geometry(anatomy)
        standard = MotorUnitParameters.BOUNDS
        deepest = geometry.muscle_radius_mm - geometry.bone_radius_mm - max(DEPTH_MARGIN_MM, _MIN_RADIUS_MM)
        depth = Bound(standard["depth_mm"].low, min(standard["depth_mm"].high, deepest))
        half_arc = math.pi * geometry.skin_radius_mm
        if not self.wraps(grid, geometry):
            across = _Geometry.of(grid, self.spatial_filter).across_mm * self.across_scale(grid, geometry)
            half_arc = min(half_arc, float(np.abs(across).max()) + VISIBLE_BEYOND_GRID_MM)
        return {**standard, "depth_mm": depth, "ml_mm": Bound(-half_arc, half_arc)}

    def tables(self, geometry: CylinderGeometry) -> _Tables:
        """The geometry-only arrays (cached per limb, grid and electrode)."""
        return _tables(geometry, self.axial, self.n_harmonics(geometry), geometry.fat_mm + geometry.skin_mm,
                       self.electrode_shape, float(self.electrode_radius_mm),
                       (float(self.electrode_size_mm[0]), float(self.electrode_size_mm[1])))

    def muaps(
        self, units: MotorUnitParameters, anatomy: AnatomyParameters, grid: ElectrodeGrid, sampling_rate_hz: float
    ) -> Tensor:
        """MUAPs in volts, float32 tensor of shape (n_units, n_channels, n_samples), channel k at
        ``grid.channel_rc[k]``, sample ``onset(sampling_rate_hz)`` the discharge. Differentiable
        in every tensor of ``units``; computed on the device of ``units``."""
        return self.potentials(units, anatomy, grid, sampling_rate_hz).to(torch.float32)

    def potentials(
        self, units: MotorUnitParameters, anatomy: AnatomyParameters, grid: ElectrodeGrid, sampling_rate_hz: float
    ) -> Tensor:
        """:meth:`muaps` in the model's dtype (float64 for a reference evaluation)."""
        geometry = self.geometry(anatomy)
        dtype, device = self.dtype, units.depth_mm.device
        points = _Geometry.of(grid, self.spatial_filter)
        d = geometry.skin_radius_mm
        angle_deg = float(anatomy.fibre_angle_deg.detach())
        across = points.across_mm * self.across_scale(grid, geometry)
        if angle_deg == 0.0:
            z_mm = torch.as_tensor(points.along_mm, dtype=dtype, device=device)
            arc = across
        else:
            theta = math.radians(angle_deg)
            z_mm = torch.as_tensor(points.along_mm * math.cos(theta) + across * math.sin(theta),
                                   dtype=dtype, device=device)
            arc = -points.along_mm * math.sin(theta) + across * math.cos(theta)
        unique, column = np.unique(np.round(arc, 9), return_inverse=True)
        potential = self._monopolar(units, geometry, torch.as_tensor(unique / d, dtype=dtype, device=device),
                                    torch.as_tensor(column.ravel(), dtype=torch.long, device=device), z_mm,
                                    sampling_rate_hz)
        combine = torch.as_tensor(points.combine, dtype=dtype, device=device)
        return torch.matmul(combine, potential)

    def muaps_at(
        self, units: MotorUnitParameters, anatomy: AnatomyParameters, angle_rad: NDArray[np.float64],
        z_mm: NDArray[np.float64], sampling_rate_hz: float,
    ) -> Tensor:
        """Monopolar MUAPs in volts (n_units, n_points, n_samples) at electrodes anywhere on the
        skin: angles ``angle_rad`` (n_points,) and axial positions ``z_mm`` (n_points,)."""
        geometry = self.geometry(anatomy)
        dtype, device = self.dtype, units.depth_mm.device
        angles = np.asarray(angle_rad, dtype=np.float64).ravel()
        unique, column = np.unique(np.round(angles, 12), return_inverse=True)
        return self._monopolar(
            units, geometry, torch.as_tensor(unique, dtype=dtype, device=device),
            torch.as_tensor(column.ravel(), dtype=torch.long, device=device),
            torch.as_tensor(np.asarray(z_mm, dtype=np.float64).ravel(), dtype=dtype, device=device), sampling_rate_hz,
        ).to(torch.float32)

    def transfer(self, units: MotorUnitParameters, geometry: CylinderGeometry) -> tuple[Tensor, Tensor]:
        """kz (K,) and the weighted, territory-averaged transfer of each unit (U, K, N+1): H·E·w
        for the unit's centre radius, without its angle."""
        dtype, device = self.dtype, units.depth_mm.device
        tables = self.tables(geometry)
        kz = torch.as_tensor(tables.kz_rad_mm, dtype=dtype, device=device)
        kappa = kz * geometry.anisotropy
        depth = units.depth_mm.to(dtype)
        rho = self.centre_radius_mm(depth, geometry)  # (U,)
        radius = torch.minimum(units.territory_radius_mm.to(dtype), self.territory_limit_mm(depth, geometry))
        s = (radius[:, None] * kappa).clamp_min(1e-12)  # (U, K)
        log_territory = (torch.log(2.0 * torch.special.i1e(s) / s) + s)[..., None]
        n_max = tables.alpha.shape[1] - 1
        if self.radial_step_mm is not None:
            radial = _radial_table(geometry, self.axial, n_max, geometry.fat_mm + geometry.skin_mm,
                                   float(self.radial_step_mm), dtype, torch.device(device))
            factor = torch.as_tensor(tables.factor, dtype=dtype, device=device)
            return kz, factor * torch.exp(radial.at(rho) + log_territory)
        x = rho[:, None] * kappa  # (U, K)
        log_i, _ = log_bessel_i(x, n_max)
        log_i_b = torch.as_tensor(tables.log_i_muscle_surface, dtype=dtype, device=device)
        alpha = torch.as_tensor(tables.alpha, dtype=dtype, device=device)
        h = alpha * torch.exp(log_i - log_i_b + log_territory)
        if tables.beta is not None and tables.log_k_bone_surface is not None:
            log_k, _ = log_bessel_k(x, n_max)
            log_k_a = torch.as_tensor(tables.log_k_bone_surface, dtype=dtype, device=device)
            beta = torch.as_tensor(tables.beta, dtype=dtype, device=device)
            h = h + beta * torch.exp(log_k - log_k_a + log_territory)
        return kz, h

    def _monopolar(
        self, units: MotorUnitParameters, geometry: CylinderGeometry, angles: Tensor, column: Tensor, z_mm: Tensor,
        sampling_rate_hz: float,
    ) -> Tensor:
        """Monopolar potentials (U, P, T) at points z (P,) whose angle is ``angles[column]``
        (angles (Q,) distinct)."""
        dtype, device = self.dtype, units.depth_mm.device
        kz, h = self.transfer(units, geometry)  # (K,), (U, K, N+1)
        n = torch.arange(h.shape[2], dtype=dtype, device=device)
        unit_angle = units.ml_mm.to(dtype) / geometry.skin_radius_mm  # (U,)
        # Σ over n: cos(n·(φ − φ0)), H even in n; (U, Q, K)
        cosines = torch.cos((angles[None, :, None] - unit_angle[:, None, None]) * n)  # (U, Q, N+1)
        along = torch.matmul(cosines, h.transpose(1, 2))[:, column, :]  # (U, P, K)

        t_s = torch.as_tensor(
            (np.arange(self.n_samples(sampling_rate_hz)) - self.onset(sampling_rate_hz)) / sampling_rate_hz,
            dtype=dtype, device=device,
        )
        source_re, source_im = centred_spectrum(
            kz, t_s, units.cv_m_s.to(dtype), units.semi_length_neg_mm.to(dtype), units.semi_length_pos_mm.to(dtype),
            self.end_spread_mm,
        )
        iz = units.iz_mm.to(dtype)[:, None, None]
        phase = (z_mm[None, :, None] - iz) * kz  # (U, P, K)
        weighted = along * (kz * iz_spread_factor(kz, self.iz_spread_mm))
        potential = -(
            torch.matmul(weighted * torch.sin(phase), source_re.transpose(1, 2))
            + torch.matmul(weighted * torch.cos(phase), source_im.transpose(1, 2))
        )
        scale = (
            self.intracellular_conductivity_s_m * math.pi * (self.fibre_radius_um * 1e-6) ** 2
            * 1e3  # mV/mm² of ∂²Vm/∂z² to V/m²
            / (2 * math.pi) ** 2
        )
        return potential * (scale * units.n_fibres.to(dtype))[:, None, None]


@dataclass(frozen=True, eq=False)
class CylindricalGenerator:
    """The cylindrical model behind the :class:`~bmiss_engine.forward.MuapGenerator` protocol
    (the simulator's interface): ``depth_mm`` of :class:`MotorUnitProperties` is below the skin,
    ``ml_mm`` the arc length on the skin. Units are rendered ``batch_units`` at a time without
    gradients."""

    model: CylindricalForwardModel = field(default_factory=CylindricalForwardModel)
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
