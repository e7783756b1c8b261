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
    best, best_lag = -1, 0
    for lag in range(-max_lag, max_lag + 1):
        e = oth + lag
        idx = np.searchsorted(e, ref)
        lo = e[np.clip(idx - 1, 0, e.size - 1)]
        hi = e[np.clip(idx, 0, e.size - 1)]
        d = np.minimum(np.abs(ref - lo), np.abs(ref - hi))
        count = int(np.count_nonzero(d <= tolerance))
        if count > best:
            best, best_lag = count, lag
    return best, best_lag


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
