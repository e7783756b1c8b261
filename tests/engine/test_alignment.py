"""Where reported discharges sit on the MUAP: the onset rule of separation.alignment."""

from __future__ import annotations

import numpy as np
import torch

from bmiss_engine.separation.alignment import muap_onset_offset

FS = 2048.0
HALF_WINDOW = 70


def recording_with(template: np.ndarray, discharges: np.ndarray, n_samples: int, noise: float,
                   seed: int = 0) -> torch.Tensor:
    """(n_channels, n_samples): ``template`` (n_channels, L) starting at every discharge, plus noise."""
    rng = np.random.default_rng(seed)
    x = noise * rng.standard_normal((template.shape[0], n_samples))
    for d in discharges:
        x[:, d : d + template.shape[1]] += template
    return torch.as_tensor(x, dtype=torch.float32)


def two_burst_template(gap_level: float) -> np.ndarray:
    """A long unit's MUAP on 4 channels: a burst at the innervation zone (samples 0–5), a low
    plateau of relative energy ``gap_level``, and the larger burst where the fibres end (28 ms
    later), on other channels."""
    t = np.zeros((4, 70))
    t[0, 0:6] = np.sqrt(0.35) * np.array([1, -1, 1, -1, 1, -1])  # energy 0.35 of the peak's
    t[1, 6:58] = np.sqrt(gap_level) * np.resize([1.0, -1.0], 52)
    t[2:, 58:64] = np.sqrt(0.5) * np.array([1, -1, 1, -1, 1, -1])  # energy 1 over 2 channels
    return t


def discharges(n: int = 120, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (200 + np.cumsum(rng.integers(150, 250, n))).astype(np.int64)


def test_onset_is_the_first_burst_when_energy_dips_between_bursts() -> None:
    d = discharges()
    x = recording_with(two_burst_template(gap_level=0.09), d, int(d[-1]) + 400, noise=0.05)
    # the discharges given at the late burst, as a separation filter may lock onto it
    offset = muap_onset_offset(x, d + 58, HALF_WINDOW)
    assert abs(offset + 58) <= 1  # back to the innervation-zone burst, not to sample 58
    # the dip is below the onset fraction (0.2): a rule bounded by that fraction stops at the late burst
    assert abs(muap_onset_offset(x, d + 58, HALF_WINDOW, fraction=0.2, floor_fraction=0.2)) <= 1


def test_energy_that_vanishes_between_bursts_separates_them() -> None:
    # below the floor the bursts count as separate events: the onset stays at the late one
    d = discharges()
    x = recording_with(two_burst_template(gap_level=0.0), d, int(d[-1]) + 400, noise=0.05)
    assert abs(muap_onset_offset(x, d + 58, HALF_WINDOW)) <= 1


def test_onset_of_a_single_burst_muap() -> None:
    d = discharges()
    t = np.zeros((4, 40))
    t[:, 10:20] = np.hanning(10)  # silent for 10 samples, then the MUAP
    x = recording_with(t, d, int(d[-1]) + 400, noise=0.05)
    offset = muap_onset_offset(x, d, HALF_WINDOW)
    assert 10 <= offset <= 13  # the first samples at 20 % of the peak energy
