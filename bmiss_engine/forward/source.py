"""The fibre source: Rosenfalck action potentials leaving the innervation zone, in closed form.

Along one fibre (z in mm) the intracellular action potential is Rosenfalck's

    Vm(u) = 96·u³·e^(-u) − 90 mV,   u ≥ 0 mm behind the wavefront (−90 mV ahead of it).

Two wavefronts leave the innervation zone ``zi`` at t = 0 with velocity v, one towards +z, one
towards −z, and stop at the tendons (``zi + L+`` and ``zi − L−``). With w(z) the indicator of
the fibre and a(z, t) = w(z)·∂Vm/∂z, the membrane current per unit length is

    i_m(z, t) = σi·π·r²·∂a/∂z            (core conductor; σi intracellular conductivity, r radius)

Writing the source as the derivative of the *windowed* gradient is what creates the
generation (at zi, where the two halves meet back to back) and extinction (at the tendons)
components, and it keeps the net current of the fibre zero at every instant (Farina &
Merletti 2001, eq. 1–3). This module gives the spatial Fourier transform of a(z, t),

    A(kz, t) = ∫ a(z, t)·e^(−j·kz·z) dz        (mV; kz in rad/mm, z in mm)

in closed form at the requested sampling instants, so no time or space discretisation of the
source is needed and A is smooth in zi, v and the semi-lengths (the volume conductor then
multiplies by j·kz·H). The time axis is not Fourier transformed: DESIGN.md's (kz, kt) form
(Farina & Merletti 2001) describes the same windowed source, but evaluating A at the sampling
instants themselves needs no kt grid and has no temporal aliasing. The closed form is checked
against direct quadrature of the integral in the tests.

With g(u) = dVm/du = 96·(3u² − u³)·e^(−u) (u ≥ 0) and c = 1 − j·kz,

    right wave:  A₊(kz, t) = −e^(−j·kz·(zi + vt)) · [F_c(vt) − F_c(vt − L+)]
    left wave:   A₋(kz, t) =  e^(−j·kz·(zi − vt)) · [F_c̄(vt) − F_c̄(vt − L−)]
    F_c(u) = ∫₀^max(u,0) 96·(3s² − s³)·e^(−c·s) ds

(F_c̄ = conj F_c for real arguments). Fibres of a unit do not end at one place: averaging the
extinction term over tendon positions spread uniformly over ``end_spread_mm`` replaces
F_c(vt − L) by the mean of F_c over that interval, again in closed form (the second
antiderivative). Innervation zones spread uniformly over ``iz_spread_mm`` multiply A by
sinc(kz·iz_spread/2). Both averages are what "a unit costs as much as one fibre" needs.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

ROSENFALCK_AMPLITUDE_MV = 96.0
# g(u)/96 = 3u² − u³: polynomial coefficients from degree 0 up
_ROSENFALCK_GRADIENT_POLY = (0.0, 0.0, 3.0, -1.0)


def _exp_poly_antiderivative(poly: list[Tensor], c: Tensor) -> list[Tensor]:
    """Coefficients of R with d/ds[−e^(−c·s)·R(s)] = p(s)·e^(−c·s).

    R = Σ_i p⁽ⁱ⁾ / c^(i+1) (the Neumann series of (c − d/ds)⁻¹, finite for a polynomial).
    ``poly`` and the result list coefficients from degree 0 up.
    """
    degree = len(poly) - 1
    out: list[Tensor] = []
    for m in range(degree + 1):
        acc = torch.zeros_like(c)
        inv_c_power = 1.0 / c
        for i in range(degree - m + 1):
            # coefficient of s^m in the i-th derivative of p
            acc = acc + poly[m + i] * (math.factorial(m + i) / math.factorial(m)) * inv_c_power
            inv_c_power = inv_c_power / c
        out.append(acc)
    return out


def _decaying_powers(u: Tensor, degree: int) -> Tensor:
    """[u > 0]·u^m·e^(−u) for m = 0..degree, shape (*u.shape, degree + 1); u is clamped at 0
    inside the exponential so that the discarded branch stays finite for gradients."""
    positive = u.clamp_min(0.0)
    decay = torch.where(u > 0, torch.exp(-positive), torch.zeros_like(u))
    return torch.stack([decay * positive**m for m in range(degree + 1)], dim=-1)


def _rosenfalck_antiderivatives(kz: Tensor) -> tuple[Tensor, Tensor]:
    """Coefficients (n_kz, 4) of R1 and R2 with, for c = 1 − j·kz and u ≥ 0,
    F(u) = ∫₀^u 96(3s² − s³)e^(−cs)ds = R1(0) − e^(−cu)·R1(u) and
    𝔉(u) = ∫₀^u F = R1(0)·u − R2(0) + e^(−cu)·R2(u)."""
    c = torch.complex(torch.ones_like(kz), -kz)
    poly = [torch.full_like(c, ROSENFALCK_AMPLITUDE_MV * a) for a in _ROSENFALCK_GRADIENT_POLY]
    r1 = _exp_poly_antiderivative(poly, c)
    r2 = _exp_poly_antiderivative(r1, c)
    return torch.stack(r1, dim=-1), torch.stack(r2, dim=-1)


def _extinction(
    kz: Tensor, vt_mm: Tensor, length_mm: Tensor, r1: Tensor, r2: Tensor, end_spread_mm: float
) -> tuple[Tensor, Tensor, Tensor]:
    """One wave's extinction term, e^(j·kz·vt)·⟨F(vt − L)⟩, split for cheap evaluation.

    With e^(−j·kz·vt)·⟨F(vt − L)⟩ = e^(−j·kz·vt)·(R1(0)·a + R2(0)·b) − Σ_n coefficients·basis,
    returns the real weights (a, b) as ``constant_basis`` (U, T, 2), ``coefficients`` (U, K, n)
    complex and ``basis`` (U, T, n) real. The mean over tendon positions
    u ∈ [vt−L−w/2, vt−L+w/2] is (𝔉(u₊⁺) − 𝔉(u₋⁺))/w.
    """
    end_turn = torch.polar(torch.ones_like(length_mm[:, None] * kz), -length_mm[:, None] * kz)  # (U, K)
    u = vt_mm - length_mm[:, None]  # (U, T)
    if end_spread_mm <= 0:
        ended = (u > 0).to(vt_mm.dtype)
        constant_basis = torch.stack([ended, torch.zeros_like(ended)], dim=-1)
        coefficients = end_turn[..., None] * r1[None]  # (U, K, 4)
        return constant_basis, coefficients, _decaying_powers(u, 3)
    w = end_spread_mm
    u_hi, u_lo = u + w / 2, u - w / 2
    alpha = (u_hi.clamp_min(0.0) - u_lo.clamp_min(0.0)) / w
    beta = -((u_hi > 0).to(vt_mm.dtype) - (u_lo > 0).to(vt_mm.dtype)) / w
    half_turn = torch.polar(torch.ones_like(kz), kz * (w / 2))[:, None]  # e^(j·kz·w/2), (K, 1)
    both = torch.cat([r2 * half_turn, -r2 * torch.conj(half_turn)], dim=-1)  # (K, 8)
    coefficients = -end_turn[..., None] * both[None] / w  # (U, K, 8)
    basis = torch.cat([_decaying_powers(u_hi, 3), _decaying_powers(u_lo, 3)], dim=-1)
    return torch.stack([alpha, beta], dim=-1), coefficients, basis


def centred_spectrum(
    kz_rad_mm: Tensor,
    t_s: Tensor,
    cv_m_s: Tensor,
    semi_length_neg_mm: Tensor,
    semi_length_pos_mm: Tensor,
    end_spread_mm: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """Real and imaginary parts of e^(j·kz·zi)·A(kz, t) for one fibre (no IZ spread), each of
    shape (n_units, n_t, n_kz): the spectrum of the source as seen from its innervation zone.

    Written with real tensors and small matrix products, because this is the costly part of
    the model (n_units·n_t·n_kz values). With ω = kz·vt, Q± = e^(−jω)·[F(vt) − ⟨F(vt − L±)⟩]
    per wave, the result is conj(Q−) − Q+. The travelling part, e^(−jω)·F(vt) =
    e^(−jω)·R1(0) − e^(−vt)·R1(vt), leaves only R1(0) and R2(0) multiplied by the oscillation
    e^(±jω); everything else is a sum over polynomial degree of a real function of (unit, t)
    times a complex function of (unit, kz): one batched matrix product.
    """
    real = torch.promote_types(kz_rad_mm.dtype, cv_m_s.dtype)
    kz = kz_rad_mm.to(real)  # (K,)
    vt_mm = (cv_m_s.to(real)[:, None] * 1e3) * t_s.to(real)[None, :]  # (U, T)
    r1, r2 = _rosenfalck_antiderivatives(kz)
    spread = float(end_spread_mm)
    constant_pos, coefficients_pos, basis_pos = _extinction(kz, vt_mm, semi_length_pos_mm.to(real), r1, r2, spread)
    constant_neg, coefficients_neg, basis_neg = _extinction(kz, vt_mm, semi_length_neg_mm.to(real), r1, r2, spread)

    # oscillating part: e^(jω)·conj(C−) − e^(−jω)·C+, C = R1(0)·a + R2(0)·b with (a, b) the
    # constant weights (started waves carry R1(0); extinction subtracts its share)
    started = (vt_mm > 0).to(real)[..., None] * torch.tensor([1.0, 0.0], dtype=real, device=vt_mm.device)
    weights_pos, weights_neg = started - constant_pos, started - constant_neg  # (U, T, 2)
    r0 = torch.stack([r1[:, 0], r2[:, 0]], dim=0)  # (2, K)
    r0_parts = torch.cat([r0.real, r0.imag], dim=-1)  # (2, 2K)
    k = kz.shape[0]
    difference = (weights_neg - weights_pos) @ r0_parts  # (U, T, 2K): [Re, Im] of C− − C+
    total = (weights_neg + weights_pos) @ r0_parts  # [Re, Im] of C− + C+
    phase = vt_mm[..., None] * kz  # ω, (U, T, K)
    cos, sin = torch.cos(phase), torch.sin(phase)
    re = cos * difference[..., :k] + sin * difference[..., k:]
    im = sin * total[..., :k] - cos * total[..., k:]

    # the rest: (R1 − conj R1)·e^(−vt)·powers(vt) + extinction sums of both waves
    travelled = (r1 - torch.conj(r1))[None].expand(vt_mm.shape[0], -1, -1)  # (U, K, 4)
    coefficients = torch.cat([travelled, -coefficients_pos, torch.conj(coefficients_neg)], dim=-1)
    basis = torch.cat([_decaying_powers(vt_mm, 3), basis_pos, basis_neg], dim=-1)  # (U, T, n)
    re = re + basis @ coefficients.real.transpose(1, 2)
    im = im + basis @ coefficients.imag.transpose(1, 2)
    return re, im


def iz_spread_factor(kz_rad_mm: Tensor, iz_spread_mm: float) -> Tensor:
    """sinc(kz·w/2): the mean of e^(−j·kz·δ) over innervation zones spread uniformly over w."""
    if iz_spread_mm <= 0:
        return torch.ones_like(kz_rad_mm)
    return torch.sinc(kz_rad_mm * (iz_spread_mm / 2) / math.pi)


def membrane_gradient_spectrum(
    kz_rad_mm: Tensor,
    t_s: Tensor,
    iz_mm: Tensor,
    cv_m_s: Tensor,
    semi_length_neg_mm: Tensor,
    semi_length_pos_mm: Tensor,
    *,
    end_spread_mm: float = 0.0,
    iz_spread_mm: float = 0.0,
) -> Tensor:
    """A(kz, t): spatial spectrum of the windowed gradient ∂Vm/∂z of one (average) fibre.

    Parameters
    ----------
    kz_rad_mm: (n_kz,) spatial frequencies along the fibre, rad/mm.
    t_s: (n_t,) instants after the discharge, s (negative: before it, A = 0).
    iz_mm, cv_m_s, semi_length_neg_mm, semi_length_pos_mm: (n_units,) innervation zone, velocity,
        fibre length on the −z and +z side of the innervation zone.
    end_spread_mm: width of the uniform spread of tendon ends around zi ± L.
    iz_spread_mm: width of the uniform spread of innervation zones around zi.

    Returns
    -------
    Complex tensor of shape (n_units, n_t, n_kz), in mV (the transform of mV/mm over mm).
    """
    re, im = centred_spectrum(kz_rad_mm, t_s, cv_m_s, semi_length_neg_mm, semi_length_pos_mm, end_spread_mm)
    kz = kz_rad_mm.to(re.dtype)
    iz_turn = torch.polar(torch.ones_like(iz_mm.to(re.dtype)[:, None, None] * kz), -iz_mm.to(re.dtype)[:, None, None] * kz)
    return torch.complex(re, im) * iz_turn * iz_spread_factor(kz, iz_spread_mm)
