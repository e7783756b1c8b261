"""The closed-form fibre source against direct numerical integration.

A(kz, t) = ∫ w(z)·∂Vm/∂z·e^(−j·kz·z) dz for the two Rosenfalck waves is compared with scipy's
adaptive quadrature of the same integral (agreement ~1e-13 relative, asserted < 1e-9), and the
tendon-spread average with a dense average over fibre lengths.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.integrate import quad

from bmiss_engine.forward import membrane_gradient_spectrum
from tests.engine._single_thread import single_torch_thread  # noqa: F401  (autouse: one torch thread)

IZ_MM, CV_M_S, NEG_MM, POS_MM = 3.0, 4.0, 30.0, 45.0
KZ = np.array([0.05, 0.3, 1.0, 2.5])
T_S = np.array([-0.001, 0.002, 0.006, 0.0105, 0.014])


def _gradient(u: np.ndarray | float) -> np.ndarray:
    """dVm/du of Rosenfalck's potential, mV/mm, zero ahead of the front."""
    u = np.asarray(u, dtype=float)
    return np.where(u >= 0, 96 * (3 * u**2 - u**3) * np.exp(-np.clip(u, 0, None)), 0.0)


def _spectrum(t_s: float, kz: float) -> complex:
    if t_s < 0:
        return 0j
    vt = CV_M_S * 1e3 * t_s

    def a(z: float) -> float:
        if IZ_MM <= z <= IZ_MM + POS_MM:  # right wave: Vm(zi + vt − z)
            return float(-_gradient(IZ_MM + vt - z))
        if IZ_MM - NEG_MM <= z < IZ_MM:  # left wave: Vm(z − zi + vt)
            return float(_gradient(z - IZ_MM + vt))
        return 0.0

    kinks = [IZ_MM, IZ_MM + vt, IZ_MM - vt]
    lo, hi = IZ_MM - NEG_MM, IZ_MM + POS_MM
    re = quad(lambda z: a(z) * np.cos(kz * z), lo, hi, points=kinks, limit=400, epsabs=1e-13)[0]
    im = quad(lambda z: -a(z) * np.sin(kz * z), lo, hi, points=kinks, limit=400, epsabs=1e-13)[0]
    return complex(re, im)


def _closed_form(neg_mm: float = NEG_MM, pos_mm: float = POS_MM, end_spread_mm: float = 0.0) -> np.ndarray:
    def one(x: float) -> torch.Tensor:
        return torch.tensor([x], dtype=torch.float64)

    return membrane_gradient_spectrum(
        torch.tensor(KZ), torch.tensor(T_S), one(IZ_MM), one(CV_M_S), one(neg_mm), one(pos_mm),
        end_spread_mm=end_spread_mm,
    )[0].numpy().T  # (n_kz, n_t)


def test_closed_form_matches_quadrature_during_generation_propagation_and_extinction() -> None:
    # T_S covers: before the discharge, both waves inside the fibre, the left wave reaching its
    # end (7.5 ms), the right one too (11.25 ms), and after both have gone
    closed = _closed_form()
    brute = np.array([[_spectrum(t, k) for t in T_S] for k in KZ])
    assert np.all(closed[:, 0] == 0)
    np.testing.assert_allclose(closed, brute, rtol=0, atol=1e-9 * np.abs(brute).max())


def test_tendon_spread_is_the_average_over_fibre_lengths() -> None:
    spread = 8.0
    averaged = _closed_form(end_spread_mm=spread)
    offsets = (np.arange(400) + 0.5) / 400 * spread - spread / 2  # midpoint rule over the spread
    dense = np.mean([_closed_form(NEG_MM + d, POS_MM + d) for d in offsets], axis=0)
    np.testing.assert_allclose(averaged, dense, rtol=0, atol=1e-5 * np.abs(dense).max())
    # and the spread matters once a wave reaches its tendon
    assert np.abs(averaged - _closed_form()).max() > 1e-2 * np.abs(dense).max()


def test_zero_frequency_is_the_potential_difference_between_the_fibre_ends() -> None:
    # A(0, t) = ∫ w·∂Vm/∂z dz = Vm(zi + L+) − Vm(zi − L−): zero while both waves are inside the
    # fibre (both ends at rest), non-zero only while a wave is being extinguished
    def vm_above_rest(u: np.ndarray) -> np.ndarray:
        return np.where(u > 0, 96 * np.clip(u, 0, None) ** 3 * np.exp(-np.clip(u, 0, None)), 0.0)

    t_s = np.linspace(-0.002, 0.02, 45)
    one = {name: torch.tensor([value], dtype=torch.float64)
           for name, value in (("iz", IZ_MM), ("cv", CV_M_S), ("neg", NEG_MM), ("pos", POS_MM))}
    a0 = membrane_gradient_spectrum(torch.tensor([1e-12], dtype=torch.float64), torch.tensor(t_s),
                                    one["iz"], one["cv"], one["neg"], one["pos"])[0, :, 0].numpy()
    vt = CV_M_S * 1e3 * t_s
    expected = vm_above_rest(vt - POS_MM) - vm_above_rest(vt - NEG_MM)
    np.testing.assert_allclose(a0.real, expected, atol=1e-6)
    assert np.abs(a0.imag).max() < 1e-6
    inside = vt < min(NEG_MM, POS_MM)
    assert np.abs(a0.real[inside]).max() < 1e-9
    assert np.abs(expected).max() > 10.0
