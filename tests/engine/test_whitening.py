from __future__ import annotations

import torch

from bmiss_engine.separation import whitening as wh


def test_extension_matches_definition_across_chunks() -> None:
    x = torch.randn(3, 500)
    full = wh.extend_chunk(x, 5, 0, 500)
    for c in range(3):
        for r in range(5):
            expected = torch.cat([torch.zeros(r), x[c, : 500 - r]])
            torch.testing.assert_close(full[c * 5 + r], expected)
    torch.testing.assert_close(torch.cat([wh.extend_chunk(x, 5, 0, 123), wh.extend_chunk(x, 5, 123, 500)], 1), full)


def test_whitened_signal_has_identity_covariance(monkeypatch) -> None:
    monkeypatch.setattr(wh, "CHUNK_SAMPLES", 1000)  # force several chunks
    g = torch.Generator().manual_seed(0)
    mixing = torch.randn(8, 4, generator=g)
    x = mixing @ torch.randn(4, 5000, generator=g) + 0.05 * torch.randn(8, 5000, generator=g)
    w = wh.fit_whitening(x, 3)
    z = wh.whiten(x, 3, w)
    assert z.shape == (5000, w.n_whitened)
    cov = (z.T @ z) / z.shape[0]
    torch.testing.assert_close(cov, torch.eye(w.n_whitened), atol=2e-3, rtol=0)
    # the noise-floor components are dropped
    assert w.n_whitened < 24


def test_extension_factor_targets_1000_rows() -> None:
    assert wh.extension_factor_for(64) == 16
    assert wh.extension_factor_for(2000) == 1
