"""The inversion's sparsity contrast: a unit's train must outscore a few lone events."""

from __future__ import annotations

import numpy as np
import torch

from bmiss_engine.inversion import InversionConfig
from bmiss_engine.inversion.contrast import excess_kurtosis


def _source(rate_hz: float, height_sd: float, rng: np.random.Generator, fs: float = 2048.0,
            n_samples: int = 20480) -> np.ndarray:
    """Unit-variance Gaussian noise plus spikes ``height_sd`` high at ``rate_hz`` (ISI CoV 0.1)."""
    isi = fs / rate_hz
    nominal = np.arange(200, n_samples - 200, isi)
    spikes = (nominal + rng.normal(0.0, 0.1 * isi, nominal.size)).astype(np.int64)
    s = rng.normal(size=n_samples)
    s[spikes] += height_sd
    return s


def test_the_default_contrast_ranks_a_train_above_a_few_larger_lone_events() -> None:
    """A 15 Hz train 8 noise SDs high against 2 Hz lone events 12 SDs high (what a unit's
    missed discharges leave in the residual): the plain kurtosis prefers the lone events, the
    soft-clipped kurtosis the inversion uses by default prefers the train."""
    rng = np.random.default_rng(0)
    sources = torch.as_tensor(np.stack([_source(15.0, 8.0, rng), _source(2.0, 12.0, rng)]))
    plain = excess_kurtosis(sources)
    assert plain[1] > plain[0]
    clip = InversionConfig().contrast_clip
    assert clip is not None
    clipped = excess_kurtosis(sources, clip=clip)
    assert clipped[0] > 1.3 * clipped[1]
