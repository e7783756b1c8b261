"""Motor units from detections: alignment of discharges on the MUAP, where they are reported,
and which of several units that repeat each other to keep."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from numpy.typing import NDArray

from bmiss_engine.results import MotorUnit
from bmiss_engine.separation.alignment import muap_onset_offset, muap_peak_offset, shift_train
from bmiss_engine.separation.duplicates import matched_count, rate_of_agreement
from bmiss_engine.separation.spikes import SpikeDetection


def detection_unit(unit_id: int, det: SpikeDetection, fs: float, lag: int) -> MotorUnit:
    """The unit of a detection whose discharges were moved by ``lag`` samples from its source."""
    return MotorUnit(unit_id, det.discharge_samples, det.pulse_train, fs, source_lag_samples=lag)


def aligned(det: SpikeDetection, x: torch.Tensor, half_window: int) -> tuple[SpikeDetection, int]:
    """The detection moved so its discharges mark the MUAP energy peak in ``x`` (n_channels,
    n_samples), and the shift."""
    lag = muap_peak_offset(x, det.discharge_samples, half_window)
    if lag == 0:
        return det, 0
    d = det.discharge_samples + lag
    d = d[(d >= 0) & (d < x.shape[1])]
    return dataclasses.replace(det, discharge_samples=d, pulse_train=shift_train(det.pulse_train, lag)), lag


def marked(unit: MotorUnit, x: torch.Tensor, half_window: int, marking: str) -> MotorUnit:
    """The unit as reported: its discharges (marking the MUAP energy peak while searching, where
    peel-off and duplicate tests need them) moved to the MUAP onset when ``marking`` says so."""
    if marking != "onset":
        return unit
    return shifted(unit, muap_onset_offset(x, unit.discharge_samples, half_window), x.shape[1])


def model_marked(unit: MotorUnit, model_samples: NDArray[np.int64], n_samples: int) -> MotorUnit:
    """The unit with its discharges moved, as one, to where the θ fit put them (the fitted
    model's discharge instants ``model_samples``), its pulse train with them."""
    fs = unit.sampling_rate_hz
    _, lag = matched_count(unit.discharge_samples, model_samples, round(0.05 * fs), 0)
    return shifted(unit, -lag, n_samples)  # matched_count's lag moves model_samples onto the unit's


def shifted(unit: MotorUnit, shift: int, n_samples: int) -> MotorUnit:
    """The unit with its discharges and pulse train moved by ``shift`` samples, as one."""
    if shift == 0:
        return unit
    d = unit.discharge_samples + shift
    return unit.replace(discharge_samples=d[(d >= 0) & (d < n_samples)], pulse_train=shift_train(unit.pulse_train, shift),
                        source_lag_samples=unit.source_lag_samples + shift)


def without_duplicates(units: list[MotorUnit], fs: float, threshold: float, max_lag_s: float = 0.010) -> list[int]:
    """Indices to keep: of any two units with RoA > threshold (after the best lag within
    ``max_lag_s``), the one with lower CoV ISI."""
    order = sorted(range(len(units)), key=lambda i: units[i].cov_isi)
    keep: list[int] = []
    for i in order:
        if all(rate_of_agreement(units[j].discharge_samples, units[i].discharge_samples, fs, max_lag_s=max_lag_s)
               <= threshold for j in keep):
            keep.append(i)
    return sorted(keep)


def completes(unit: MotorUnit, samples: NDArray[np.int64]) -> bool:
    """Whether ``samples`` fill the gaps of ``unit``'s train: merged with it (after the best
    lag within ±10 ms, coincidences within 1 ms kept once) the train gets more regular."""
    fs = unit.sampling_rate_hz
    tol = max(1, round(0.001 * fs))
    _, lag = matched_count(unit.discharge_samples, samples, round(0.010 * fs), tol)
    merged = np.sort(np.concatenate([unit.discharge_samples, samples + lag]))
    merged = merged[np.concatenate([[True], np.diff(merged) > tol])]
    # MotorUnit.cov_isi, so pauses between contractions are left out by the same rule
    return unit.replace(discharge_samples=merged).cov_isi < unit.cov_isi
