"""Extension by delays and whitening of the extended signal, in torch.

The extended signal stacks R delayed copies of every channel:
``x̃[c·R + r, t] = x[c, t - r]`` (zero before the start), so a convolutive mixture becomes an
instantaneous one (Holobar & Zazula 2007). It is never held in full: covariance and whitened
projection are built chunk by chunk over time, so memory grows with the whitened signal only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bmiss_engine.progress import checkpoint

CHUNK_SAMPLES = 16384
FLOOR_SCALE = 1.0


def extension_factor_for(n_channels: int, target_rows: int = 1000) -> int:
    """Delays R so that ``n_channels · R`` is about ``target_rows`` (at least 1)."""
    return max(1, round(target_rows / max(1, n_channels)))


def extend_chunk(x: torch.Tensor, factor: int, start: int, stop: int) -> torch.Tensor:
    """Extended signal over samples [start, stop): shape (n_channels·factor, stop-start).

    ``x`` is (n_channels, n_samples); rows are ordered channel-major (c·factor + r).
    """
    n_channels = x.shape[0]
    lead = min(start, factor - 1)
    window = x[:, start - lead : stop]
    if lead < factor - 1:
        pad = torch.zeros(n_channels, factor - 1 - lead, dtype=x.dtype, device=x.device)
        window = torch.cat([pad, window], dim=1)
    length = stop - start
    # unfold gives (channels, length, factor) with the latest sample last; delay r is index -1-r.
    frames = window.unfold(1, factor, 1)[:, :length, :].flip(-1)
    return frames.permute(0, 2, 1).reshape(n_channels * factor, length)


@dataclass(frozen=True)
class Whitening:
    """PCA whitening of the extended signal.

    ``matrix`` is (n_extended, n_whitened): ``z = matrixᵀ · x̃``. Components whose eigenvalue is
    below the mean of the smallest half are dropped (the regularisation of Negro et al. 2016).
    """

    matrix: torch.Tensor
    eigenvalues: torch.Tensor

    @property
    def n_whitened(self) -> int:
        return int(self.matrix.shape[1])


def extended_covariance(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Covariance (n_ext, n_ext), float64, of the extended signal of ``x`` (zero-mean rows)."""
    n_ext = x.shape[0] * factor
    n = x.shape[1]
    cov = torch.zeros(n_ext, n_ext, dtype=torch.float64, device=x.device)
    for start in range(0, n, CHUNK_SAMPLES):
        checkpoint()  # a Cancel acts between chunks (the covariance is most of the preparation)
        xe = extend_chunk(x, factor, start, min(n, start + CHUNK_SAMPLES))
        cov += (xe @ xe.T).double()
    return cov / n


def fit_whitening(x: torch.Tensor, factor: int) -> Whitening:
    """Fit the whitening of the extended signal of ``x`` (n_channels, n_samples)."""
    cov = extended_covariance(x, factor)
    eigenvalues, vectors = torch.linalg.eigh(cov.cpu())
    floor = eigenvalues[: eigenvalues.numel() // 2].mean().clamp_min(1e-30) * FLOOR_SCALE
    keep = eigenvalues > floor
    vals = eigenvalues[keep]
    matrix = (vectors[:, keep] / vals.sqrt()).to(device=x.device, dtype=x.dtype)
    return Whitening(matrix=matrix, eigenvalues=vals.to(x.dtype))


def whiten(x: torch.Tensor, factor: int, whitening: Whitening) -> torch.Tensor:
    """Whitened extended signal, time-major: shape (n_samples, n_whitened).

    Time-major because the separation steps gather whole time instants (initialisation,
    refinement at discharges, peel-off), which are then contiguous rows.
    """
    n = x.shape[1]
    z = torch.empty(n, whitening.n_whitened, dtype=x.dtype, device=x.device)
    for start in range(0, n, CHUNK_SAMPLES):
        checkpoint()
        stop = min(n, start + CHUNK_SAMPLES)
        z[start:stop] = extend_chunk(x, factor, start, stop).T @ whitening.matrix
    return z


def apply_extended_filters(x: torch.Tensor, factor: int, filters: torch.Tensor) -> torch.Tensor:
    """Sources ``filters · x̃`` for filters (n_units, n_channels·factor): shape (n_units, n_samples)."""
    n = x.shape[1]
    out = torch.empty(filters.shape[0], n, dtype=x.dtype, device=x.device)
    for start in range(0, n, CHUNK_SAMPLES):
        stop = min(n, start + CHUNK_SAMPLES)
        out[:, start:stop] = filters @ extend_chunk(x, factor, start, stop)
    return out
