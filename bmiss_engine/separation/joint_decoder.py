"""Joint decoding of motor units from their MUAP templates: every unit's discharges at once.

A linear separation filter (FastICA, CKC/MVDR) estimates one unit at a time and cannot separate a
small unit whose MUAP hides under a large one. Given the templates ``M_k`` (n_channels, L) of all
known units, the decoder explains the recording as a whole instead:

    min_a ½‖x − Σ_k d_k ∗ a_k‖² + λ Σ_{k,t} w_k(t)·a_k(t),   a ≥ 0,   d_k = M_k / ‖M_k‖,

non-negative convex sparse deconvolution with unit-norm atoms (so one λ = κ × noise SD suits every
unit), solved by FISTA with adaptive restart in the frequency domain: per frequency bin the units
couple through their (U, U) cross-spectrum, so an iteration costs U² per bin and two FFTs of the
amplitudes. A first round with w = 1 is followed by reweighted rounds (Candès, Wakin and Boyd
2008), w = ε / (amplitude + ε), which remove the L1 shrinkage where a discharge is already found.
A unit's discharges are the maxima of its amplitude a_k / ‖M_k‖ (1 for one whole MUAP) above a
threshold, at most one per refractory period, placed at the amplitude-weighted centre of the
samples around the maximum.

Conventions: ``x`` is (n_channels, n_samples) float32 on any device; a template is L samples long
and a discharge at sample t places its first sample at t − ``onset`` (``onset`` = L // 2 for
templates centred on the discharge). Trains are sorted int64 numpy arrays of discharge samples.
The noise SD that sets λ comes from the recording (:func:`noise_sd`, the median absolute deviation
of a residual), never from a simulator's SNR.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

# units per chunk where a (units, channels, frequency bins) complex array would be formed
_UNIT_CHUNK = 8
# trains whose windows add up to more than this many times their samples are correlated by FFT
# (the gather costs C·m·L, the FFT about C·n·log2(n) per unit)
_FFT_ABOVE = 4.0
# discharges per chunk where their templates are gathered into one (C, n·L) array
_DISCHARGE_CHUNK = 1024


@dataclass(frozen=True)
class DecoderSettings:
    """kappa: λ in noise SDs on unit-norm atoms; threshold: the amplitude (relative to the
    template) that makes a discharge; max_iterations: FISTA iterations per round at most;
    tolerance: a round stops when the amplitudes change by less than this (relative);
    reweight_rounds: reweighted-L1 rounds after the first (the first is skipped when the decoder
    starts from given trains); reweight_eps: ε of the reweighting; refractory_s: the shortest
    interval between two discharges of one unit; report_every: iterations between progress reports."""

    kappa: float = 3.0
    threshold: float = 0.5
    max_iterations: int = 600
    tolerance: float = 1e-4
    reweight_rounds: int = 1
    reweight_eps: float = 0.2
    refractory_s: float = 0.02
    report_every: int = 25


@dataclass(frozen=True)
class JointDecoding:
    """What the decoder found.

    trains: one sorted int64 array of discharge samples per unit; amplitude: (U, n_samples)
    float32, each unit's decoded amplitude relative to its template, indexed by discharge sample
    (1 where one whole MUAP fires); residual: (n_channels, n_samples) float32, x less every unit's
    template at its binary train; iterations: FISTA iterations run over all rounds."""

    trains: list[NDArray[np.int64]]
    amplitude: torch.Tensor
    residual: torch.Tensor
    iterations: int


@dataclass(frozen=True)
class DecoderProgress:
    """A progress report: FISTA iterations done and at most, over all rounds."""

    iteration: int
    total: int


def place_trains(trains: Sequence[NDArray[np.int64]], n_samples: int, onset: int,
                 device: torch.device | None = None) -> torch.Tensor:
    """(U, n_samples) float32 0/1 template starts: a discharge at t starts its template at t − onset
    (starts outside the recording are dropped)."""
    device = device or torch.device("cpu")
    starts = torch.zeros(len(trains), n_samples, dtype=torch.float32, device=device)
    if not trains:
        return starts
    units = np.concatenate([np.full(len(d), k, dtype=np.int64) for k, d in enumerate(trains)])
    times = np.concatenate([np.asarray(d, dtype=np.int64) for d in trains]) - onset
    inside = (times >= 0) & (times < n_samples)
    starts[torch.as_tensor(units[inside], device=device), torch.as_tensor(times[inside], device=device)] = 1.0
    return starts


def _fft_length(n: int) -> int:
    """A length ≥ n that FFTs fast (a power of two)."""
    return int(2 ** math.ceil(math.log2(max(n, 2))))


def convolve_templates(templates: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
    """Σ_k M_k ∗ s_k, (n_channels, n_samples), of templates (U, C, L) and template starts or
    amplitudes (U, n_samples)."""
    n_t, length = starts.shape[1], templates.shape[2]
    n_fft = _fft_length(n_t + length)
    s_f = torch.fft.rfft(starts, n=n_fft)  # (U, F)
    total = torch.zeros(templates.shape[1], n_fft // 2 + 1, dtype=s_f.dtype, device=starts.device)
    for a in range(0, templates.shape[0], _UNIT_CHUNK):
        m_f = torch.fft.rfft(templates[a : a + _UNIT_CHUNK], n=n_fft)  # (u, C, F)
        total += torch.einsum("ucf,uf->cf", m_f, s_f[a : a + _UNIT_CHUNK])
    out: torch.Tensor = torch.fft.irfft(total, n=n_fft)[:, :n_t]
    return out


def train_reconstruction(templates: torch.Tensor, trains: Sequence[NDArray[np.int64]], onset: int,
                         n_samples: int) -> torch.Tensor:
    """(n_channels, n_samples) Σ_k M_k ∗ s_k for binary trains: each template (U, C, L) added where
    its unit discharges (a discharge at t starts its template at t − onset; starts outside the
    recording are dropped, as in :func:`place_trains`).

    The same sum as ``convolve_templates(templates, place_trains(...))``, without the FFTs of the
    zero-padded templates (U·C transforms of the recording's length): a few thousand discharges
    cost far less."""
    n_units, n_channels, length = templates.shape
    device = templates.device
    out = torch.zeros(n_channels, n_samples + length, dtype=templates.dtype, device=device)
    if n_units == 0 or not trains:
        return out[:, :n_samples]
    units = np.concatenate([np.full(len(d), k, dtype=np.int64) for k, d in enumerate(trains)])
    starts = np.concatenate([np.asarray(d, dtype=np.int64) for d in trains]) - onset
    inside = (starts >= 0) & (starts < n_samples)
    units_t = torch.as_tensor(units[inside], device=device)
    starts_t = torch.as_tensor(starts[inside], device=device)
    lags = torch.arange(length, device=device)
    for a in range(0, units_t.numel(), _DISCHARGE_CHUNK):
        index = (starts_t[a : a + _DISCHARGE_CHUNK, None] + lags).reshape(-1)  # (n·L,)
        values = templates[units_t[a : a + _DISCHARGE_CHUNK]].permute(1, 0, 2).reshape(n_channels, -1)  # (C, n·L)
        out.index_add_(1, index, values)
    return out[:, :n_samples]


def _train_correlations(x: torch.Tensor, starts: torch.Tensor, length: int, gather: bool = True) -> torch.Tensor:
    """(U, C, length) float32: Σ_t s_k(t)·x_c(t + τ) for τ in [0, length) (x beyond its end is 0).

    Sparse trains (a few hundred discharges in tens of thousands of samples) are summed window by
    window, a gather of x; dense ones, or with ``gather`` False, by FFT, whose (U, C, n_fft)
    inverse transforms cost far more where the trains are sparse (about 1 s for 26 units on 64
    channels × 66,560 samples). The two agree to float32 rounding."""
    n_units, n_channels = starts.shape[0], x.shape[0]
    nonzero = torch.nonzero(starts)  # (m, 2): unit, sample
    if gather and nonzero.shape[0] * length <= _FFT_ABOVE * starts.numel():
        padded = torch.nn.functional.pad(x, (0, length))
        lags = torch.arange(length, device=x.device)
        summed = torch.zeros(n_units, n_channels, length, dtype=x.dtype, device=x.device)
        for k in range(n_units):
            t = nonzero[nonzero[:, 0] == k, 1]
            if t.numel():
                weights = starts[k, t].to(x.dtype)
                summed[k] = torch.einsum("m,cml->cl", weights, padded[:, t[:, None] + lags[None, :]])
        return summed
    n_fft = _fft_length(x.shape[1] + length)
    x_f = torch.fft.rfft(x, n=n_fft)  # (C, F)
    s_f = torch.fft.rfft(starts, n=n_fft)  # (U, F)
    out = [torch.fft.irfft(s_f[a : a + _UNIT_CHUNK].conj()[:, None, :] * x_f[None], n=n_fft)[:, :, :length]
           for a in range(0, starts.shape[0], _UNIT_CHUNK)]
    return torch.cat(out) if out else torch.zeros(0, x.shape[0], length, device=x.device)


def spike_triggered_average(x: torch.Tensor, trains: Sequence[NDArray[np.int64]], onset: int,
                            length: int) -> torch.Tensor:
    """(U, C, length) mean of x (C, n_samples) over each train's windows [t − onset, t − onset + length)."""
    starts = place_trains(trains, x.shape[1], onset, x.device)
    counts = starts.sum(1).clamp_min(1.0)
    return _train_correlations(x, starts, length) / counts[:, None, None]


def least_squares_templates(x: torch.Tensor, trains: Sequence[NDArray[np.int64]], onset: int, length: int,
                            ridge: float = 1e-3) -> torch.Tensor:
    """(U, C, length) float32 templates that explain x (C, n_samples) best given the trains, all at
    once: argmin_M ‖x − Σ_k M_k ∗ s_k‖² + ridge·mean(diag)·‖M‖².

    Unlike the spike-triggered average, the other units' MUAPs do not leak into a unit's template
    (with 34 units on 64 channels the STA of the true trains leaves 10 % of the energy of MyoGen D,
    these templates 1.4 %, the noise). The normal equations are the same for every channel: a
    (U·L, U·L) block-Toeplitz matrix of the trains' cross-correlations at lags |τ − τ'| < L, solved
    once (Cholesky, in float64: a few thousand unknowns) for the C right-hand sides."""
    n_units, device = len(trains), x.device
    if n_units == 0:
        return torch.zeros(0, x.shape[0], length, device=device)
    starts = place_trains(trains, x.shape[1], onset, device)
    n_fft = _fft_length(x.shape[1] + length)
    s_f = torch.fft.rfft(starts, n=n_fft)
    lags = torch.arange(length, device=device)
    diff = (lags[:, None] - lags[None, :]) % n_fft  # τ − τ', wrapped
    # gram[k, j, τ, τ'] = Σ_t s_k(t)·s_j(t + τ − τ'): integer counts, exact in float32
    gram = torch.stack([torch.fft.irfft(s_f[k].conj()[None] * s_f, n=n_fft)[:, diff] for k in range(n_units)])
    gram = gram.round().double().permute(0, 2, 1, 3).reshape(n_units * length, n_units * length)
    gram += ridge * float(gram.diagonal().mean().clamp_min(1.0)) * torch.eye(n_units * length, dtype=gram.dtype,
                                                                             device=device)
    # by FFT: the decoder's outcome follows these templates to the last bit, and the joint
    # method's figures (bench/results/accuracy.md) were measured with them so; rounding alone
    # moved MyoGen D 10 dB from 26 to 24 units (a different path of its residual discovery)
    rhs = _train_correlations(x, starts, length, gather=False).double().permute(0, 2, 1).reshape(n_units * length, -1)
    solution = torch.cholesky_solve(rhs, torch.linalg.cholesky(gram))
    out: torch.Tensor = solution.reshape(n_units, length, -1).permute(0, 2, 1).float().contiguous()
    return out


def peak_offsets(x: torch.Tensor, trains: Sequence[NDArray[np.int64]], search: int) -> list[int]:
    """Per train, the offset (samples, within ±``search``) from its discharges to the energy peak
    over channels of its spike-triggered average of x (C, n_samples)."""
    if not trains:
        return []
    sta = spike_triggered_average(x, trains, search, 2 * search + 1)
    return [int(v) - search for v in sta.square().sum(1).argmax(1).tolist()]


def shifted_trains(trains: Sequence[NDArray[np.int64]], offsets: Sequence[int], n_samples: int) -> list[NDArray[np.int64]]:
    """The trains moved by their offsets, discharges outside [0, n_samples) dropped."""
    out = []
    for d, s in zip(trains, offsets, strict=True):
        e = np.asarray(d, dtype=np.int64) + int(s)
        out.append(e[(e >= 0) & (e < n_samples)])
    return out


def noise_sd(residual: torch.Tensor) -> float:
    """The noise SD of a residual (C, n_samples): median over channels of its median absolute
    deviation / 0.6745 (robust to the discharges a residual still holds)."""
    centred = residual - residual.median(dim=1, keepdim=True).values
    return float((centred.abs().median(dim=1).values / 0.6745).median())


def amplitude_discharges(amplitude: torch.Tensor, threshold: float, refractory: int) -> list[NDArray[np.int64]]:
    """Discharges of amplitudes (U, n_samples): maxima within ±``refractory`` of the amplitude summed
    over ±1 sample that exceed ``threshold`` (the L1 solution spreads a discharge over neighbouring
    samples), each placed at the amplitude-weighted centre of the ±2 samples around it."""
    n_units, n_t = amplitude.shape
    if n_units == 0:
        return []
    summed = amplitude.clone()
    summed[:, 1:] += amplitude[:, :-1]
    summed[:, :-1] += amplitude[:, 1:]
    pooled = torch.nn.functional.max_pool1d(summed[:, None], 2 * refractory + 1, stride=1, padding=refractory)[:, 0]
    peak = (summed >= pooled) & (summed > threshold)
    peak[:, 1:] &= ~(peak[:, :-1] & (summed[:, 1:] == summed[:, :-1]))  # a flat top: its first sample
    window = torch.nn.functional.pad(amplitude, (2, 2)).unfold(1, 5, 1)  # (U, n_samples, 5)
    weights = torch.arange(-2.0, 3.0, device=amplitude.device)
    centre = torch.round((window * weights).sum(-1) / window.sum(-1).clamp_min(1e-12)).long()
    unit, t = torch.nonzero(peak, as_tuple=True)
    placed = (t + centre[unit, t]).clamp(0, n_t - 1)
    unit_np, placed_np = unit.cpu().numpy(), placed.cpu().numpy()
    bounds = np.searchsorted(unit_np, np.arange(n_units + 1))  # nonzero is row-major: units in order
    return [np.unique(placed_np[bounds[k] : bounds[k + 1]]).astype(np.int64) for k in range(n_units)]


class _BlockOperator:
    """The decoder's two products with the atoms d (U, C, L), by overlap-save in blocks.

    ``gram_times(a)``: Σ_j ρ_kj ∗ a_j, with ρ_kj the atoms' cross-correlation (lags |τ| < L);
    ``correlate(x)``: each atom's correlation with x at every start. ρ is 2L − 1 samples long, so a
    block FFT of N = 32·L samples gives it exactly; per frequency bin the units couple through a
    (U, U) matrix that is the same for every block, and the blocks become the columns of one
    matrix product. Against one FFT of the whole recording this keeps the (bins, U, U) cross-
    spectrum small enough to stay in cache (2049 bins instead of ~26,000 for 20 s at 2048 Hz),
    which is what a FISTA iteration's time was spent reading."""

    def __init__(self, atoms: torch.Tensor, n_samples: int) -> None:
        n_units, _, length = atoms.shape
        self.n_units, self.n_samples = n_units, n_samples
        self.pad = length - 1
        self.block = _fft_length(32 * length)
        self.hop = self.block - 2 * self.pad
        self.n_blocks = math.ceil(n_samples / self.hop)
        self.atoms_f = torch.fft.rfft(atoms, n=self.block).permute(2, 0, 1).contiguous()  # (F, U, C)
        self.gram_f = self.atoms_f.conj() @ self.atoms_f.transpose(1, 2)  # (F, U, U), Hermitian per bin
        # the operator's largest eigenvalue; a hair above it keeps FISTA's step safe
        self.lipschitz = 1.01 * float(torch.linalg.eigvalsh(self.gram_f).max())

    def _spectra(self, signal: torch.Tensor, left: int) -> torch.Tensor:
        """(F, R, n_blocks): the spectra of the blocks of ``signal`` (R, n_samples), the first
        starting ``left`` samples before it (zeros outside the recording)."""
        total = (self.n_blocks - 1) * self.hop + self.block
        padded = torch.nn.functional.pad(signal, (left, total - left - signal.shape[1]))
        spectra: torch.Tensor = torch.fft.rfft(padded.unfold(1, self.block, self.hop), dim=-1)  # (R, n_blocks, F)
        return spectra.permute(2, 0, 1).contiguous()

    def _joined(self, spectra: torch.Tensor, first: int) -> torch.Tensor:
        """(U, n_samples): the blocks of (F, U, n_blocks) spectra back in time, each block's valid
        samples from ``first`` on."""
        blocks: torch.Tensor = torch.fft.irfft(spectra.permute(1, 2, 0), n=self.block)  # (U, n_blocks, N)
        return blocks[:, :, first : first + self.hop].reshape(self.n_units, -1)[:, : self.n_samples]

    def gram_times(self, a: torch.Tensor) -> torch.Tensor:
        """(U, n_samples) Σ_j ρ_kj ∗ a_j of amplitudes a (U, n_samples)."""
        return self._joined(self.gram_f @ self._spectra(a, self.pad), self.pad)

    def correlate(self, x: torch.Tensor) -> torch.Tensor:
        """(U, n_samples) Σ_c Σ_l d_kc(l)·x_c(t + l) of x (C, n_samples)."""
        return self._joined(self.atoms_f.conj() @ self._spectra(x, 0), 0)


def decode(x: torch.Tensor, templates: torch.Tensor, onset: int, noise: float, sampling_rate_hz: float,
           settings: DecoderSettings | None = None, start: Sequence[NDArray[np.int64]] | None = None,
           ) -> Generator[DecoderProgress, None, JointDecoding]:
    """Decode all units of ``templates`` (U, C, L) in x (C, n_samples) at once.

    ``noise``: the noise SD of x (λ = kappa × noise); ``start``: the units' current trains, to
    start from them (then only the reweighted rounds run, weighted at those trains: a unit found
    before starts where its train says, a unit just added is not penalised for being new).
    Yields progress every ``report_every`` iterations (closing the generator cancels); returns the
    :class:`JointDecoding`."""
    settings = settings or DecoderSettings()
    device = x.device
    n_units, _, length = templates.shape
    n_t = x.shape[1]
    refractory = max(1, round(settings.refractory_s * sampling_rate_hz))
    if n_units == 0:
        return JointDecoding([], torch.zeros(0, n_t, device=device), x.clone(), 0)
    norm = templates.square().sum((1, 2)).sqrt().clamp_min(1e-12)  # (U,)
    with torch.no_grad():
        blocks = _BlockOperator(templates / norm[:, None, None], n_t)
        atoms_x = blocks.correlate(x)  # (U, n_samples): each atom against x at every start
        lipschitz = blocks.lipschitz

    step = 1.0 / lipschitz
    base = settings.kappa * noise / lipschitz

    def gradient(a: torch.Tensor) -> torch.Tensor:
        return blocks.gram_times(a) - atoms_x

    if start is None:
        a = torch.zeros(n_units, n_t, device=device)
        first = 0
    else:
        a = place_trains(start, n_t, onset, device) * norm[:, None]
        first = 1
    rounds = range(first, 1 + settings.reweight_rounds)
    total = len(rounds) * settings.max_iterations
    done = 0
    with torch.no_grad():
        for round_ in rounds:
            if round_ == 0:
                shrink = torch.full((n_units, n_t), base, device=device)
            else:
                shrink = base * settings.reweight_eps / (a / norm[:, None] + settings.reweight_eps)
            y, momentum = a.clone(), 1.0
            for it in range(1, settings.max_iterations + 1):
                a_next = (y - step * gradient(y) - shrink).clamp_min(0)
                a_next[:, n_t - length + 1 :] = 0  # a template must fit in the recording
                if float(((y - a_next) * (a_next - a)).sum()) > 0:
                    momentum = 1.0  # adaptive restart: the momentum points uphill
                following = (1 + math.sqrt(1 + 4 * momentum**2)) / 2
                y = a_next + ((momentum - 1) / following) * (a_next - a)
                change = float((a_next - a).norm()) / max(float(a_next.norm()), 1e-12)
                a, momentum = a_next, following
                done += 1
                if it % settings.report_every == 0:
                    yield DecoderProgress(done, total)
                # not on a round's first step: a reweighted round starting at the previous
                # round's answer moves little at first, and would stop before it has begun
                if it > 1 and change < settings.tolerance:
                    break
    amplitude = torch.zeros_like(a)
    amplitude[:, onset:] = (a / norm[:, None])[:, : n_t - onset]  # indexed by discharge sample
    trains = amplitude_discharges(amplitude, settings.threshold, refractory)
    residual = x - train_reconstruction(templates, trains, onset, n_t)
    return JointDecoding(trains, amplitude, residual, done)
