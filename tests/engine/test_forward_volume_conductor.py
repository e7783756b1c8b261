"""The layered volume conductor against physics it must reproduce.

* H against a direct numerical solution of the boundary-value problem in y (continuity of
  potential and normal current at each interface, insulated skin, unit point source): the
  closed form of DESIGN.md §3.3 agrees to ~1e-12 relative (asserted < 1e-9).
* Homogeneous limits against the transforms of the closed-form point-source potentials.
* Territory averaging against a brute-force average over fibres placed on the disc
  (agreement < 1e-6 relative).
* Finite, positive values over the whole anatomy range (fat 0.5–20 mm, depth 0–30 mm).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bmiss_engine.forward import AnatomyParameters, electrode_transfer, layered_transfer
from tests.engine._single_thread import single_torch_thread  # noqa: F401  (autouse: one torch thread)

KX = np.array([0.0, 0.05, 0.3, 1.0, 2.5])
KZ = np.array([0.02, 0.2, 0.7, 2.0])


def _boundary_value_solution(kx: float, kz: float, depth: float, fat: float, skin: float,
                             s_my: float, s_mz: float, s_f: float, s_s: float) -> float:
    """Surface potential of a unit point current by solving the 7×7 interface system.

    y points down from the skin; skin on [0, d], fat on [d, d+h1], muscle below with the
    source at y_s. Each isotropic layer holds a·e^(ky·y) + b·e^(−ky·y); the muscle
    D·e^(kya(y−y_s)) + E·e^(−kya(y−y_s)) above the source and C·e^(−kya(y−y_s)) below it.
    """
    ky, kya = np.hypot(kx, kz), np.sqrt(kx**2 + s_mz / s_my * kz**2)
    d, y1, ys = skin, skin + fat, skin + fat + depth
    e = np.exp
    m = np.zeros((7, 7))
    rhs = np.zeros(7)
    m[0, :2] = [ky, -ky]  # insulated skin: dφ/dy = 0
    m[1, :4] = [e(ky * d), e(-ky * d), -e(ky * d), -e(-ky * d)]  # φ continuous at skin|fat
    m[2, :4] = [s_s * ky * e(ky * d), -s_s * ky * e(-ky * d), -s_f * ky * e(ky * d), s_f * ky * e(-ky * d)]
    m[3, 2:6] = [e(ky * y1), e(-ky * y1), -e(kya * (y1 - ys)), -e(-kya * (y1 - ys))]  # fat|muscle
    m[4, 2:6] = [s_f * ky * e(ky * y1), -s_f * ky * e(-ky * y1), -s_my * kya * e(kya * (y1 - ys)),
                 s_my * kya * e(-kya * (y1 - ys))]
    m[5, 4:7] = [1.0, 1.0, -1.0]  # φ continuous at the source
    m[6, 4:7] = [-s_my * kya, s_my * kya, -s_my * kya]  # jump of normal current = −1 A
    rhs[6] = -1.0
    sol = np.linalg.solve(m, rhs)
    return float(sol[0] + sol[1])


def _transfer(depth: float, anatomy: AnatomyParameters, radius: float = 0.0) -> np.ndarray:
    h = layered_transfer(torch.tensor(KX, dtype=torch.float64), torch.tensor(KZ, dtype=torch.float64),
                         torch.tensor([depth], dtype=torch.float64), torch.tensor([radius], dtype=torch.float64),
                         anatomy)
    return h[0].numpy()


@pytest.mark.parametrize(("depth", "fat", "skin", "sigma_skin"),
                         [(4.0, 3.0, 1.2, 1.0), (0.5, 0.6, 2.0, 0.5), (12.0, 8.0, 1.0, 1.0)])
def test_layered_transfer_solves_the_boundary_value_problem(depth: float, fat: float, skin: float,
                                                            sigma_skin: float) -> None:
    anatomy = AnatomyParameters.default(skin_mm=skin, fat_mm=fat, sigma_skin_s_m=sigma_skin)
    h = _transfer(depth, anatomy)
    ref = np.array([[_boundary_value_solution(kx, kz, depth, fat, skin, 0.1, 0.5, 0.05, sigma_skin)
                     for kz in KZ] for kx in KX])
    # every entry, including those 1e-10 below the largest (high k, deep source)
    np.testing.assert_allclose(h, ref, rtol=1e-9, atol=0)


def test_homogeneous_limits_are_the_point_source_potentials() -> None:
    k = np.hypot(KX[:, None], KZ[None, :])
    # equal isotropic conductivities: transform of 1/(2πσr), r to a source 3+2+1 mm under the skin
    iso = AnatomyParameters.default(skin_mm=1.0, fat_mm=2.0, sigma_muscle_along_s_m=0.3,
                                    sigma_muscle_across_s_m=0.3, sigma_fat_s_m=0.3, sigma_skin_s_m=0.3)
    np.testing.assert_allclose(_transfer(3.0, iso), np.exp(-6.0 * k) / (0.3 * k), rtol=1e-12)
    # no fat, no skin, anisotropic muscle: transform of 1/(2π·σmy·√(Ra(x²+y²)+z²))
    bare = AnatomyParameters.default(skin_mm=0.0, fat_mm=0.0)
    kya = np.sqrt(KX[:, None] ** 2 + 5.0 * KZ[None, :] ** 2)
    np.testing.assert_allclose(_transfer(3.0, bare), np.exp(-3.0 * kya) / (0.1 * kya), rtol=1e-12)


def test_territory_average_matches_fibres_spread_over_the_disc() -> None:
    anatomy = AnatomyParameters.default()
    depth, radius = 6.0, 3.0
    # Gauss–Legendre in r (weight r dr) × uniform in angle: exact for this smooth integrand
    r_nodes, r_weights = np.polynomial.legendre.leggauss(24)
    r = radius * (r_nodes + 1) / 2
    w_r = r_weights * r * radius / 2
    angles = 2 * np.pi * (np.arange(48) + 0.5) / 48
    x = (r[:, None] * np.cos(angles)[None, :]).ravel()
    y = (r[:, None] * np.sin(angles)[None, :]).ravel()
    w = (w_r[:, None] * np.ones(48)[None, :]).ravel() / (np.pi * radius**2) * (2 * np.pi / 48)
    fibres = layered_transfer(torch.tensor(KX), torch.tensor(KZ), torch.tensor(depth + y),
                              torch.zeros(len(y), dtype=torch.float64), anatomy).numpy()
    brute = np.einsum("f,fxz->xz", w, fibres * np.cos(KX[None, :, None] * x[:, None, None]))
    np.testing.assert_allclose(_transfer(depth, anatomy, radius), brute, rtol=1e-6)


def test_values_stay_finite_for_thin_and_thick_layers() -> None:
    kx = torch.linspace(0, 12.0, 61, dtype=torch.float64)
    kz = torch.logspace(-3, float(np.log10(12.0)), 80, dtype=torch.float64)  # 0.001 … 12 rad/mm
    depth = torch.tensor([0.0, 0.5, 5.0, 30.0], dtype=torch.float64)
    for fat in (0.5, 2.0, 20.0):
        for skin in (0.5, 3.0):
            anatomy = AnatomyParameters.default(skin_mm=skin, fat_mm=fat)
            h = layered_transfer(kx, kz, depth, torch.full_like(depth, 2.0), anatomy)
            assert bool(torch.isfinite(h).all())
            assert bool((h >= 0).all())
            assert float(h[:, 0, 0].min()) > 0  # low frequencies always carry signal
            # in float32 too: exponentials underflow to 0, never to inf or NaN
            anatomy32 = AnatomyParameters.default(skin_mm=skin, fat_mm=fat, dtype=torch.float32)
            h32 = layered_transfer(kx.float(), kz.float(), depth.float(), torch.full((4,), 2.0), anatomy32)
            assert bool(torch.isfinite(h32).all())


def test_electrode_transfer_is_the_disc_average() -> None:
    kx, kz = np.array([0.0, 0.7]), np.array([0.0, 1.3])
    radius = 1.5
    # average of cos(k·p) over a disc, by a fine polar sum
    r = (np.arange(400) + 0.5) * radius / 400
    phi = (np.arange(256) + 0.5) * 2 * np.pi / 256
    px = (r[:, None] * np.cos(phi)).ravel()
    pz = (r[:, None] * np.sin(phi)).ravel()
    w = (r[:, None] * np.ones_like(phi)).ravel()
    brute = np.array([[np.sum(w * np.cos(a * px + b * pz)) / np.sum(w) for b in kz] for a in kx])
    np.testing.assert_allclose(electrode_transfer(kx, kz, radius), brute, atol=1e-5)
    assert np.all(electrode_transfer(kx, kz, 0.0) == 1.0)
