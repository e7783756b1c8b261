"""Peel-off in the whitened extended domain.

Once a unit is accepted, its spike-triggered average of the whitened signal (over a window
that covers its MUAP and the extension delays) is subtracted at each of its discharges, so
neither it nor its delayed copies attract later separation vectors, and smaller units
surface in the activity index.
"""

from __future__ import annotations

import torch

_SPIKES_PER_CHUNK = 128  # bounds the gathered windows to 128·(2L+1)·d floats


def peel_off(z: torch.Tensor, discharge_samples: torch.Tensor, half_window: int) -> None:
    """Subtract, in place, the unit's average waveform from ``z`` (n_samples, d).

    ``discharge_samples`` is a 1-D int64 tensor of unique sample indices. Overlapping
    windows of close discharges add up, as the unit's MUAPs do.
    """
    n = z.shape[0]
    t = discharge_samples[(discharge_samples >= half_window) & (discharge_samples < n - half_window)]
    if t.numel() < 2:
        return
    offsets = torch.arange(-half_window, half_window + 1, device=z.device)
    windows = t[:, None] + offsets  # (n_spikes, 2L+1)
    template = torch.zeros(offsets.numel(), z.shape[1], dtype=z.dtype, device=z.device)
    chunks = torch.split(windows, _SPIKES_PER_CHUNK)
    for chunk in chunks:
        template += z[chunk].sum(dim=0)
    template /= t.numel()
    for chunk in chunks:
        z.index_add_(0, chunk.reshape(-1), template.repeat(chunk.shape[0], 1), alpha=-1.0)
