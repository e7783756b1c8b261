"""The Laplace uncertainty of θ counts smooth residuals as the few independent values they are."""

from __future__ import annotations

import torch

from bmiss_engine.inversion.waveform import _correlation_inflation


def test_white_residual_is_not_inflated_and_a_smooth_one_is() -> None:
    torch.manual_seed(0)
    white = torch.randn(3, 64, 70, dtype=torch.float64)
    assert torch.all((_correlation_inflation(white) - 1).abs() < 0.1)
    # an AR(1) residual in time with ρ = 0.9: variance inflation (1 + ρ)/(1 − ρ) = 19
    rho = 0.9
    smooth = torch.zeros_like(white)
    smooth[..., 0] = white[..., 0]
    for t in range(1, white.shape[-1]):
        smooth[..., t] = rho * smooth[..., t - 1] + (1 - rho**2) ** 0.5 * white[..., t]
    factor = _correlation_inflation(smooth)
    assert torch.all((factor > 12) & (factor < 28))
    # the same residual copied to neighbouring channels is smoother still
    shared = smooth[:, :1].expand(-1, 64, -1).contiguous() + 0.1 * white
    assert torch.all(_correlation_inflation(shared) > 5 * factor)
