"""Preprocessing before separation: band-pass, optional power-line notch, bad channels.

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
