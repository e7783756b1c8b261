"""Peel-off in the whitened extended domain.

Once a unit is accepted, its spike-triggered average of the whitened signal (over a window
that covers its MUAP and the extension delays) is subtracted at each of its discharges, so
neither it nor its delayed copies attract later separation vectors, and smaller units
surface in the activity index.
"""

from __future__ import annotations

import torch


def peel_off(z: torch.Tensor, discharge_samples: torch.Tensor, half_window: int) -> None:
    """Subtract, in place, the unit's average waveform from ``z`` (n_samples, d).

    ``discharge_samples`` is a 1-D int64 tensor of unique sample indices. Overlapping
    windows of close discharges add up, as the unit's MUAPs do.
    """
    n = z.shape[0]
    t = discharge_samples[(discharge_samples >= half_window) & (discharge_samples < n - half_window)]
    if t.numel() < 2:
        return
    # one offset at a time, so no (spikes × window × d) block is ever materialised; the
    # template is complete before anything is subtracted
    offsets = range(-half_window, half_window + 1)
    template = torch.stack([z[t + o].mean(dim=0) for o in offsets])  # (2L+1, d)
    for row, o in zip(template, offsets, strict=True):
        # within one offset the rows t + o are distinct, so indexed subtraction is exact
        z[t + o] -= row
