"""Preprocessing before separation: band-pass, optional power-line notch, bad and saturated channels.

Filtering runs in SciPy on the CPU: it is a small share of the decomposition's cost (one
zero-phase pass over the raw channels), unlike extension, whitening and FastICA, which run in
torch on the chosen device.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.errors import DecompositionError


def bandpass(
    emg: NDArray[np.floating], sampling_rate_hz: float, band_hz: tuple[float, float] = (20.0, 500.0),
    order: int = 2,
) -> NDArray[np.float32]:
    """Zero-phase Butterworth band-pass of ``emg`` (n_channels, n_samples), float32 out.

    The upper edge is clipped below Nyquist so low-rate recordings still filter.
    """
    low, high = band_hz
    nyquist = sampling_rate_hz / 2
    high = min(high, 0.95 * nyquist)
    if not 0 < low < high:
        raise DecompositionError(f"band-pass {band_hz} Hz is empty at {sampling_rate_hz:g} Hz sampling")
    # imported on use: scipy.signal loads scipy.stats, seconds the application's start need not wait
    from scipy import signal

    sos = signal.butter(order, [low, high], btype="bandpass", fs=sampling_rate_hz, output="sos")
    padlen = min(emg.shape[1] - 1, 3 * (2 * len(sos) + 1))
    return np.asarray(signal.sosfiltfilt(sos, emg, axis=1, padlen=padlen), dtype=np.float32)


def notch(
    emg: NDArray[np.floating], sampling_rate_hz: float, line_hz: float = 50.0, n_harmonics: int = 3,
    quality: float = 30.0,
) -> NDArray[np.float32]:
    """Zero-phase notch at the power-line frequency and its harmonics below Nyquist."""
    from scipy import signal

    out = np.asarray(emg, dtype=np.float64)
    for k in range(1, n_harmonics + 1):
        f0 = k * line_hz
        if f0 >= 0.95 * sampling_rate_hz / 2:
            break
        b, a = signal.iirnotch(f0, quality, fs=sampling_rate_hz)
        out = signal.filtfilt(b, a, out, axis=1)
    return out.astype(np.float32)


def detect_bad_channels(emg: NDArray[np.floating], ratio: float = 10.0) -> tuple[int, ...]:
    """Channels whose RMS is more than ``ratio`` times above or below the median RMS.

    Catches flat (disconnected) and saturated or very noisy channels; ``emg`` is
    (n_channels, n_samples), already band-passed.
    """
    rms = np.sqrt(np.mean(np.square(emg, dtype=np.float64), axis=1))
    median = float(np.median(rms))
    if median <= 0:
        return tuple(int(i) for i in np.flatnonzero(rms <= 0))
    bad = (rms > ratio * median) | (rms < median / ratio)
    return tuple(int(i) for i in np.flatnonzero(bad))


# A saturated (clipped) channel sits flat at its amplifier's or converter's rail. Real EMG, band
# limited to ~500 Hz and sampled at 2 kHz or more, passes through its extreme: near a peak it is a
# parabola, so it holds its max or min for one sample, and data quantised to a few counts for a
# sample or two (three on rare peaks). A run at exactly the channel's max or min lasting this long,
# and at least 3 samples, is a flat top:
SATURATION_RUN_S = 0.001
# and a channel whose flat tops add up to this share of the recording is saturated. On the demo, a
# channel amplified 1.5x too much and cut at 7x the median RMS spends ~1% of the time in flat
# tops; one with only its highest MUAP peaks shaved (0.03%) decomposes as well as unclipped, and
# data in 10 uV steps (3 steps to the median RMS) has at most 0.02%: both are kept.
SATURATION_FRACTION = 0.005


def detect_saturated_channels(
    emg: NDArray[np.floating] | NDArray[np.integer], sampling_rate_hz: float, fraction: float = SATURATION_FRACTION,
) -> tuple[int, ...]:
    """Channels clipped at their rails: at least ``fraction`` of their samples lie in runs of
    consecutive samples equal to the channel's max or its min lasting ``SATURATION_RUN_S`` or
    longer (3 samples at least).

    ``emg`` is (n_channels, n_samples), raw (volts or converter counts): band-passing would round
    the flat tops off. Values merely repeated (quantised data) do not count unless they are the
    extremes, and a constant channel is left to :func:`detect_bad_channels`.
    """
    min_run = max(3, int(np.ceil(SATURATION_RUN_S * sampling_rate_hz)))
    flagged = []
    for i, row in enumerate(np.asarray(emg)):
        hi, lo = float(row.max()), float(row.min())
        if not hi > lo:
            continue
        # float tolerance: a rail scaled to volts may differ from the max in its last bits
        tol = 1e-6 * max(abs(hi), abs(lo))
        if _flat_top_samples(row >= hi - tol, min_run) + _flat_top_samples(row <= lo + tol, min_run) >= fraction * row.size:
            flagged.append(i)
    return tuple(flagged)


def _flat_top_samples(at_rail: NDArray[np.bool_], min_run: int) -> int:
    """How many of the ``at_rail`` samples lie in runs of ``min_run`` or more consecutive ones."""
    edges = np.diff(np.concatenate(([0], at_rail.astype(np.int8), [0])))
    lengths = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    return int(lengths[lengths >= min_run].sum())


# a narrow peak this many times above the spectrum around it is power-line interference: EMG's
# spectrum is smooth, and a recording's line peak is either absent or tens of times higher
LINE_PEAK_RATIO = 20.0
LINE_FREQUENCIES_HZ = (50.0, 60.0)


def detect_line_interference(emg: NDArray[np.floating], sampling_rate_hz: float) -> float | None:
    """The power-line frequency (50 or 60 Hz) whose narrow peak stands out of the median
    spectrum of ``emg`` (n_channels, n_samples, band-passed), or None when neither does.

    The peak's power (±1 Hz) is compared with the median power 3–10 Hz either side of it."""
    from scipy import signal

    n_per_segment = min(emg.shape[1], int(sampling_rate_hz))  # 1 Hz resolution
    if n_per_segment < 64:
        return None
    freqs, psd = signal.welch(np.asarray(emg, dtype=np.float32), fs=sampling_rate_hz, nperseg=n_per_segment, axis=1)
    spectrum = np.median(psd, axis=0)
    best: tuple[float, float] | None = None
    for line_hz in LINE_FREQUENCIES_HZ:
        if line_hz >= sampling_rate_hz / 2:
            continue
        offset = np.abs(freqs - line_hz)
        peak = float(spectrum[offset <= 1.0].max())
        around = float(np.median(spectrum[(offset >= 3.0) & (offset <= 10.0)]))
        ratio = peak / around if around > 0 else np.inf if peak > 0 else 0.0
        if ratio >= LINE_PEAK_RATIO and (best is None or ratio > best[1]):
            best = (line_hz, ratio)
    return None if best is None else best[0]


def remove_line_interference(
    emg: NDArray[np.floating], sampling_rate_hz: float, line_hz: float, n_harmonics: int = 3, window_s: float = 10.0,
) -> NDArray[np.float32]:
    """``emg`` (n_channels, n_samples) less its power-line interference: sinusoids at the line
    frequency (refined to ±0.5 Hz on the recording) and its harmonics, fitted by least squares
    in overlapping ``window_s`` windows so a drifting amplitude is followed.

    Unlike an IIR notch, whose ringing at the recording's ends a strong hum turns into seconds
    of large transients, the subtraction leaves no transient; it takes 2·n_harmonics degrees
    of freedom per window from the EMG."""
    x = np.asarray(emg, dtype=np.float64)
    fs = sampling_rate_hz
    n = x.shape[1]
    f0 = _refined_line_frequency(x, fs, line_hz)
    harmonics = [k * f0 for k in range(1, n_harmonics + 1) if k * f0 < 0.95 * fs / 2]
    if not harmonics:
        return x.astype(np.float32)
    t = np.arange(n) / fs
    basis = np.concatenate([np.stack([np.cos(2 * np.pi * f * t), np.sin(2 * np.pi * f * t)]) for f in harmonics])
    length = min(n, max(8, int(window_s * fs)))
    hop = max(1, length // 2)
    starts = list(range(0, max(1, n - length + 1), hop))
    if starts[-1] + length < n:
        starts.append(n - length)
    # periodic Hann windows at half overlap sum to one; the first and last stay flat towards
    # the recording's ends (a taper at zero there would leave the hum's first sample in place)
    hann = np.hanning(length + 1)[:length] if len(starts) > 1 else np.ones(length)
    fitted = np.zeros_like(x)
    weight = np.zeros(n)
    for i, start in enumerate(starts):
        taper = hann.copy()
        if i == 0:
            taper[: length // 2] = 1.0
        if i == len(starts) - 1:
            taper[length // 2 :] = 1.0
        part = slice(start, start + length)
        b = basis[:, part]
        coef = np.linalg.lstsq(b.T, x[:, part].T, rcond=None)[0]  # (n_basis, n_channels)
        fitted[:, part] += taper * (coef.T @ b)
        weight[part] += taper
    return (x - fitted / np.maximum(weight, 1e-12)).astype(np.float32)


def _refined_line_frequency(x: NDArray[np.float64], fs: float, line_hz: float) -> float:
    """The frequency within ±0.5 Hz of ``line_hz`` where the channels' summed power peaks
    (mains frequency drifts by tenths of a hertz), from the 4 channels with the most of it."""
    n = x.shape[1]
    t = np.arange(n) / fs
    probe = np.exp(-2j * np.pi * line_hz * t)
    strongest = np.argsort(-np.abs(x @ probe))[:4]
    candidates = line_hz + np.linspace(-0.5, 0.5, 201)
    step = max(1, n // 20000)  # the fit needs no more than ~20 000 samples
    phases = np.exp(-2j * np.pi * np.outer(candidates, t[::step]))
    power = (np.abs(phases @ x[strongest, ::step].T) ** 2).sum(axis=1)
    i = int(np.argmax(power))
    if 0 < i < len(candidates) - 1:
        # the vertex of the parabola through the peak and its neighbours: a frequency a
        # thousandth of a hertz off leaves a tenth of a strong hum over a long window
        left, mid, right = power[i - 1 : i + 2]
        curvature = left - 2 * mid + right
        if curvature < 0:
            return float(candidates[i] + 0.5 * (left - right) / curvature * (candidates[1] - candidates[0]))
    return float(candidates[i])
