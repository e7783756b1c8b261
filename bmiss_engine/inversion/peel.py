"""Joint peel-off: the MUAPs of all known units fitted together by least squares, then
subtracted.

A unit's spike-triggered average carries the average of every other unit that fires near
its discharges. At the paper setting's density (about 35 MUAPs overlapping at any instant)
subtracting such averages unit by unit leaves a residual off the ideal one by 18 % of the
recording's RMS with the 40 largest units' true trains, and the exact-MUAP MVDR then finds 8 of
the other 60 units in it (17 in the ideal residual). Fitting the K units' MUAPs jointly,

    min_M ‖x − Σ_k s_k ∗ M_k‖²   (s_k: unit k's discharge train, M_k: (n_channels, n_muap)),

explains the overlaps among them away: 8.6 % off the ideal, 14 of the 60 found. The problem is
linear in M with one design matrix for all channels: D (n_samples, K·n_muap), D[t, k·L + j] = 1
where unit k fires at t − j + onset, so ``M = (DᵀD)⁻¹·Dᵀ·xᵀ`` costs one (K·L)² solve.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import torch
from numpy.typing import NDArray

# above this many unknowns per channel (K·n_muap) the dense normal equations would take more
# than about 1 GB: the units are then fitted in groups of this size
MAX_JOINT_COLUMNS = 12000
# ridge on DᵀD, in discharges: keeps duplicate trains (a singular DᵀD) solvable, negligible
# against the ≥ 10 discharges of an accepted unit
RIDGE = 1e-3


def design_matrix(trains: Sequence[NDArray[np.int64]], onset: int, n_muap: int, n_samples: int) -> sp.csr_matrix:
    """D (n_samples, K·n_muap): D[t, k·n_muap + j] = 1 where unit k's MUAP sample j falls at t,
    i.e. the unit fires at t − j + onset (samples outside the recording dropped)."""
    rows, cols = [], []
    for k, discharges in enumerate(trains):
        t = np.asarray(discharges, dtype=np.int64)[:, None] - onset + np.arange(n_muap)[None, :]
        c = np.broadcast_to(k * n_muap + np.arange(n_muap)[None, :], t.shape)
        inside = (t >= 0) & (t < n_samples)
        rows.append(t[inside])
        cols.append(c[inside])
    row = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    col = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    return sp.csr_matrix((np.ones(row.size), (row, col)), shape=(n_samples, len(trains) * n_muap))


def joint_muaps(x: NDArray[np.float64], trains: Sequence[NDArray[np.int64]], onset: int,
                n_muap: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The MUAPs (K, n_channels, n_muap) of K units fitted jointly to x (n_channels,
    n_samples) at their discharges, and their sum (n_channels, n_samples): what the units
    explain of x."""
    n_channels, n_samples = x.shape
    muaps = np.zeros((len(trains), n_channels, n_muap))
    explained = np.zeros_like(x)
    group = max(1, MAX_JOINT_COLUMNS // max(1, n_muap))
    for start in range(0, len(trains), group):
        part = list(trains[start : start + group])
        design = design_matrix(part, onset, n_muap, n_samples)
        gram = (design.T @ design).toarray()
        gram[np.diag_indices_from(gram)] += RIDGE
        # a later group is fitted to what the earlier ones left
        rhs = design.T @ (x - explained).T  # (K·L, n_channels)
        solution = scipy.linalg.solve(gram, rhs, assume_a="pos")
        muaps[start : start + len(part)] = solution.reshape(len(part), n_muap, n_channels).transpose(0, 2, 1)
        explained += (design @ solution).T
    return muaps, explained


def joint_peeled(
    x: torch.Tensor, trains: Sequence[NDArray[np.int64]], onset: int, n_muap: int, fs: float, scan_from: int = 0
) -> tuple[torch.Tensor, list[NDArray[np.int64]]]:
    """x (n_channels, n_samples) less the jointly fitted MUAPs of ``trains`` at their
    discharges, on x's device and dtype, and the discharges used per unit.

    A discharge a detection missed would leave a lone MUAP behind, a spike the kurtosis
    contrast then chases; so after the first fit the residual is scanned with each unit's MUAP
    as a matched filter (:func:`matched_discharges`), and the windows that match are added as
    discharges and the fit redone; units before ``scan_from`` (completed by an earlier call) are
    not scanned again. Windows are cut at the recording's edges.
    """
    data = x.detach().to(device="cpu", dtype=torch.float64).numpy()
    completed = [np.unique(np.asarray(d, dtype=np.int64)) for d in trains]
    if not completed:
        return x.clone(), completed
    muaps, explained = joint_muaps(data, completed, onset, n_muap)
    residual = torch.as_tensor(data - explained, dtype=x.dtype, device=x.device)
    extra = [matched_discharges(residual, torch.as_tensor(m, dtype=x.dtype, device=x.device), onset, d, round(0.02 * fs))
             if k >= scan_from else np.zeros(0, dtype=np.int64)
             for k, (m, d) in enumerate(zip(muaps, completed, strict=True))]
    if any(e.size for e in extra):
        completed = [np.union1d(d, e).astype(np.int64) for d, e in zip(completed, extra, strict=True)]
        _, explained = joint_muaps(data, completed, onset, n_muap)
    return torch.as_tensor(data - explained, dtype=x.dtype, device=x.device), completed


def matched_discharges(
    residual: torch.Tensor, muap: torch.Tensor, onset: int, known: NDArray[np.int64], min_distance: int
) -> NDArray[np.int64]:
    """Discharge samples where ``muap`` (n_channels, n_muap) is left whole in ``residual``."""
    energy = float((muap * muap).sum())
    if energy <= 0:
        return np.zeros(0, dtype=np.int64)
    with torch.no_grad():
        dot = torch.nn.functional.conv1d(residual[None], muap[None])[0, 0]  # window start s
        window_energy = torch.nn.functional.conv1d(residual[None] ** 2, torch.ones_like(muap)[None])[0, 0]
        gain = (dot / energy).cpu().numpy()
        corr = (dot / (energy * window_energy.clamp_min(1e-30)).sqrt()).cpu().numpy()
    candidates = np.flatnonzero((gain > 0.5) & (gain < 1.5) & (corr >= 0.8))
    picked: list[int] = []
    for start in candidates[np.argsort(-corr[candidates])]:
        t = int(start) + onset
        near_known = known.size and np.min(np.abs(known - t)) < min_distance
        if not near_known and all(abs(t - p) >= min_distance for p in picked):
            picked.append(t)
    return np.asarray(sorted(picked), dtype=np.int64)
