"""Planar layered volume conductor: skin over fat over anisotropic muscle (Farina & Merletti 2001).

Coordinates: x across the fibres, z along them (both in mm, on the skin), depth y below the
muscle–fat interface. The muscle is a half-space with conductivity σmz along the fibres and
σmy in the two transverse directions; fat (thickness h1, σf) and skin (thickness d, σs) are
isotropic; the skin surface is insulated. For a unit point current at depth y0 in the muscle,
the potential on the skin surface has the 2-D spatial Fourier transform

    H(kx, kz) = 2·e^(−y0·kya) / ( σmy·[ (1+Rc)·cosh(ky(h1+d))·(kya + Rm·ky·tanh(ky(h1+d)))
                                       + (1−Rc)·cosh(ky(h1−d))·(kya + Rm·ky·tanh(ky(h1−d))) ] )
    ky = √(kx² + kz²),  kya = √(kx² + Ra·kz²),  Ra = σmz/σmy,  Rc = σs/σf,  Rm = σf/σmy

which is DESIGN.md §3.3 unchanged. Two limits pin it down and are checked in the tests: with
h1 = d = 0 it is e^(−y0·kya)/(σmy·kya), the transform of the anisotropic half-space potential
1/(2π·σmy·√(Ra·(x² + y0²) + z²)); with equal isotropic conductivities it is
e^(−k·(y0+h1+d))/(σ·k), the transform of 1/(2πσr) (the point source 1/(4πσr) doubled by the
insulating surface). The layered form itself is checked against a direct solution of the
boundary-value problem.

Numerical form: both cosh terms are divided by e^(ky(h1+d)) before use,
cosh(ky(h1+d))·e^(−ky(h1+d)) = (1 + e^(−2ky(h1+d)))/2 and
cosh(ky(h1−d))·e^(−ky(h1+d)) = (e^(−2ky·d) + e^(−2ky·h1))/2, so only decaying exponentials
appear and H = 2·e^(−y0·kya − ky(h1+d)) / (σmy·B) with B of the order of k: no overflow for any
thickness, and underflow to 0 (not NaN) for thick layers at high k.

Units: with k in rad/mm, H is in (S/m)⁻¹·mm; the potential of a line current density
i [A/m] is ∫∫ H·I dkx dkz / (2π)² in volts when I is the transform of i over z in mm.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray
from scipy import special
from torch import Tensor

from bmiss_engine.forward.parameters import AnatomyParameters


def _per_unit(value: Tensor, n_units: int) -> Tensor:
    """A scalar or (n_units,) tensor shaped to broadcast over (unit, kx, kz): (1, 1, 1) for a
    scalar, so that what depends on the anatomy alone is computed once, not once per unit."""
    return value.reshape(1, 1, 1) if value.ndim == 0 else value.reshape(n_units, 1, 1)


def layered_transfer(
    kx_rad_mm: Tensor,
    kz_rad_mm: Tensor,
    depth_mm: Tensor,
    territory_radius_mm: Tensor,
    anatomy: AnatomyParameters,
    weights: Tensor | None = None,
) -> Tensor:
    """H(kx, kz) averaged over each unit's territory (times ``weights``, if given).

    Parameters
    ----------
    kx_rad_mm: (n_kx,) and kz_rad_mm: (n_kz,) spatial frequencies, rad/mm; kz must not be 0
        (the fibre source has no kz = 0 content, and H is singular at k = 0).
    depth_mm: (n_units,) depth of the territory centre below the muscle surface.
    territory_radius_mm: (n_units,) radius of the circular territory in the x–y plane.
    anatomy: scalars or (n_units,) tensors.
    weights: optional (n_kx, n_kz) factor (quadrature weights, electrode), merged into the
        anatomy-only part so that it costs nothing per unit.

    Returns
    -------
    Real tensor of shape (n_units, n_kx, n_kz), in (S/m)⁻¹·mm.

    Territory average: fibres spread uniformly over a disc of radius R centred at
    (x0, y0) contribute e^(−j·kx·x − kya·y); the mean over the disc is that of the centre
    times 2·J1(R·q)/(R·q) with q² = kx² − kya² = −Ra·kz², i.e. 2·I1(s)/s with
    s = R·√Ra·|kz| (the x phase is applied by the caller). It depends on kz only, and it is
    evaluated as 2·i1e(s)/s·e^(s) merged into e^(−y0·kya) so that nothing overflows. The disc
    is kept inside the muscle: its radius is min(R, y0).
    """
    n_units = depth_mm.shape[0]
    dtype = depth_mm.dtype
    kx = kx_rad_mm.to(dtype)[None, :, None]
    kz = kz_rad_mm.to(dtype)[None, None, :]
    sigma_my = _per_unit(anatomy.sigma_muscle_across_s_m, n_units).to(dtype)
    sigma_mz = _per_unit(anatomy.sigma_muscle_along_s_m, n_units).to(dtype)
    sigma_f = _per_unit(anatomy.sigma_fat_s_m, n_units).to(dtype)
    sigma_s = _per_unit(anatomy.sigma_skin_s_m, n_units).to(dtype)
    h1 = _per_unit(anatomy.fat_mm, n_units).to(dtype)
    d = _per_unit(anatomy.skin_mm, n_units).to(dtype)
    ra, rc, rm = sigma_mz / sigma_my, sigma_s / sigma_f, sigma_f / sigma_my

    ky = torch.sqrt(kx**2 + kz**2)
    kya = torch.sqrt(kx**2 + ra * kz**2)
    cosh_sum = 0.5 * (1.0 + torch.exp(-2.0 * ky * (h1 + d)))
    cosh_diff = 0.5 * (torch.exp(-2.0 * ky * d) + torch.exp(-2.0 * ky * h1))
    b = (1.0 + rc) * cosh_sum * (kya + rm * ky * torch.tanh(ky * (h1 + d))) + (1.0 - rc) * cosh_diff * (
        kya + rm * ky * torch.tanh(ky * (h1 - d))
    )

    # what depends on the anatomy alone: (1, n_kx, n_kz) for a shared anatomy
    layers = 2.0 * torch.exp(-ky * (h1 + d)) / (sigma_my * b)
    if weights is not None:
        layers = layers * weights.to(dtype)

    y0 = depth_mm.reshape(n_units, 1, 1)
    radius = torch.minimum(territory_radius_mm.reshape(n_units, 1, 1), y0)
    s = (radius * torch.sqrt(ra) * kz.abs()).clamp_min(1e-12)
    # log of the territory factor 2·I1(s)/s = 2·i1e(s)·e^s/s, (n_units, 1, n_kz)
    log_territory = torch.log(2.0 * torch.special.i1e(s) / s) + s
    # s ≤ y0·kya because the disc stays inside the muscle, so the exponent is ≤ 0; the
    # per-unit work is three passes over (n_units, n_kx, n_kz): fused multiply-add, exp, product
    exponent = torch.addcmul(log_territory, y0, kya, value=-1.0)
    return layers * torch.exp(exponent)


def electrode_transfer(kx_rad_mm: NDArray[np.float64], kz_rad_mm: NDArray[np.float64], radius_mm: float) -> NDArray[np.float64]:
    """2·J1(r·k)/(r·k): the mean over a circular electrode of radius r, shape (n_kx, n_kz)."""
    k = np.hypot(kx_rad_mm[:, None], kz_rad_mm[None, :])
    if radius_mm <= 0:
        return np.ones_like(k)
    rk = radius_mm * k
    safe = np.where(rk > 0, rk, 1.0)
    return np.where(rk > 0, 2.0 * special.j1(safe) / safe, 1.0)
