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
    x: torch.Tensor, discharge_samples: NDArray[np.int64], half_window: int, fraction: float = 0.2,
    floor_fraction: float = 0.05,
) -> int:
    """Offset (samples) from the discharges to the onset of their MUAP, from the energy over
    channels of their spike-triggered average of ``x`` (n_channels, n_samples), counted above
    the window's median (the background of other units and noise).

    The motor neuron fires at the MUAP's start; its energy peaks later, by as long as the
    action potentials take to reach the electrodes that see them best. The MUAP is the run of
    energy above ``floor_fraction`` of the peak that holds the peak; the onset is the first
    sample in that run at ``fraction`` of the peak. The floor, not ``fraction``,
    bounds the run: a long unit's energy can fall well below ``fraction`` between the burst at
    the innervation zone and the larger one where the fibres end (measured on the demo: from
    0.33 of the peak to 0.09, the peak 14 ms after the burst), and the neuron fired at the
    first burst. A unit whose energy falls below the floor inside its MUAP (another demo unit
    dips to 0.02) keeps a late onset: bridging such gaps would also join the MUAPs of other
    units that fire just before it (a third demo unit has bursts of 0.16–0.21 of its peak
    3–12 ms before its onset). 0 (the discharges stay) when the energy does not fall to the
    floor before the peak within the window.
    """
    energy = _sta_energy(x, discharge_samples, half_window)
    if energy is None:
        return 0
    # above the background: other units' MUAPs and the noise average into every window
    energy = energy - energy.median()
    peak = int(torch.argmax(energy).item())
    top = float(energy[peak])
    floor = min(floor_fraction, fraction) * top
    below = (energy[: peak + 1] < floor).nonzero()
    if below.numel() == 0:
        return 0  # no start within the window: an onset cannot be told, the discharges stay
    start = int(below[-1].item()) + 1
    onset = start + int((energy[start : peak + 1] >= fraction * top).nonzero()[0].item())
    return onset - half_window


def shift_train(pulse_train: NDArray[np.float32], shift: int) -> NDArray[np.float32]:
    """``pulse_train`` delayed by ``shift`` samples (advanced when negative), zero-filled."""
    out = np.zeros_like(pulse_train)
    if shift >= 0:
        out[shift:] = pulse_train[: pulse_train.size - shift]
    else:
        out[:shift] = pulse_train[-shift:]
    return out
