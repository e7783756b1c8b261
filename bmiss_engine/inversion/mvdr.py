"""The extended recording and the MVDR (CKC) source estimator of a candidate MUAP.

The recording x (n_channels, n_samples) is extended by R delays, ``x̃[c·R + r, t] = x[c, t − r]``
(as :mod:`bmiss_engine.separation.whitening`). Its covariance C (n_ext, n_ext) is regularised
by an *eigen-floor*: eigenvalues below ``floor = max(mean of the smallest half, rel_floor ·
largest)`` are raised to it (Negro et al.'s noise level, with a relative floor so a noiseless,
rank-deficient recording still gives a bounded inverse). With ``C⁻¹ = W·Wᵀ``,
``W = V·diag(λ_reg^(−1/2))`` (all components kept: a column's part in the floored subspace still
counts, weighted by 1/floor), the whitened signal ``z = x̃ᵀ·W`` (n_samples, n_ext) is computed
once and kept on the device. A candidate's extended mixing column b̃ (n_ext,) then gives the
MVDR source

    ŝ(t) = b̃ᵀ·C⁻¹·x̃(t) / (b̃ᵀ·C⁻¹·b̃) = z(t)·(Wᵀ·b̃) / |Wᵀ·b̃|²,

scaled so that a perfect column of a unit with unit-amplitude discharges peaks at 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from bmiss_engine.separation.whitening import Whitening, extended_covariance, whiten


@dataclass(frozen=True)
class MvdrEstimator:
    """The regularised inverse covariance of an extended recording, as its square root.

    inverse_root: W (n_ext, n_ext) with ``W·Wᵀ = C_reg⁻¹``; whitened: z (n_samples, n_ext);
    extension_factor: R; floor: the eigenvalue floor used; n_floored: eigenvalues raised to it.
    """

    inverse_root: torch.Tensor
    whitened: torch.Tensor
    extension_factor: int
    floor: float
    n_floored: int

    @classmethod
    def fit(cls, x: torch.Tensor, extension_factor: int, rel_floor: float = 1e-6) -> MvdrEstimator:
        """Fit on ``x`` (n_channels, n_samples), zero-mean rows, on its device and dtype."""
        return cls.fit_floors(x, extension_factor, (rel_floor,))[0]

    @classmethod
    def fit_floors(cls, x: torch.Tensor, extension_factor: int,
                   rel_floors: Sequence[float]) -> tuple[MvdrEstimator, ...]:
        """One estimator per relative floor, sharing the covariance, its eigendecomposition and
        the projection ``x̃ᵀ·V`` (n_samples, n_ext), which the floors only rescale column by
        column: at 320 channels × R = 10 each of those costs as much as the rest of a fit."""
        cov = extended_covariance(x, extension_factor)
        eigenvalues, vectors = torch.linalg.eigh(cov.cpu())
        del cov
        noise_level = float(eigenvalues[: eigenvalues.numel() // 2].mean())
        basis = vectors.to(device=x.device, dtype=x.dtype)
        projected = whiten(x, extension_factor, Whitening(matrix=basis, eigenvalues=eigenvalues.to(x.dtype)))
        out = []
        for i, rel_floor in enumerate(rel_floors):
            floor = max(noise_level, rel_floor * float(eigenvalues[-1]), 1e-300)
            n_floored = int((eigenvalues < floor).sum())
            regularised = eigenvalues.clamp_min(floor)
            scale = regularised.rsqrt().to(device=x.device, dtype=x.dtype)
            # the last floor rescales the projection in place: no second copy of it
            z = projected.mul_(scale) if i == len(rel_floors) - 1 else projected * scale
            out.append(cls(basis * scale, z, extension_factor, floor, n_floored))
        return tuple(out)

    @property
    def n_samples(self) -> int:
        return int(self.whitened.shape[0])

    def sources(self, columns: torch.Tensor) -> torch.Tensor:
        """MVDR sources (K, n_samples) of extended columns (K, n_ext); differentiable in them."""
        projected = columns.to(self.inverse_root.dtype) @ self.inverse_root  # (K, n_ext): (Wᵀ·b̃)ᵀ
        gain = (projected * projected).sum(dim=1, keepdim=True).clamp_min(1e-30)
        return (projected @ self.whitened.T) / gain
