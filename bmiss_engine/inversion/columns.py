"""Extended mixing columns b̃(θ) from rendered MUAPs.

With ``x̃[c·R + r, t] = x[c, t − r]``, a unit discharging at t_d contributes
``b[c, t − t_d + onset − r]`` to row c·R + r, so the column for MUAP sample d is
``b̃_d[c·R + r] = b[c, d − r]`` and its MVDR source peaks at ``t = t_d + d − onset``. The
discharge instant inside the R-sample window is unknown; the window is placed where it holds
the most MUAP energy (d = argmax over windows of Σ_c Σ_r b[c, d − r]², chosen without gradient,
the column itself differentiable), so the column carries as much of the unit as R samples can.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def peak_energy_end(muaps: torch.Tensor, extension_factor: int) -> torch.Tensor:
    """For MUAPs (K, n_channels, n_samples): the last sample d (K,) of the R-sample window
    with the most energy, in [R − 1, n_samples − 1]."""
    with torch.no_grad():
        energy = (muaps.detach() ** 2).sum(dim=1)  # (K, n_samples)
        windowed = F.avg_pool1d(energy[:, None, :], extension_factor, stride=1)[:, 0, :]  # window [i, i+R)
        return windowed.argmax(dim=1) + extension_factor - 1


def extended_columns(muaps: torch.Tensor, extension_factor: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Columns (K, n_channels·R), rows channel-major as the extended recording, and the window
    end d (K,) in MUAP samples (the source peaks ``d − onset`` samples after the discharge)."""
    n_units, n_channels, _ = muaps.shape
    end = peak_energy_end(muaps, extension_factor)
    # sample d − r for r = 0 … R − 1: gather (K, C, R)
    index = end[:, None] - torch.arange(extension_factor, device=muaps.device)[None, :]  # (K, R)
    gathered = torch.gather(muaps, 2, index[:, None, :].expand(n_units, n_channels, extension_factor))
    return gathered.reshape(n_units, n_channels * extension_factor), end
