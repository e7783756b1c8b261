"""Exactness of the vectorised separation steps against their plain definitions."""

from __future__ import annotations

import numpy as np
import torch

from bmiss_engine.separation.duplicates import matched_count, rate_of_agreement, shared_fraction
from bmiss_engine.separation.fastica import CONTRASTS, contrast_step
from bmiss_engine.separation.peel import peel_off, restore


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


def test_restore_puts_back_exactly_what_peel_off_took() -> None:
    torch.manual_seed(2)
    z = torch.randn(3000, 5, dtype=torch.float64)
    original = z.clone()
    spikes = torch.arange(50, 2900, 41)
    peel = peel_off(z, spikes, 8)
    assert peel is not None
    assert peel.template.shape == (17, 5)
    assert (z - original).abs().max() > 0.1  # something was taken out
    restore(z, peel)
    torch.testing.assert_close(z, original)
    assert peel_off(z, torch.tensor([5]), 8) is None  # nothing inside the edges: nothing to peel


def _regular_train(rng: np.random.Generator, n: int, isi: int = 200) -> np.ndarray:
    return np.cumsum(rng.normal(isi, 0.15 * isi, n).round().astype(np.int64)) + 500


def test_shared_fraction_sees_a_fragment_that_rate_of_agreement_calls_distinct() -> None:
    rng = np.random.default_rng(4)
    fs = 2048.0
    train = _regular_train(rng, 200)
    fragment = train[rng.choice(train.size, 25, replace=False)] + 3  # a few discharges, marked later
    other = _regular_train(rng, 200, isi=173) + 7
    assert rate_of_agreement(train, np.sort(fragment), fs) < 0.3  # the duplicate rule misses it
    assert shared_fraction(train, np.sort(fragment), fs) == 1.0
    assert shared_fraction(np.sort(fragment), train, fs) == 1.0  # symmetric
    assert shared_fraction(train, other, fs) < 0.2


def test_missed_discharges_complete_a_unit_but_another_units_do_not() -> None:
    from bmiss_engine.methods.units import completes as _completes
    from bmiss_engine.results import MotorUnit

    rng = np.random.default_rng(5)
    fs = 2048.0
    train = _regular_train(rng, 150)
    missed = np.sort(rng.choice(train.size, 30, replace=False))
    found = np.delete(train, missed)
    unit = MotorUnit(0, found, np.zeros(int(train[-1]) + 600, dtype=np.float32), fs)
    assert _completes(unit, train[missed] - 2)  # marked 2 samples off by the other filter
    stranger = _regular_train(rng, 40, isi=170) + 11
    assert not _completes(unit, stranger)
