from __future__ import annotations

import pytest
import torch

from bmiss_engine import ConfigError
from bmiss_engine.separation.fastica import contrast_by_name, fixed_point


def test_fixed_point_recovers_sparse_sources_of_an_instantaneous_mixture() -> None:
    g = torch.Generator().manual_seed(0)
    n, k = 20000, 4
    sources = (torch.rand(k, n, generator=g) < 0.01).float() * (1 + torch.rand(k, n, generator=g))
    sources = (sources - sources.mean(1, keepdim=True)) / sources.std(1, keepdim=True)
    q, _ = torch.linalg.qr(torch.randn(k, k, generator=g))
    z = (q @ sources).T.contiguous()  # whitened mixture, (n, k)
    w0 = torch.randn(k, 1, generator=g)
    found = []
    basis = None
    for _ in range(k):
        w, _ = fixed_point(z, torch.randn(k, 1, generator=g), contrast_by_name("skew"), basis, 200, 1e-6)
        s = (z @ w)[:, 0]
        corr = torch.stack([torch.corrcoef(torch.stack([s, src]))[0, 1].abs() for src in sources])
        found.append(int(corr.argmax()))
        assert corr.max() > 0.99
        basis = w if basis is None else torch.cat([basis, w], 1)
    assert sorted(found) == list(range(k)), "orthogonalisation must lead to every source once"
    del w0


def test_unknown_contrast_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="contrast"):
        contrast_by_name("cosh")
