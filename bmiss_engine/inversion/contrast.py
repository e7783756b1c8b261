"""Sparsity contrast of candidate sources: excess kurtosis of the standardised source, as the
authors of the BMISS paper use. A unit's MVDR source is a sparse spike train (kurtosis of a
train at rate f and n samples per second ≈ fs/f, hundreds), mixtures and noise are near
Gaussian (0)."""

from __future__ import annotations

import torch


def excess_kurtosis(sources: torch.Tensor, guard: int = 0, clip: float | None = None) -> torch.Tensor:
    """Excess kurtosis (K,) of sources (K, n_samples), leaving ``guard`` samples out at each
    end (the extension's zero padding). Invariant to the sources' scale and sign.

    ``clip``: the standardised source is first soft-clipped, ``c·tanh(s/c)``. The plain
    kurtosis is ruled by its largest few samples: a handful of lone events (a MUAP the
    peel-off missed, an artefact) outscores a unit's whole train (standardised spikes near
    sqrt(fs/rate), 8–16), so clipping near that height keeps trains ahead of single events.
    """
    s = sources[:, guard : sources.shape[1] - guard] if guard > 0 else sources
    centred = s - s.mean(dim=1, keepdim=True)
    variance = (centred * centred).mean(dim=1).clamp_min(1e-30)
    if clip is not None:
        standard = clip * torch.tanh(centred / (variance.sqrt()[:, None] * clip))
        centred = standard - standard.mean(dim=1, keepdim=True)
        variance = (centred * centred).mean(dim=1).clamp_min(1e-30)
    return (centred**4).mean(dim=1) / variance**2 - 3.0
