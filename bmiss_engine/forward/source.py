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
multiplies by j·kz·H). The time axis is not Fourier transformed: sampling at the instants
themselves avoids temporal aliasing; DESIGN.md's (kz, kt) form is the Fourier transform in t
of the same A.

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


def _horner(poly: list[Tensor], s: Tensor) -> Tensor:
    acc = poly[-1] * torch.ones_like(s)
    for coef in reversed(poly[:-1]):
        acc = acc * s + coef
    return acc


class _ClosedFormIntegrals:
    """F(u) = ∫₀^u p(s)e^(−cs)ds and its integral 𝔉(u) = ∫₀^u F, per kz, with c = 1 − j·kz.

    e^(−c·u) = e^(−u)·e^(j·kz·u) is passed in by the caller, who builds the oscillating factor
    of every instant from one table e^(j·kz·vt) (complex exponentials are the costly part).
    Arguments u ≤ 0 give 0 (the wave has not got there); the decaying factor is evaluated at
    max(u, 0) so that the discarded branch stays finite and gradients stay clean.
    """

    def __init__(self, kz: Tensor) -> None:
        c = torch.complex(torch.ones_like(kz), -kz)
        poly = [torch.full_like(c, ROSENFALCK_AMPLITUDE_MV * a) for a in _ROSENFALCK_GRADIENT_POLY]
        self.r1 = _exp_poly_antiderivative(poly, c)
        self.r2 = _exp_poly_antiderivative(self.r1, c)

    def first(self, u: Tensor, oscillation: Tensor) -> Tensor:
        """F(max(u, 0)); u: (U, 1, T) real, oscillation: e^(j·kz·u), (U, K, T)."""
        positive = u.clamp_min(0.0)
        value = self.r1[0] - torch.exp(-positive) * oscillation * _horner(self.r1, positive)
        return torch.where(u > 0, value, torch.zeros_like(value))

    def second(self, u: Tensor, oscillation: Tensor) -> Tensor:
        """𝔉(max(u, 0)), arguments as for :meth:`first`."""
        positive = u.clamp_min(0.0)
        value = self.r1[0] * positive - self.r2[0] + torch.exp(-positive) * oscillation * _horner(self.r2, positive)
        return torch.where(u > 0, value, torch.zeros_like(value))

    def mean_first(self, centre: Tensor, oscillation: Tensor, kz: Tensor, spread: float) -> Tensor:
        """Mean of F(max(u, 0)) for u uniform on [centre − spread/2, centre + spread/2];
        ``oscillation`` is e^(j·kz·centre)."""
        if spread <= 0:
            return self.first(centre, oscillation)
        half_turn = torch.polar(torch.ones_like(kz), kz * (spread / 2))
        return (
            self.second(centre + spread / 2, oscillation * half_turn)
            - self.second(centre - spread / 2, oscillation * torch.conj(half_turn))
        ) / spread


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
    Complex tensor of shape (n_units, n_kz, n_t), in mV (the transform of mV/mm over mm).
    """
    real = torch.promote_types(kz_rad_mm.dtype, cv_m_s.dtype)
    kz = kz_rad_mm.to(real)[None, :, None]  # (1, K, 1)
    vt_mm = (cv_m_s.to(real)[:, None, None] * 1e3) * t_s.to(real)[None, None, :]  # (U, 1, T)
    zi = iz_mm.to(real)[:, None, None]
    length_pos = semi_length_pos_mm.to(real)[:, None, None]
    length_neg = semi_length_neg_mm.to(real)[:, None, None]
    integrals = _ClosedFormIntegrals(kz)
    spread = float(end_spread_mm)

    front_turn = torch.polar(torch.ones_like(vt_mm * kz), vt_mm * kz)  # e^(j·kz·vt), (U, K, T)
    travelled = integrals.first(vt_mm, front_turn)
    passed_pos = integrals.mean_first(
        vt_mm - length_pos, front_turn * torch.polar(torch.ones_like(length_pos * kz), -length_pos * kz), kz, spread
    )
    passed_neg = integrals.mean_first(
        vt_mm - length_neg, front_turn * torch.polar(torch.ones_like(length_neg * kz), -length_neg * kz), kz, spread
    )
    iz_turn = torch.polar(torch.ones_like(zi * kz), -zi * kz)  # e^(−j·kz·zi), (U, K, 1)
    # right wave: −e^(−j·kz·(zi + vt))·[…]; left wave: e^(−j·kz·(zi − vt))·conj[…] (c → c̄)
    spectrum = iz_turn * (
        -torch.conj(front_turn) * (travelled - passed_pos) + front_turn * torch.conj(travelled - passed_neg)
    )
    if iz_spread_mm > 0:
        spectrum = spectrum * torch.sinc(kz * (iz_spread_mm / 2) / math.pi)
    return spectrum
