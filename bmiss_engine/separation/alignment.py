"""Align discharges to their MUAP, so every unit's discharge marks the same event.

A separation filter may lock onto any part of a MUAP (the innervation-zone component, a
propagating or an end-of-fibre component), and the extension delays add up to R samples more,
so raw source peaks can sit tens of milliseconds from the discharge. Moving each unit's
discharges to the peak energy of its spike-triggered average makes units comparable with each
other (duplicate removal) and with ground truth.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray


def _sta_energy(x: torch.Tensor, discharge_samples: NDArray[np.int64], half_window: int) -> torch.Tensor | None:
    """Energy over channels (2L+1,) of the spike-triggered average of x (n_channels,
    n_samples) over ±``half_window`` samples; None with fewer than 2 discharges inside."""
    n = x.shape[1]
    t = discharge_samples[(discharge_samples >= half_window) & (discharge_samples < n - half_window)]
    if t.size < 2:
        return None
    idx = torch.as_tensor(t, device=x.device)[:, None] + torch.arange(-half_window, half_window + 1, device=x.device)
    sta = x[:, idx].mean(dim=1)  # (n_channels, 2L+1)
    return (sta * sta).sum(dim=0)


def muap_peak_offset(x: torch.Tensor, discharge_samples: NDArray[np.int64], half_window: int) -> int:
    """Offset (samples) from the discharges to the energy peak of their spike-triggered
    average of ``x`` (n_channels, n_samples), searched within ±``half_window``."""
    energy = _sta_energy(x, discharge_samples, half_window)
    return 0 if energy is None else int(torch.argmax(energy).item()) - half_window


def muap_onset_offset(
    x: torch.Tensor, discharge_samples: NDArray[np.int64], half_window: int, fraction: float = 0.2
) -> int:
    """Offset (samples) from the discharges to the onset of their MUAP: the first sample of
    the run of spike-triggered-average energy at or above ``fraction`` of its peak that holds
    the peak, energy counted above the window's median (the background of other units and
    noise). The motor neuron fires at the MUAP's start; its energy peaks later, by as long as
    the action potentials take to reach the electrodes that see them best. 0 (the discharges
    stay) when the energy does not fall below the fraction before the peak within the window."""
    energy = _sta_energy(x, discharge_samples, half_window)
    if energy is None:
        return 0
    # above the background: other units' MUAPs and the noise average into every window
    energy = energy - energy.median()
    peak = int(torch.argmax(energy).item())
    below = (energy[: peak + 1] < fraction * energy[peak]).nonzero()
    if below.numel() == 0:
        return 0  # no start within the window: an onset cannot be told, the peak stays
    return int(below[-1].item()) + 1 - half_window


def shift_train(pulse_train: NDArray[np.float32], shift: int) -> NDArray[np.float32]:
    """``pulse_train`` delayed by ``shift`` samples (advanced when negative), zero-filled."""
    out = np.zeros_like(pulse_train)
    if shift >= 0:
        out[shift:] = pulse_train[: pulse_train.size - shift]
    else:
        out[:shift] = pulse_train[-shift:]
    return out
