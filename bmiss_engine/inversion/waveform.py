"""θ refined against a unit's spike-triggered MUAP, with a Laplace (Gauss–Newton) uncertainty.

The sparsity contrast finds the unit and a θ that separates it, but it is flat along some
directions (conduction velocity, fibre lengths, territory size trade off against each other
for the source's sparsity). Once discharges are known, the spike-triggered average (STA) of the
recording is a direct, noisy measurement of the MUAP, and θ is refined by least squares:

    min over θ, gain g, lag τ of  |STA(· + τ) − g·b(θ)|²

g in closed form (the MUAP is linear in the fibre count, so g gives the fibre count), τ an
integer lag chosen per step without gradient (the detected discharges sit a few samples off
the modelled instant when the contrast's θ was off), θ by Adam in [0, 1].

Uncertainty: the least-squares covariance ``σ²·(JᵀJ)⁻¹`` at the optimum, J (n_values,
n_searched) the Jacobian of g·b(θ) by central differences and σ² the residual variance per
value. It is the local curvature of the misfit, so it says how well the STA pins θ down, not
how far model error moves it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

from bmiss_engine import progress

Renderer = Callable[[torch.Tensor], torch.Tensor]

# early stop of the fit: no row's relative residual fell by this much over this many steps
_PATIENCE = 15
_MIN_GAIN = 1e-3


@dataclass(frozen=True)
class WaveformFit:
    """theta: (K, n_searched) refined θ; gain: (K,) STA over rendered MUAP amplitude;
    lag: (K,) samples by which the discharges must move to the modelled discharge instant;
    relative_residual: (K,) |STA − g·b|² / |STA|²; sd: (K, n_searched) Laplace standard deviation."""

    theta: torch.Tensor
    gain: NDArray[np.float64]
    lag: NDArray[np.int64]
    relative_residual: NDArray[np.float64]
    sd: NDArray[np.float64]


def window_energy(sta: torch.Tensor, n: int) -> torch.Tensor:
    """Energy (K, N − n + 1) of every length-``n`` window of K signals (K, C, N) (e.g. STAs of
    n + 2L samples: one energy per lag), summed over channels and floored at 1e-30: a sliding
    sum of one cumulative sum, in float64 so the differences keep their digits."""
    power = (sta.detach().double() ** 2).sum(dim=1)  # (K, N)
    csum = torch.nn.functional.pad(power.cumsum(dim=1), (1, 0))
    return (csum[:, n:] - csum[:, :-n]).to(sta.dtype).clamp_min(1e-30)


def _lag_dots(muaps: torch.Tensor, sta: torch.Tensor) -> torch.Tensor:
    """Σ over channels and time of MUAP k (K, C, T) times STA k (K, C, T + 2L) shifted by
    each lag: (K, 2L+1). One grouped convolution (cross-correlation), one group per unit."""
    k, c = muaps.shape[:2]
    return torch.nn.functional.conv1d(sta.reshape(1, k * c, -1), muaps, groups=k)[0]


def _best_lag_fit(
    muaps: torch.Tensor, sta: torch.Tensor, max_lag: int, sta_energy: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """For MUAPs (K, C, T) and STAs (K, C, T + 2·max_lag): the relative residual (K,) at the
    best integer lag, the gain (K,), the lag (K,) and the matching STA windows (K, C, T).
    ``sta_energy``: :func:`window_energy` of ``sta``, when the caller fits the same STAs
    many times."""
    n = muaps.shape[2]
    with torch.no_grad():
        energy = window_energy(sta, n) if sta_energy is None else sta_energy
        dot = _lag_dots(muaps.detach(), sta.detach())
        norm = (muaps.detach() ** 2).sum(dim=(1, 2)).clamp_min(1e-30)
        lag_index = (dot**2 / (energy * norm[:, None])).argmax(dim=1)
    # the window at the chosen lag, gathered without building every lag's window
    index = lag_index[:, None, None] + torch.arange(n, device=sta.device)[None, None, :]
    target = sta.gather(2, index.expand(-1, sta.shape[1], -1))  # (K, C, T)
    dot_best = (muaps * target).sum(dim=(1, 2))
    norm_best = (muaps**2).sum(dim=(1, 2)).clamp_min(1e-30)
    gain = dot_best / norm_best
    target_energy = (target**2).sum(dim=(1, 2)).clamp_min(1e-30)
    relative = 1.0 - dot_best**2 / (norm_best * target_energy)
    return relative, gain, lag_index - max_lag, target


def fit_to_waveform(
    render: Renderer, start: torch.Tensor | None, sta: torch.Tensor, max_lag: int, n_steps: int = 150,
    learning_rate: float = 0.03, n_starts: int = 4, probe: torch.Tensor | None = None, step_fd: float = 1e-2,
    probe_batch: int = 64,
) -> WaveformFit:
    """Refine searched θ (K, n_searched) so the rendered MUAPs ``render(θ)`` (K, C, T) match
    the STAs (K, C, T + 2·max_lag) (window starting ``max_lag`` samples before the MUAP's).

    The misfit has local minima (the contrast's θ can sit in the wrong basin when it found the
    unit's discharges from a poor θ), so each unit is refined from ``n_starts`` points: its θ
    ``start`` and the ``n_starts − 1`` points of ``probe`` (M, n_searched) that fit its STA best
    (the probe is rendered once for all units); with ``start`` None (no estimate yet), the
    ``n_starts`` best points of the probe. All starts of all units run in one batch; the
    lowest residual wins. ``step_fd`` is the Jacobian's central-difference step (float32
    rendering: smaller steps drown in rounding).
    """
    if start is None and probe is None:
        raise ValueError("fit_to_waveform needs a start or a probe")
    n_units = sta.shape[0]
    n_from_probe = 0 if probe is None else n_starts - (start is not None)
    parts = [] if start is None else [start.detach()[:, None, :]]
    if probe is not None and n_from_probe > 0:
        with torch.no_grad():
            tables = []
            for i in range(0, probe.shape[0], probe_batch):
                progress.checkpoint()
                tables.append(misfit_table(render(probe[i : i + probe_batch]), sta, max_lag))
            misfit = torch.cat(tables, dim=1)  # (K, M)
            best = misfit.topk(min(n_from_probe, probe.shape[0]), dim=1, largest=False).indices
        parts.append(probe.to(sta.dtype)[best])
    starts = torch.cat(parts, dim=1)
    n_starts, n_params = starts.shape[1], starts.shape[2]
    flat_sta = sta.repeat_interleave(n_starts, dim=0)
    fit = _fit_batch(render, starts.reshape(-1, n_params), flat_sta, max_lag, n_steps, learning_rate)
    with torch.no_grad():
        relative, _, _, _ = _best_lag_fit(render(fit), flat_sta, max_lag)
        winner = relative.reshape(n_units, n_starts).argmin(dim=1)
        theta = fit.reshape(n_units, n_starts, n_params)[torch.arange(n_units), winner]
        relative, gain, lag, target = _best_lag_fit(render(theta), sta, max_lag)
        sd = _laplace_sd(render, theta, gain, target, step_fd)
    return WaveformFit(theta, gain.double().cpu().numpy(), lag.cpu().numpy().astype(np.int64),
                       relative.double().cpu().numpy(), sd)


def misfit_table(muaps: torch.Tensor, sta: torch.Tensor, max_lag: int) -> torch.Tensor:
    """Relative residual (K, M) of every MUAP (M, C, T) against every STA (K, C, T + 2·max_lag)
    at its best lag."""
    n = muaps.shape[2]
    dot = torch.nn.functional.conv1d(sta, muaps)  # (K, M, 2L+1): cross-correlation at every lag
    energy = window_energy(sta, n)  # (K, 2L+1)
    norm = (muaps**2).sum(dim=(1, 2)).clamp_min(1e-30)  # (M,)
    return 1.0 - (dot**2 / (energy[:, None, :] * norm[None, :, None])).amax(dim=2)


def _fit_batch(
    render: Renderer, start: torch.Tensor, sta: torch.Tensor, max_lag: int, n_steps: int, learning_rate: float
) -> torch.Tensor:
    """Adam on the relative residual from θ (K, n_searched); each row's best θ seen.

    A row stops once its residual has not fallen by ``_MIN_GAIN`` over the last ``_PATIENCE``
    steps, and only the rows still moving are rendered and differentiated: on the paper
    setting the median row settles by step 33 of 100, the slowest at 92. Adam is written out
    (the update of ``torch.optim.Adam`` at its defaults) so that it acts on those rows alone."""
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    theta = start.detach().clone()
    first_moment = torch.zeros_like(theta)
    second_moment = torch.zeros_like(theta)
    best = theta.clone()
    best_value = torch.full((theta.shape[0],), torch.inf, device=theta.device)
    checkpoint = best_value.clone()
    active = torch.ones(theta.shape[0], dtype=torch.bool, device=theta.device)
    sta_energy = window_energy(sta, sta.shape[2] - 2 * max_lag)  # the STAs stay: their window energies too
    for step in range(n_steps + 1):
        progress.checkpoint()
        rows = active.nonzero().squeeze(1)
        moving = theta[rows].requires_grad_(True)
        relative, _, _, _ = _best_lag_fit(render(moving), sta[rows], max_lag, sta_energy[rows])
        with torch.no_grad():
            better = relative.detach() < best_value[rows]
            best[rows[better]] = moving.detach()[better]
            best_value[rows[better]] = relative.detach()[better]
        if step == n_steps:
            break
        if step and step % _PATIENCE == 0:
            active &= (checkpoint - best_value) >= _MIN_GAIN  # inf − inf is nan: a row never scored stops
            checkpoint = best_value.clone()
            if not bool(active.any()):
                break
        # rows are independent: one backward for all
        (gradient,) = torch.autograd.grad(relative.sum(), moving)
        with torch.no_grad():
            keep = active[rows]  # rows that stopped at this check take no step
            rows, gradient = rows[keep], gradient[keep]
            first_moment[rows] = beta1 * first_moment[rows] + (1 - beta1) * gradient
            second_moment[rows] = beta2 * second_moment[rows] + (1 - beta2) * gradient**2
            count = step + 1  # every row still moving has taken every step so far
            m_hat = first_moment[rows] / (1 - beta1**count)
            v_hat = second_moment[rows] / (1 - beta2**count)
            theta[rows] = (theta[rows] - learning_rate * m_hat / (v_hat.sqrt() + eps)).clamp(0.0, 1.0)
    return best


def _laplace_sd(
    render: Renderer, theta: torch.Tensor, gain: torch.Tensor, target: torch.Tensor, step_fd: float
) -> NDArray[np.float64]:
    """sqrt(diag(σ²·(JᵀJ)⁻¹)) per unit, (K, n_searched); J of g·b(θ) by central differences,
    all 2·n_searched shifted θ of all units rendered in one batch."""
    n_units, n_params = theta.shape
    eye = torch.eye(n_params, dtype=theta.dtype, device=theta.device) * step_fd
    shifted = torch.cat([(theta[:, None, :] + eye).clamp(0, 1), (theta[:, None, :] - eye).clamp(0, 1)], dim=1)
    rendered = render(shifted.reshape(-1, n_params)).reshape(n_units, 2 * n_params, -1).double()
    width = (shifted[:, :n_params, :] - shifted[:, n_params:, :]).diagonal(dim1=1, dim2=2).double()  # (K, P)
    jac = (rendered[:, :n_params] - rendered[:, n_params:]) / width.clamp_min(1e-12)[..., None]  # (K, P, V)
    jac = jac * gain.double()[:, None, None]
    fitted = gain.double()[:, None] * render(theta).reshape(n_units, -1).double()
    residual = target.reshape(n_units, -1).double() - fitted
    n_values = residual.shape[1]
    sigma2 = (residual**2).sum(dim=1) / max(1, n_values - n_params)
    # the residual is smooth in time and across neighbouring channels, not C·T independent
    # values: the variance grows by C·T / n_eff, n_eff from the lag-1 correlations (AR(1))
    sigma2 = sigma2 * _correlation_inflation(residual.reshape(target.shape))
    normal = jac @ jac.transpose(1, 2)  # (K, P, P)
    # a ridge far below any curvature the STA resolves: a flat direction then shows as a huge
    # standard deviation, where a pseudo-inverse would report zero
    ridge = 1e-12 * normal.diagonal(dim1=1, dim2=2).sum(dim=1).clamp_min(1e-300)
    normal = normal + ridge[:, None, None] * torch.eye(n_params, dtype=normal.dtype, device=normal.device)
    cov = torch.linalg.inv(normal) * sigma2[:, None, None]
    sd: NDArray[np.float64] = cov.diagonal(dim1=1, dim2=2).clamp_min(0).sqrt().cpu().numpy()
    return sd


def _correlation_inflation(residual: torch.Tensor) -> torch.Tensor:
    """C·T / n_eff per unit for residuals (K, C, T): n_eff = C·T·Π (1 − ρ)/(1 + ρ) over the
    lag-1 correlations ρ along time and between consecutive channels (row-major grids: mostly
    neighbours). Negative ρ (no evidence of smoothness) counts as 0."""
    energy = (residual**2).sum(dim=(1, 2)).clamp_min(1e-300)
    factor = torch.ones_like(energy)
    for dim in (2, 1):
        if residual.shape[dim] < 2:
            continue
        a, b = residual.narrow(dim, 1, residual.shape[dim] - 1), residual.narrow(dim, 0, residual.shape[dim] - 1)
        rho = ((a * b).sum(dim=(1, 2)) / energy).clamp(0.0, 0.99)
        factor = factor * (1 + rho) / (1 - rho)
    return factor
