"""From a source to discharges: pulse train, peak detection with 2-class k-means, and the
CoV-of-ISI refinement of the separation vector (Negro et al. 2016)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

from bmiss_engine.separation import quality
from bmiss_engine.separation.fastica import sources_of


@dataclass(frozen=True)
class SpikeDetection:
    """Discharges found on one pulse train.

    ``pulse_train`` (n_samples,) float32 is scaled so the mean discharge peak is 1;
    ``discharge_samples`` (n,) int64; ``sil`` and ``cov_isi`` as in :mod:`quality`.
    """

    pulse_train: NDArray[np.float32]
    discharge_samples: NDArray[np.int64]
    sil: float
    cov_isi: float


def meets_acceptance(
    det: SpikeDetection, sil_threshold: float, min_discharges: int, max_cov_isi: float | None,
    sampling_rate_hz: float,
) -> bool:
    """Whether a detection is accepted as a motor unit: SIL, number of discharges and (when
    set) CoV of ISI within the limits, and firing steadily (:func:`quality.fires_steadily`).
    One rule for every decomposition method."""
    if det.sil < sil_threshold or det.discharge_samples.size < min_discharges:
        return False
    if max_cov_isi is not None and det.cov_isi > max_cov_isi:
        return False
    return quality.fires_steadily(det.discharge_samples, sampling_rate_hz)


def pulse_train_from_source(source: NDArray[np.floating]) -> NDArray[np.float32]:
    """``s·|s|`` with the sign chosen so the spikes are positive (the skewed side)."""
    s = np.asarray(source, dtype=np.float32)
    if float(np.mean(s.astype(np.float64) ** 3)) < 0:
        s = -s
    return s * np.abs(s)


def detect_discharges(source: NDArray[np.floating], sampling_rate_hz: float, max_isi_s: float = 0.4) -> SpikeDetection:
    """Peaks of the pulse train split by 2-class k-means into discharges and noise."""
    pt = pulse_train_from_source(source)
    peaks = quality.pulse_train_peaks(pt, sampling_rate_hz)
    if peaks.size < 2:
        return SpikeDetection(pt, peaks, 0.0, float("inf"))
    is_high, c_high, _ = quality.two_class_kmeans(pt[peaks])
    discharges = peaks[is_high]
    if c_high > 0:
        pt = pt / np.float32(c_high)
    sil = quality.silhouette(pt, discharges, sampling_rate_hz)
    cov = quality.cov_isi(discharges, int(max_isi_s * sampling_rate_hz))
    return SpikeDetection(pt, discharges, sil, cov)


_DETECTION_THREADS = 2
_pool: tuple[int, ThreadPoolExecutor] | None = None  # (the process it belongs to, the pool)


def detect_all(sources: NDArray[np.floating], sampling_rate_hz: float) -> list[SpikeDetection]:
    """:func:`detect_discharges` of each row of ``sources`` (K, n_samples), two at a time: the
    peak search and the sorting inside release the GIL, and the torch pass before and after
    leaves the cores idle meanwhile."""
    global _pool
    if len(sources) < 2:
        return [detect_discharges(s, sampling_rate_hz) for s in sources]
    if _pool is None or _pool[0] != os.getpid():  # a forked child has the pool but not its threads
        _pool = (os.getpid(), ThreadPoolExecutor(_DETECTION_THREADS, thread_name_prefix="bmiss-detect"))
    return list(_pool[1].map(lambda s: detect_discharges(s, sampling_rate_hz), sources))


def refine_by_cov(
    z: torch.Tensor, w: torch.Tensor, sampling_rate_hz: float, max_steps: int = 10
) -> tuple[torch.Tensor, list[SpikeDetection]]:
    """Refine separation vectors (d, K) on ``z`` (n_samples, d) while the CoV of ISI falls.

    Each step replaces w by the mean of the whitened signal at its discharges, then detects
    again; a column stops at the first step that does not lower its CoV. Batched: one matrix
    product per step for all columns.
    """
    sources = sources_of(z, w).T.cpu().numpy()
    best = detect_all(sources, sampling_rate_hz)
    active = [i for i, d in enumerate(best) if d.discharge_samples.size >= 2]
    w = w.clone()
    for _ in range(max_steps):
        if not active:
            break
        w_new = torch.stack(
            [z[torch.as_tensor(best[i].discharge_samples, device=z.device)].mean(dim=0) for i in active],
            dim=1,
        )
        w_new = w_new / w_new.norm(dim=0, keepdim=True).clamp_min(1e-12)
        sources = sources_of(z, w_new).T.cpu().numpy()
        still = []
        for j, (i, det) in enumerate(zip(active, detect_all(sources, sampling_rate_hz), strict=True)):
            if det.cov_isi < best[i].cov_isi and det.discharge_samples.size >= 2:
                best[i] = det
                w[:, i] = w_new[:, j]
                still.append(i)
        active = still
    return w, best
