"""The fit of θ to spike-triggered MUAPs: best lag, per-row stopping, starts from the probe."""

from __future__ import annotations

import torch

from bmiss_engine.inversion.waveform import _best_lag_fit, _fit_batch, fit_to_waveform

N_SAMPLES, MAX_LAG = 48, 6


def _render(theta: torch.Tensor) -> torch.Tensor:
    """A toy MUAP (K, 3, 48) from θ (K, 2) in [0, 1]: a pulse propagating over 3 channels, its
    delay between channels and its width set by θ (a common shift would be a lag)."""
    t = torch.arange(N_SAMPLES, dtype=theta.dtype)
    channel = torch.arange(3, dtype=theta.dtype)
    centre = 12.0 + 10.0 * theta[:, :1, None] * channel[None, :, None]  # (K, 3, 1)
    width = 2.0 + 4.0 * theta[:, 1:, None]
    return torch.exp(-((t[None, None, :] - centre) ** 2) / (2 * width**2))


def _sta(theta: torch.Tensor, lag: int = 0) -> torch.Tensor:
    """The STA (K, 3, 48 + 2·MAX_LAG) of units at θ whose discharges sit ``lag`` samples early."""
    sta = torch.nn.functional.pad(_render(theta), (MAX_LAG, MAX_LAG))
    return torch.roll(sta, lag, dims=2)


def test_best_lag_is_found_and_the_residual_vanishes_at_the_truth() -> None:
    truth = torch.tensor([[0.3, 0.4], [0.7, 0.2]])
    relative, gain, lag, _ = _best_lag_fit(_render(truth), _sta(truth, lag=3), MAX_LAG)
    assert torch.all(relative < 1e-6)
    assert torch.allclose(gain, torch.ones(2), atol=1e-5)
    assert lag.tolist() == [3, 3]


def test_rows_stop_on_their_own_and_the_rest_still_converge() -> None:
    truth = torch.tensor([[0.3, 0.4], [0.6, 0.5]])
    start = torch.tensor([[0.3, 0.4], [0.1, 0.9]])  # the first row starts at its optimum
    rows_rendered: list[int] = []

    def render(theta: torch.Tensor) -> torch.Tensor:
        rows_rendered.append(theta.shape[0])
        return _render(theta)

    best = _fit_batch(render, start, _sta(truth), MAX_LAG, n_steps=150, learning_rate=0.02)
    relative, _, _, _ = _best_lag_fit(_render(best), _sta(truth), MAX_LAG)
    assert float(relative.max()) < 1e-3
    assert torch.allclose(best, truth, atol=0.05)  # the stopping rule: residual gains under 1e-3
    # the settled row left the batch while the other one kept moving
    assert rows_rendered[0] == 2
    assert 1 in rows_rendered


def test_without_an_estimate_the_fit_starts_from_distinct_probe_points() -> None:
    truth = torch.tensor([[0.55, 0.35]])
    probe = torch.rand(64, 2, generator=torch.Generator().manual_seed(0))
    seen: list[torch.Tensor] = []

    def render(theta: torch.Tensor) -> torch.Tensor:
        seen.append(theta.detach().clone())
        return _render(theta)

    fit = fit_to_waveform(render, None, _sta(truth), MAX_LAG, n_steps=150, learning_rate=0.02, n_starts=4,
                          probe=probe)
    first_step = seen[1]  # seen[0] renders the probe; then the batch of starts
    assert first_step.shape[0] == 4
    assert torch.unique(first_step, dim=0).shape[0] == 4
    assert float(fit.relative_residual[0]) < 1e-3
    assert torch.allclose(fit.theta, truth, atol=0.02)
