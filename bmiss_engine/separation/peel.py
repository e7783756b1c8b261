"""Peel-off in the whitened extended domain.

Once a unit is accepted, its spike-triggered average of the whitened signal (over a window
that covers its MUAP and the extension delays) is subtracted at each of its discharges, so
neither it nor its delayed copies attract later separation vectors, and smaller units
surface in the activity index.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def peel_off(z: torch.Tensor, discharge_samples: torch.Tensor, half_window: int) -> Peel | None:
    """Subtract, in place, the unit's average waveform from ``z`` (n_samples, d).

    ``discharge_samples`` is a 1-D int64 tensor of unique sample indices. Overlapping
    windows of close discharges add up, as the unit's MUAPs do. Returns what was subtracted
    (so :func:`restore` can put it back), or None when fewer than 2 discharges lie inside.
    """
    n = z.shape[0]
    t = discharge_samples[(discharge_samples >= half_window) & (discharge_samples < n - half_window)]
    if t.numel() < 2:
        return None
    # one offset at a time, so no (spikes × window × d) block is ever materialised; the
    # template is complete before anything is subtracted
    offsets = range(-half_window, half_window + 1)
    template = torch.stack([z[t + o].mean(dim=0) for o in offsets])  # (2L+1, d)
    peel = Peel(t, template, half_window)
    _apply(z, peel, -1.0)
    return peel


def restore(z: torch.Tensor, peel: Peel) -> None:
    """Add back, in place, what :func:`peel_off` subtracted."""
    _apply(z, peel, 1.0)


@dataclass(frozen=True)
class Peel:
    """A peeled unit: discharge samples (m,), the template subtracted (2L+1, d), L."""

    samples: torch.Tensor
    template: torch.Tensor
    half_window: int


def _apply(z: torch.Tensor, peel: Peel, sign: float) -> None:
    for row, o in zip(peel.template, range(-peel.half_window, peel.half_window + 1), strict=True):
        # within one offset the rows t + o are distinct, so indexed addition is exact
        z[peel.samples + o] += sign * row
