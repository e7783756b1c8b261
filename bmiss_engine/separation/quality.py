"""Per-unit quality measures of the field: SIL, PNR, CoV of ISI, discharge rate.

SIL follows Negro et al. 2016 as MUedit computes it: the peaks of the pulse train split into
a discharge class and a noise class; SIL = (B - W) / max(W, B), with W the summed squared
distance of the discharge peaks to their own centroid and B their summed squared distance to
the noise centroid (squared, as MATLAB's k-means reports them and the field's thresholds
assume).
PNR follows Holobar et al. 2014: 10·log10 of the mean squared pulse train at the discharges
over its mean square elsewhere.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

MIN_PEAK_DISTANCE_S = 0.02  # as MUedit: rates above 50 Hz are not expected
STEADY_ISI_S = 0.4  # the longest interval of steady firing (5 Hz); longer ones are pauses


def pulse_train_peaks(pulse_train: NDArray[np.floating], sampling_rate_hz: float) -> NDArray[np.int64]:
    """Sample indices of the positive peaks of ``pulse_train`` (shape (n_samples,)),
    at least MIN_PEAK_DISTANCE_S apart."""
    # imported here: scipy.signal loads scipy.stats (~2 s on a small machine), and reading
    # results (which import this module) should not pay for it
    from scipy.signal import find_peaks

    distance = max(1, round(MIN_PEAK_DISTANCE_S * sampling_rate_hz))
    peaks, _ = find_peaks(np.asarray(pulse_train), distance=distance, height=0.0)
    return np.asarray(peaks, dtype=np.int64)


def two_class_kmeans(heights: NDArray[np.floating], n_iter: int = 50) -> tuple[NDArray[np.bool_], float, float]:
    """Split 1-D ``heights`` (n,) into a high and a low class by 2-means.

    Returns (is_high (n,), high centroid, low centroid). Deterministic: the centroids start at
    the extremes.
    """
    h = np.asarray(heights, dtype=np.float64)
    if h.size < 2:
        return np.ones(h.size, dtype=bool), float(h.max(initial=0.0)), 0.0
    lo, hi = float(h.min()), float(h.max())
    is_high = h > (lo + hi) / 2
    for _ in range(n_iter):
        c_hi = float(h[is_high].mean()) if is_high.any() else hi
        c_lo = float(h[~is_high].mean()) if (~is_high).any() else lo
        new = np.abs(h - c_hi) < np.abs(h - c_lo)
        if np.array_equal(new, is_high):
            break
        is_high = new
    c_hi = float(h[is_high].mean()) if is_high.any() else hi
    c_lo = float(h[~is_high].mean()) if (~is_high).any() else lo
    return is_high, c_hi, c_lo


def silhouette(
    pulse_train: NDArray[np.floating], discharge_samples: NDArray[np.integer], sampling_rate_hz: float
) -> float:
    """SIL of a pulse train (n_samples,) given its discharges; 0 when undefined."""
    discharges = np.asarray(discharge_samples, dtype=np.int64)
    if discharges.size < 2:
        return 0.0
    pt = np.asarray(pulse_train, dtype=np.float64)
    peaks = pulse_train_peaks(pt, sampling_rate_hz)
    noise_peaks = np.setdiff1d(peaks, discharges, assume_unique=False)
    if noise_peaks.size == 0:
        return 1.0
    spike_h = pt[np.clip(discharges, 0, pt.size - 1)]
    c_spike = spike_h.mean()
    c_noise = pt[noise_peaks].mean()
    within = np.square(spike_h - c_spike).sum()
    between = np.square(spike_h - c_noise).sum()
    denom = max(within, between)
    return float((between - within) / denom) if denom > 0 else 0.0


def pnr_db(pulse_train: NDArray[np.floating], discharge_samples: NDArray[np.integer]) -> float:
    """Pulse-to-noise ratio in dB of a pulse train (n_samples,) at its discharges."""
    pt = np.asarray(pulse_train, dtype=np.float64)
    discharges = np.asarray(discharge_samples, dtype=np.int64)
    if discharges.size == 0 or discharges.size >= pt.size:
        return 0.0
    mask = np.zeros(pt.size, dtype=bool)
    mask[np.clip(discharges, 0, pt.size - 1)] = True
    signal = np.mean(pt[mask] ** 2)
    noise = np.mean(pt[~mask] ** 2)
    if noise <= 0 or signal <= 0:
        return 0.0
    return float(10 * np.log10(signal / noise))


def cov_isi(discharge_samples: NDArray[np.integer], max_isi_samples: int | None = None) -> float:
    """Coefficient of variation of the inter-spike intervals (ratio, not %).

    Intervals longer than ``max_isi_samples`` (pauses between contractions) are left out.
    Returns inf with fewer than 3 usable intervals.
    """
    isi = np.diff(np.sort(np.asarray(discharge_samples, dtype=np.int64)))
    if max_isi_samples is not None:
        isi = isi[isi <= max_isi_samples]
    if isi.size < 3:
        return float("inf")
    return float(isi.std() / isi.mean())


def fires_steadily(
    discharge_samples: NDArray[np.integer], sampling_rate_hz: float, max_isi_s: float = STEADY_ISI_S,
    min_fraction: float = 0.5,
) -> bool:
    """Whether the discharges (n,) fire as a recruited motor unit does: at least
    ``min_fraction`` of the inter-discharge intervals shorter than ``max_isi_s`` (a unit fires
    at 5 Hz or more once recruited; longer intervals are pauses between contractions).

    The CoV of ISI is blind to what this catches, since it leaves out the long intervals: a
    source with a few scattered spikes (16 discharges over 18 s of our 20-unit simulation,
    19 over 13 s on MyoGen D_15dB) has a low CoV over its few short intervals."""
    isi_s = np.diff(np.sort(np.asarray(discharge_samples, dtype=np.int64))).astype(np.float64) / sampling_rate_hz
    return isi_s.size > 0 and float(np.mean(isi_s < max_isi_s)) >= min_fraction


def mean_discharge_rate_hz(
    discharge_samples: NDArray[np.integer], sampling_rate_hz: float, max_isi_s: float = 0.4
) -> float:
    """Mean instantaneous discharge rate in Hz over intervals shorter than ``max_isi_s``."""
    isi: NDArray[np.float64] = np.diff(np.sort(np.asarray(discharge_samples, dtype=np.int64))).astype(np.float64)
    isi = isi / sampling_rate_hz
    isi = isi[(isi > 0) & (isi <= max_isi_s)]
    if isi.size == 0:
        return 0.0
    return float(np.mean(1.0 / isi))
