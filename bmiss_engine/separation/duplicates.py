"""Rate of agreement between discharge trains after the best lag, and duplicate removal."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray


def matched_count(
    reference: NDArray[np.integer], other: NDArray[np.integer], max_lag: int, tolerance: int
) -> tuple[int, int]:
    """Best count of ``reference`` discharges that have an ``other`` discharge within
    ``tolerance`` samples, over lags in [-max_lag, max_lag] applied to ``other``.

    Returns (count, lag). Both inputs are sorted int arrays.
    """
    ref = np.asarray(reference, dtype=np.int64)
    oth = np.asarray(other, dtype=np.int64)
    if ref.size == 0 or oth.size == 0:
        return 0, 0
    # every (reference, other) pair closer than max_lag + tolerance, found by two binary
    # searches; a pair at difference Δ = ref - other matches at lags Δ - tol … Δ + tol
    reach = max_lag + tolerance
    lo = np.searchsorted(oth, ref - reach, side="left")
    hi = np.searchsorted(oth, ref + reach, side="right")
    n_near = hi - lo
    n_lags = 2 * max_lag + 1
    if int(n_near.sum()) == 0:
        return 0, -max_lag
    ref_idx = np.repeat(np.arange(ref.size), n_near)
    first_pair = np.cumsum(n_near) - n_near
    oth_idx = np.repeat(lo, n_near) + np.arange(ref_idx.size) - np.repeat(first_pair, n_near)
    diff = ref[ref_idx] - oth[oth_idx]
    # matched[r, lag]: reference discharge r has a partner at this lag
    matched = np.zeros((ref.size, n_lags), dtype=bool)
    for k in range(-tolerance, tolerance + 1):
        lag = diff + k
        ok = np.abs(lag) <= max_lag
        matched[ref_idx[ok], lag[ok] + max_lag] = True
    counts = matched.sum(axis=0)
    best_i = int(np.argmax(counts))  # first maximum: the most negative lag, as before
    return int(counts[best_i]), best_i - max_lag


def rate_of_agreement(
    a: NDArray[np.integer], b: NDArray[np.integer], sampling_rate_hz: float,
    max_lag_s: float = 0.010, tolerance_s: float = 0.001,
) -> float:
    """RoA = common / (common + only-in-a + only-in-b) after the best lag (MUniverse's rule)."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    max_lag = round(max_lag_s * sampling_rate_hz)
    tol = round(tolerance_s * sampling_rate_hz)
    common, _ = matched_count(np.sort(a), np.sort(b), max_lag, tol)
    common = min(common, len(b))
    return common / (len(a) + len(b) - common)


def shared_fraction(
    a: NDArray[np.integer], b: NDArray[np.integer], sampling_rate_hz: float,
    max_lag_s: float = 0.010, tolerance_s: float = 0.001,
) -> float:
    """Fraction of the shorter train's discharges that the other train also has, after the
    best lag: near 1 for a fragment of a unit (a few of its discharges), whatever the RoA."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    max_lag = round(max_lag_s * sampling_rate_hz)
    tol = round(tolerance_s * sampling_rate_hz)
    common, _ = matched_count(np.sort(short), np.sort(long_), max_lag, tol)
    return min(common, len(short)) / len(short)


def duplicate_groups(
    trains: Sequence[NDArray[np.integer]], sampling_rate_hz: float, threshold: float = 0.3
) -> list[list[int]]:
    """Groups of indices whose trains agree with RoA > ``threshold`` (transitively)."""
    n = len(trains)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if rate_of_agreement(trains[i], trains[j], sampling_rate_hz) > threshold:
                parent[find(j)] = find(i)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())
