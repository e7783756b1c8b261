"""Exactness of the vectorised separation steps against their plain definitions."""

from __future__ import annotations

import numpy as np
import torch

from bmiss_engine.separation.duplicates import matched_count
from bmiss_engine.separation.fastica import CONTRASTS, contrast_step
from bmiss_engine.separation.peel import peel_off


def _matched_count_by_definition(ref: np.ndarray, oth: np.ndarray, max_lag: int, tol: int) -> tuple[int, int]:
    best, best_lag = -1, 0
    for lag in range(-max_lag, max_lag + 1):
        count = sum(1 for r in ref if np.any(np.abs(oth + lag - r) <= tol))
        if count > best:
            best, best_lag = count, lag
    return best, best_lag


def test_matched_count_equals_its_definition() -> None:
    rng = np.random.default_rng(3)
    for trial in range(40):
        a = np.sort(rng.choice(5000, rng.integers(1, 80), replace=False))
        if trial % 2:  # a jittered, shifted, partial copy: the case duplicates look like
            b = np.unique(a[: rng.integers(1, a.size + 1)] + rng.integers(-15, 15) + rng.integers(-2, 3, size=1))
        else:
            b = np.sort(rng.choice(5000, rng.integers(1, 80), replace=False))
        assert matched_count(a, b, 20, 2) == _matched_count_by_definition(a, b, 20, 2)


def test_blocked_contrast_step_equals_whole_matrix_products() -> None:
    torch.manual_seed(0)
    z = torch.randn(3000, 40, dtype=torch.float64)
    w = torch.randn(40, 5, dtype=torch.float64)
    for contrast in CONTRASTS.values():
        zg, gp = contrast_step(z, w, contrast)
        g, g_prime = contrast(z @ w)
        torch.testing.assert_close(zg, z.T @ g / 3000)
        torch.testing.assert_close(gp, g_prime.mean(dim=0))


def test_peel_off_removes_a_repeated_waveform_exactly() -> None:
    torch.manual_seed(1)
    n, d, half = 4000, 6, 10
    waveform = torch.randn(2 * half + 1, d, dtype=torch.float64)
    spikes = torch.arange(100, 3800, 37)
    z = torch.zeros(n, d, dtype=torch.float64)
    for t in spikes:
        z[t - half : t + half + 1] += waveform
    noise = 0.01 * torch.randn(n, d, dtype=torch.float64)
    peel_off(z.add_(noise), spikes, half)
    # what is left is the noise, less its own small spike-triggered average
    assert (z - noise).abs().max() < 0.01
    assert z.abs().max() < noise.abs().max() + 0.01
