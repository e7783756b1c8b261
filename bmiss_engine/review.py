"""What the review views show, computed from a recording and a result (pure NumPy/SciPy):
band-passed EMG, MUAP templates by spike-triggered averaging, RMS per electrode on the grid,
and instantaneous / smoothed discharge rates.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.recording import Recording
from bmiss_engine.separation import preprocess

MUAP_HALF_WINDOW_S = 0.025  # ±25 ms holds a surface MUAP at any conduction velocity
_MAX_ISI_S = 0.4  # as results.MotorUnit: longer intervals are pauses


def filtered_emg(recording: Recording, band_hz: tuple[float, float] = (20.0, 500.0)) -> NDArray[np.float32]:
    """The recording band-passed as the decomposer sees it, (n_channels, n_samples), volts."""
    return preprocess.bandpass(recording.emg_v, recording.sampling_rate_hz, band_hz)


def spike_triggered_average(
    emg: NDArray[np.floating], discharge_samples: NDArray[np.integer], half_window: int
) -> NDArray[np.float32]:
    """MUAP template on every channel: the mean of ``emg`` (n_channels, n_samples) around the
    discharges, shape (n_channels, 2·half_window + 1). Discharges too near either end are left
    out; zeros when none is left."""
    n_channels, n_samples = emg.shape
    d = np.asarray(discharge_samples, dtype=np.int64)
    d = d[(d >= half_window) & (d < n_samples - half_window)]
    width = 2 * half_window + 1
    if d.size == 0:
        return np.zeros((n_channels, width), dtype=np.float32)
    index = d[:, None] + np.arange(-half_window, half_window + 1)[None, :]  # (n_d, width)
    return np.asarray(emg[:, index].mean(axis=1), dtype=np.float32)


def rms_on_grid(recording: Recording, emg: NDArray[np.floating] | None = None) -> NDArray[np.float64]:
    """RMS of every channel placed on the electrode grid, shape (n_rows, n_columns), volts;
    NaN where the grid has no electrode."""
    x = recording.emg_v if emg is None else emg
    rms = np.sqrt(np.mean(np.square(x, dtype=np.float64), axis=1))
    grid = np.full(recording.grid.shape, np.nan)
    rc = recording.grid.channel_rc
    grid[rc[:, 0], rc[:, 1]] = rms
    return grid


def instantaneous_rate_hz(
    discharge_samples: NDArray[np.integer], sampling_rate_hz: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(times_s, rate_hz) of 1/ISI placed at the second discharge of each interval; intervals
    longer than 0.4 s (pauses) are left out."""
    d = np.sort(np.asarray(discharge_samples, dtype=np.int64))
    if d.size < 2:
        return np.zeros(0), np.zeros(0)
    isi = np.diff(d) / sampling_rate_hz
    keep = (isi > 0) & (isi <= _MAX_ISI_S)
    return d[1:][keep] / sampling_rate_hz, 1.0 / isi[keep]


# an interval is an outlier when its rate differs from the median rate of its neighbours by
# more than this fraction: a doubled discharge halves an interval (rate ×2), a missed one
# doubles it (rate ÷2), while recruitment changes the rate by a few percent per interval
ISI_OUTLIER_FRACTION = 0.4
_ISI_NEIGHBOURS = 5  # on each side


def rate_outliers(rate_hz: NDArray[np.floating]) -> NDArray[np.bool_]:
    """Which instantaneous rates (n,) (:func:`instantaneous_rate_hz`) stand out from their
    neighbours: more than :data:`ISI_OUTLIER_FRACTION` away from the median of the rates up to
    five intervals either side (itself left out), as a reviewer spots a missed or doubled
    discharge in the rate plot. Bool (n,); none with fewer than three rates."""
    r = np.asarray(rate_hz, dtype=np.float64)
    if r.size < 3:
        return np.zeros(r.size, dtype=bool)
    k = _ISI_NEIGHBOURS
    padded = np.full(r.size + 2 * k, np.nan)
    padded[k : k + r.size] = r
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * k + 1).copy()  # (n, 2k + 1)
    windows[:, k] = np.nan  # the rate itself is not its own neighbour
    local = np.nanmedian(windows, axis=1)
    return np.asarray((local > 0) & (np.abs(r - local) > ISI_OUTLIER_FRACTION * local), dtype=bool)


def smoothed_rate_hz(
    discharge_samples: NDArray[np.integer], sampling_rate_hz: float, n_samples: int,
    window_s: float = 1.0, step_s: float = 0.05,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Discharge rate smoothed by a Hann window of ``window_s``, sampled every ``step_s``:
    (times_s, rate_hz), both (n_steps,). The window is normalised to unit area, so a steady
    train at f Hz reads f Hz away from the edges."""
    step = max(1, round(step_s * sampling_rate_hz))
    n_bins = int(np.ceil(n_samples / step))
    counts = np.bincount(np.asarray(discharge_samples, dtype=np.int64) // step, minlength=n_bins)[:n_bins]
    width = max(3, round(window_s / step_s) | 1)
    kernel = np.hanning(width + 2)[1:-1]
    kernel = kernel / (kernel.sum() * step / sampling_rate_hz)
    # "same" returns max(len(counts), len(kernel)) values: a recording shorter than the window
    # would get the kernel's length, so the rate is cut back to the bins (centred as "same" is)
    rate = np.convolve(counts.astype(np.float64), kernel, mode="full")
    start = (len(kernel) - 1) // 2
    rate = rate[start : start + n_bins]
    times = (np.arange(n_bins, dtype=np.float64) + 0.5) * (step / sampling_rate_hz)
    return times, rate
