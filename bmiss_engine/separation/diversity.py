"""Keep a batch of separation vectors on different motor units.

Started from the largest activity peaks, most vectors of a batch climb to the same big unit
(at different delays of the extended space). A few fixed-point steps in, each column's
largest pulse-train peaks tell which unit it is heading for; a column whose peaks repeat an
earlier column's at one fixed lag is a duplicate and is restarted elsewhere.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray


def top_peak_samples(sources: torch.Tensor, block: int, n_peaks: int) -> NDArray[np.int64]:
    """For sources (n_samples, K): the sample of the largest value of ``s·|s|`` (skewed side
    up) in each of the ``n_peaks`` best blocks of ``block`` samples; shape (K, n_peaks)."""
    n, k = sources.shape
    sign = torch.sign((sources**3).mean(dim=0))
    sign[sign == 0] = 1
    s = sources * sign
    n_blocks = n // block
    blocks = s[: n_blocks * block].reshape(n_blocks, block, k)
    values, where = blocks.max(dim=1)  # (n_blocks, K)
    top = torch.topk(values, min(n_peaks, n_blocks), dim=0).indices  # (n_peaks, K)
    offsets = torch.gather(where, 0, top)
    samples = top * block + offsets
    return samples.T.cpu().numpy().astype(np.int64)


def same_unit(a: NDArray[np.int64], b: NDArray[np.int64], max_shift: int, tolerance: int, min_fraction: float) -> bool:
    """Whether peak sets ``a`` and ``b`` (each (m,)) line up at one lag within ±max_shift."""
    diffs = (a[:, None] - b[None, :]).ravel()
    diffs = diffs[np.abs(diffs) <= max_shift + tolerance]
    if diffs.size == 0:
        return False
    counts = np.bincount(diffs + max_shift + tolerance, minlength=2 * (max_shift + tolerance) + 1)
    window = np.convolve(counts, np.ones(2 * tolerance + 1, dtype=np.int64), mode="same")
    return bool(window.max() >= min_fraction * min(a.size, b.size))


def duplicate_columns(peaks: NDArray[np.int64], max_shift: int, tolerance: int = 2,
                      min_fraction: float = 0.4) -> list[int]:
    """Columns (in order) whose peaks (K, m) repeat those of an earlier non-duplicate column."""
    kept: list[int] = []
    dups: list[int] = []
    for j in range(peaks.shape[0]):
        if any(same_unit(peaks[i], peaks[j], max_shift, tolerance, min_fraction) for i in kept):
            dups.append(j)
        else:
            kept.append(j)
    return dups
