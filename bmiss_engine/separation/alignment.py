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


def muap_peak_offset(x: torch.Tensor, discharge_samples: NDArray[np.int64], half_window: int) -> int:
    """Offset (samples) from the discharges to the energy peak of their spike-triggered
    average of ``x`` (n_channels, n_samples), searched within ±``half_window``."""
    n = x.shape[1]
    t = discharge_samples[(discharge_samples >= half_window) & (discharge_samples < n - half_window)]
    if t.size < 2:
        return 0
    idx = torch.as_tensor(t, device=x.device)[:, None] + torch.arange(-half_window, half_window + 1, device=x.device)
    sta = x[:, idx].mean(dim=1)  # (n_channels, 2L+1)
    energy = (sta * sta).sum(dim=0)
    return int(torch.argmax(energy).item()) - half_window


def shift_train(pulse_train: NDArray[np.float32], shift: int) -> NDArray[np.float32]:
    """``pulse_train`` delayed by ``shift`` samples (advanced when negative), zero-filled."""
    out = np.zeros_like(pulse_train)
    if shift >= 0:
        out[shift:] = pulse_train[: pulse_train.size - shift]
    else:
        out[:shift] = pulse_train[-shift:]
    return out
