"""How many true units a linear separation filter can reach at all, per extension factor R.

usage: PYTHONPATH=. .venv/bin/python research/oracle.py [--r 1 3 6 10] [--only NAME-SUBSTRING ...]
       [--paper] [--snr 20 10] [--threads 2] [--device cpu] [--tag NAME]
       PYTHONPATH=. .venv/bin/python research/oracle.py --sparse [--snr 20 10] [--theta-noise 0.005]
       [--iterations 1200] [--reweight-rounds 0] [--kappa 3] [--threads 2]

For every recording with ground truth, each true unit's MUAP is estimated by the
spike-triggered average of the raw EMG at its true discharges (on the paper setting's
simulation, ``--paper``, the exact noise-free MUAP is used as well). That MUAP gives the unit's
extended mixing column, and the MVDR (CKC) estimator of :mod:`bmiss_engine.inversion.mvdr` (the
minimum-variance linear filter that passes that column) gives its source; its discharges are
detected as the inversion detects them and scored against the truth (RoA ≥ 0.8 at ±1 ms).

This is an oracle: the inversion (with θ exactly right) and FastICA (with a perfect separation
vector) are linear filters of the same extended recording, so the count is a reference ceiling
for both at that R, and it says which R to use. It is not a strict bound: the inversion also
detects on a diagonally loaded estimator and refines θ on the STA, and on the paper setting at
10 dB it exceeds the exact-MUAP count at its R by 2 units. Writes research/results/oracle_<device>.md.

``--sparse`` asks the non-linear question on the paper setting instead: how many units a joint
decoder finds when it is given every unit's MUAP, exact or rendered at a slightly wrong θ
(:func:`sparse_deconvolution_count`, convex sparse deconvolution of all units at once). Writes
research/results/oracle_sparse_<device>.md.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from bmiss_engine.inversion import MvdrEstimator, detect_mvdr_discharges, extended_columns
from bmiss_engine.metrics import match_units
from bmiss_engine.recording import ElectrodeGrid, Recording
from bmiss_engine.separation.spikes import SpikeDetection
from bmiss_engine.simulate import SimulationTruth
from research.common import machine, write_table

PRE_S, POST_S = 0.015, 0.020  # STA window around the discharge


def spike_triggered_muaps(x: torch.Tensor, trains: list[np.ndarray], pre: int, n: int) -> torch.Tensor:
    """(n_units, n_channels, n) mean of x (n_channels, n_samples) from ``pre`` samples before each discharge."""
    out = []
    for d in trains:
        starts = np.asarray(d, dtype=np.int64) - pre
        starts = starts[(starts >= 0) & (starts + n <= x.shape[1])]
        index = torch.as_tensor(starts, device=x.device)[:, None] + torch.arange(n, device=x.device)[None, :]
        out.append(x[:, index].mean(dim=1) if starts.size else torch.zeros(x.shape[0], n, device=x.device))
    return torch.stack(out)


def random_trains(n_samples: int, fs: float, n_trains: int = 5, seed: int = 1) -> list[np.ndarray]:
    """Regular trains unrelated to any unit: 10 Hz, ISI CoV 0.15, over the whole recording."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n_trains):
        isi_s = rng.normal(0.1, 0.015, int(n_samples / fs / 0.1) + 5).clip(0.05)
        d = (0.25 * fs + k * 37 + np.cumsum(isi_s) * fs).astype(np.int64)
        out.append(d[d < n_samples - 0.25 * fs])
    return out


def mvdr_detections(estimator: MvdrEstimator, muaps: torch.Tensor, onset: int, factor: int,
                     fs: float) -> list[SpikeDetection]:
    """Detections on the MVDR source of each MUAP (n_units, n_channels, n)."""
    columns, end = extended_columns(muaps, factor)
    with torch.no_grad():
        sources = estimator.sources(columns).cpu().numpy()
    shift = (end - onset).cpu().numpy()
    return [detect_mvdr_discharges(s, fs, int(k), factor) for s, k in zip(sources, shift, strict=True)]


def _detections(estimator: MvdrEstimator, muaps: torch.Tensor, onset: int, factor: int,
                fs: float) -> list[np.ndarray]:
    """Discharges detected on the MVDR source of each MUAP."""
    return [d.discharge_samples for d in mvdr_detections(estimator, muaps, onset, factor, fs)]


def oracle_counts(emg_v: np.ndarray, trains: list[np.ndarray], fs: float, factors: list[int], device: torch.device,
                  muaps: tuple[np.ndarray, int] | None = None,
                  random_sil: list[str] | None = None) -> dict[str, list[int]]:
    """Identified true units per R: with STA MUAPs (in-sample and cross-fitted), and with
    ``muaps`` = (exact MUAPs, onset) when given.

    In-sample, the STA holds the noise at the very discharges it is scored on, and the MVDR
    filter of an STA (C⁻¹·mean x̃ at the discharges) is made large there by it: on the paper
    setting a *random* regular train reaches SIL 0.76–0.87 this way at R = 1–3 and 0.89–0.93
    at R = 10. The
    cross-fitted STA is free of that: the STA of the discharges in one half of the recording
    detects in the other half, and the two halves' detections are scored together. With
    ``random_sil`` (a list), the range of SIL that random trains (:func:`random_trains`) reach
    in-sample is appended to it per R.
    """
    x = torch.as_tensor(np.ascontiguousarray(emg_v), dtype=torch.float32, device=device)
    x = x - x.mean(dim=1, keepdim=True)
    x = x / x.pow(2).mean().sqrt().clamp_min(1e-30)
    pre, n = round(PRE_S * fs), round((PRE_S + POST_S) * fs)
    middle = x.shape[1] // 2
    first = [d[d < middle] for d in trains]
    second = [d[d >= middle] for d in trains]
    kinds = {"STA": (spike_triggered_muaps(x, trains, pre, n), pre)}
    if muaps is not None:
        kinds["exact"] = (torch.as_tensor(muaps[0], dtype=torch.float32, device=device), muaps[1])
    counts: dict[str, list[int]] = {k: [] for k in [*kinds, "STA, cross-fitted"]}
    for factor in factors:
        estimator = MvdrEstimator.fit(x, factor, 1e-6)
        for kind, (m, onset) in kinds.items():
            found = _detections(estimator, m, onset, factor, fs)
            counts[kind].append(match_units(trains, found, fs).n_identified)
        from_first = _detections(estimator, spike_triggered_muaps(x, first, pre, n), pre, factor, fs)
        from_second = _detections(estimator, spike_triggered_muaps(x, second, pre, n), pre, factor, fs)
        crossed = [np.concatenate([b[b < middle], a[a >= middle]]) for a, b in zip(from_first, from_second, strict=True)]
        counts["STA, cross-fitted"].append(match_units(trains, crossed, fs).n_identified)
        if random_sil is not None:
            random_muaps = spike_triggered_muaps(x, random_trains(x.shape[1], fs), pre, n)
            sil = [d.sil for d in mvdr_detections(estimator, random_muaps, pre, factor, fs)]
            random_sil.append(f"{min(sil):.2f}–{max(sil):.2f}")
        del estimator
    return counts


def template_matching_count(emg_v: np.ndarray, trains: list[np.ndarray], muaps: np.ndarray, onset: int,
                            fs: float, refractory_s: float = 0.02,
                            keep: list[np.ndarray] | None = None) -> tuple[int, int]:
    """Identified true units and discharges placed by greedy template matching with the exact
    MUAPs (n_units, n_channels, L) of every unit: a non-linear decoder with perfect templates.

    Matching pursuit at amplitude 1: the (unit, instant) whose subtraction lowers the residual
    energy most is taken and subtracted, the others' matches updated through the templates'
    cross-correlations, until no subtraction lowers it; a unit fires at most once per
    ``refractory_s``. Linear filters are not its limit: it sees the whole multichannel
    waveform and explains overlaps away. ``keep``, when given, receives every unit's discharges.
    """
    x = torch.as_tensor(np.ascontiguousarray(emg_v), dtype=torch.float32)[None]
    m = torch.as_tensor(np.ascontiguousarray(muaps), dtype=torch.float32)
    n_units, _, length = m.shape
    with torch.no_grad():
        match = torch.nn.functional.conv1d(x, m)[0].double()  # (U, T): <M_k, x[:, t:t+L]>
        # cross[k, j, s + L - 1] = <M_j, M_k shifted by s>: how j's match at t + s falls when k is taken at t
        cross = torch.nn.functional.conv1d(torch.nn.functional.pad(m, (length - 1, length - 1)), m).double()
    gain = 2 * match - m.double().square().sum((1, 2))[:, None]  # residual energy saved by taking (k, t)
    n_t = gain.shape[1]
    refractory = round(refractory_s * fs)
    placed: list[list[int]] = [[] for _ in range(n_units)]
    n_placed = 0
    while True:
        k, t = divmod(int(torch.argmax(gain)), n_t)
        if gain[k, t] <= 0:
            break
        placed[k].append(t + onset)
        n_placed += 1
        lo, hi = max(0, t - length + 1), min(n_t, t + length)
        gain[:, lo:hi] -= 2 * cross[k, :, torch.arange(lo, hi) - t + length - 1]
        gain[k, max(0, t - refractory) : t + refractory] = -math.inf
    found = [np.array(sorted(d), dtype=np.int64) for d in placed]
    if keep is not None:
        keep.extend(found)
    return match_units(trains, found, fs).n_identified, n_placed


def sparse_deconvolution_count(emg_v: np.ndarray, trains: list[np.ndarray], muaps: np.ndarray, onset: int,
                               fs: float, snr_db: float, kappa: float = 3.0, iterations: int = 1200,
                               device: torch.device | None = None,
                               thresholds: tuple[float, ...] = (0.3, 0.5), refractory_s: float = 0.02,
                               report_every: int = 300, reweight_rounds: int = 0,
                               reweight_eps: float = 0.2,
                               keep: dict[float, list[np.ndarray]] | None = None,
                               noise_sd: float | None = None) -> list[tuple[int, float, int, int]]:
    """Identified true units by convex sparse deconvolution with given MUAPs (n_units,
    n_channels, L) of every unit, all at once: with the exact MUAPs, a joint decoder with
    perfect templates.

    Solves min_a ½‖x − Σ_k d_k ∗ a_k‖² + λ Σ_k,t a_k(t), a ≥ 0, with the atoms d_k = M_k / ‖M_k‖
    (so one λ = ``kappa`` × noise SD suits every unit) by FISTA with adaptive restart, in the
    frequency domain: per frequency the normal equations couple the units through their
    (n_units, n_units) cross-spectrum, which costs n_units² per bin instead of a
    (n_units, n_units, 2L) convolution per sample. A unit's discharges are the maxima of its
    amplitude a_k / ‖M_k‖ (summed over ±1 sample) above each threshold, one per ``refractory_s``.
    The L1 term shrinks an isolated discharge's amplitude to about 1 − λ/‖M_k‖, so a unit whose
    MUAP norm is below λ / (1 − threshold) cannot be found even with its exact MUAP.
    ``reweight_rounds`` > 0 then reruns it that many times, warm, as reweighted L1 (Candès, Wakin
    and Boyd): λ at each (unit, instant) becomes λ·ε / (amplitude + ε), so a discharge already found
    is barely shrunk and its amplitude returns towards 1.
    Returns (iteration, threshold, identified, discharges placed) every ``report_every`` iterations
    (iterations counted over all rounds); ``keep``, when given, receives each threshold's
    discharges (one array per unit) at the last report. ``noise_sd``: the noise level that sets
    λ (default: from the power of ``emg_v`` and ``snr_db``, as the simulator sets it).
    """
    import scipy.fft

    device = device or torch.device("cpu")
    x = torch.tensor(emg_v, dtype=torch.float32, device=device)  # a copy: the recording's array is read-only
    m = torch.as_tensor(np.ascontiguousarray(muaps), dtype=torch.float32, device=device)
    n_units, _, length = m.shape
    n_t = x.shape[1]
    n_fft = scipy.fft.next_fast_len(n_t + length)  # no circular wrap for atoms starting in [0, n_t)
    norm = m.square().sum((1, 2)).sqrt()
    with torch.no_grad():
        m_f = torch.fft.rfft(m / norm[:, None, None], n=n_fft).permute(2, 0, 1).contiguous()  # (F, U, C)
        b_f = torch.einsum("fuc,cf->fu", m_f.conj(), torch.fft.rfft(x, n=n_fft))  # atoms' correlations with x
        gram_f = torch.bmm(m_f.conj(), m_f.transpose(1, 2))  # (F, U, U), Hermitian per bin
        del m_f
        lipschitz = float(torch.linalg.eigvalsh(gram_f).max())
    # the simulator sets the noise power to the clean signal's power / 10^(SNR/10)
    if noise_sd is None:
        noise_sd = math.sqrt(float(x.square().mean()) / (1 + 10 ** (snr_db / 10)))
    step = 1 / lipschitz
    shrink = torch.full((n_units, n_t), kappa * noise_sd / lipschitz, device=device)
    refractory = round(refractory_s * fs)

    def gradient(a: torch.Tensor) -> torch.Tensor:
        a_f = torch.fft.rfft(a, n=n_fft).T.unsqueeze(-1)  # (F, U, 1)
        return torch.fft.irfft((torch.bmm(gram_f, a_f).squeeze(-1) - b_f).T, n=n_fft)[:, :n_t]

    def discharges(a: torch.Tensor, threshold: float) -> list[np.ndarray]:
        amp = a / norm[:, None]
        amp = amp + torch.nn.functional.pad(amp[:, 1:], (0, 1)) + torch.nn.functional.pad(amp[:, :-1], (1, 0))
        out = []
        for v in amp.cpu().numpy():
            above = np.flatnonzero(v > threshold)
            taken = np.zeros(n_t, dtype=bool)
            keep = []
            for t in above[np.argsort(-v[above])]:
                if not taken[t]:
                    keep.append(t)
                    taken[max(0, t - refractory) : t + refractory] = True
            out.append(np.sort(np.asarray(keep, dtype=np.int64)) + onset)
        return out

    a = torch.zeros(n_units, n_t, device=device)
    rows = []
    with torch.no_grad():
        for round_ in range(1 + reweight_rounds):
            if round_:  # reweighting: the penalty falls where the amplitude is already large
                shrink = kappa * noise_sd / lipschitz * reweight_eps / (a / norm[:, None] + reweight_eps)
            y, momentum = a.clone(), 1.0
            for it in range(1, iterations + 1):
                a_next = (y - step * gradient(y) - shrink).clamp_min(0)
                a_next[:, n_t - length + 1 :] = 0  # an atom must fit in the recording
                if float(((y - a_next) * (a_next - a)).sum()) > 0:
                    momentum = 1.0  # adaptive restart: the momentum points uphill
                following = (1 + math.sqrt(1 + 4 * momentum**2)) / 2
                y = a_next + ((momentum - 1) / following) * (a_next - a)
                a, momentum = a_next, following
                if it % report_every == 0 or it == iterations:
                    done = round_ * iterations + it
                    for threshold in thresholds:
                        found = discharges(a, threshold)
                        if keep is not None:
                            keep[threshold] = found
                        rows.append((done, threshold, match_units(trains, found, fs).n_identified,
                                     sum(int(d.size) for d in found)))
                        print(f"  sparse deconvolution it {done} threshold {threshold:g}: {rows[-1][2]} identified",
                              flush=True)
    return rows


def perturbed_muaps(theta_unit: np.ndarray, grid: ElectrodeGrid, fs: float, sd: float,
                    seed: int = 0) -> np.ndarray:
    """The analytic model's MUAPs (n_units, n_channels, L) at the true normalised θ (n_units,
    n_params) plus Gaussian noise of SD ``sd`` on every field (clipped to [0, 1]): the
    templates an inversion with that θ error would render. ``sd`` = 0 renders the truth."""
    from bmiss_engine.forward.analytic import AnalyticGenerator
    from bmiss_engine.forward.parameters import MotorUnitParameters

    generator = AnalyticGenerator()
    noisy = np.clip(theta_unit + np.random.default_rng(seed).normal(0.0, sd, theta_unit.shape), 0.0, 1.0)
    params = MotorUnitParameters.from_unit_interval(torch.as_tensor(noisy, dtype=generator.model.dtype))
    chunks = []
    with torch.no_grad():
        for start in range(0, noisy.shape[0], 32):
            part = MotorUnitParameters(**{k: v[start : start + 32] for k, v in params.as_dict().items()})
            chunks.append(generator.model.muaps(part, generator.anatomy, grid, fs).numpy())
    return np.concatenate(chunks)


def paper_recording(snr_db: float) -> tuple[Recording, SimulationTruth]:
    """The paper setting's simulation (research/paper_setting.py): 100 analytic units, 10×32 grid."""
    from bmiss_engine.simulate import simulate_recording
    from research.paper_setting import paper_config

    return simulate_recording(paper_config(snr_db))


def sparse_main(args: argparse.Namespace) -> None:
    """``--sparse``: the joint decoder with exact and θ-perturbed MUAPs on the paper setting."""
    rows: list[list[str]] = []
    for snr in args.snr:
        rec, truth = paper_recording(snr)
        fs = rec.sampling_rate_hz
        trains = list(truth.discharge_samples)
        exact = truth.muaps_v.reshape(truth.muaps_v.shape[0], -1)
        for sd in dict.fromkeys([0.0, *args.theta_noise]):  # --theta-noise 0 would be the exact row again
            muaps = truth.muaps_v if sd == 0 else perturbed_muaps(truth.theta_unit, rec.grid, fs, sd)
            error = np.linalg.norm(muaps.reshape(exact.shape) - exact, axis=1) / np.linalg.norm(exact, axis=1)
            label = "exact" if sd == 0 else f"θ + N(0, {sd:g}²)"
            print(f"{snr:g} dB, {label}: MUAP nRMSE median {np.median(error):.3f}", flush=True)
            t = time.perf_counter()
            for it, threshold, n_id, n_placed in sparse_deconvolution_count(
                    rec.emg_v, trains, muaps, truth.muap_onset, fs, snr, kappa=args.kappa,
                    iterations=args.iterations, device=torch.device(args.device),
                    reweight_rounds=args.reweight_rounds):
                rows.append([f"paper setting {snr:g} dB", label, f"{np.median(error):.3f}", str(it), f"{threshold:g}",
                             f"{n_id}/{len(trains)}", str(n_placed)])
            rows[-1].append(f"{time.perf_counter() - t:.0f}")
            for r in rows:
                r.extend([""] * (8 - len(r)))
    n_true = sum(int(d.size) for d in truth.discharge_samples)
    text = write_table(
        f"oracle_sparse_{args.device.split(':')[0]}{args.tag}.md",
        "A joint decoder with perfect (and nearly perfect) templates: convex sparse deconvolution",
        ["recording", "MUAPs", "MUAP nRMSE (median)", "iterations", "threshold", "true units identified",
         "discharges placed", "wall s"],
        rows,
        f"""`sparse_deconvolution_count`: non-negative L1-regularised deconvolution of the whole recording
with all 100 units' MUAPs at once (λ = {args.kappa:g} × noise SD on unit-norm atoms; FISTA with adaptive
restart, in the frequency domain; {args.reweight_rounds} round(s) of reweighted L1 after the first
{args.iterations} iterations, "iterations" counting all), discharges at the amplitude maxima above the threshold (the true
amplitude is 1), scored with RoA ≥ 0.8 at ±1 ms; {n_true} true discharges. "θ + N(0, σ²)": MUAPs the
analytic model renders at the true normalised θ plus Gaussian noise of SD σ on all 8 fields,
clipped to [0, 1] (the templates an inversion with that θ error would use; the units shallower
than skin and fat sit at depth 0, so their depth error is one-sided). Machine: {machine()}, {args.threads} torch
thread(s), device {args.device}. Command: `PYTHONPATH=. .venv/bin/python research/oracle.py --sparse
--snr {' '.join(f'{s:g}' for s in args.snr)} --theta-noise {' '.join(f'{s:g}' for s in args.theta_noise)}
--iterations {args.iterations} --reweight-rounds {args.reweight_rounds}
--threads {args.threads} --device {args.device}{f' --tag {args.tag}' if args.tag else ''}`.
""",
    )
    print(text)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--r", type=int, nargs="+", default=[1, 3, 6, 10])
    ap.add_argument("--only", nargs="*", default=None, help="substrings of dataset names (default: all)")
    ap.add_argument("--paper", action="store_true", help="add the paper setting (100 units, 320 channels)")
    ap.add_argument("--snr", type=float, nargs="+", default=[20.0, 10.0], help="SNRs of the paper setting")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tag", default="", help="suffix of the results file")
    ap.add_argument("--no-matching", action="store_true", help="skip greedy template matching on the paper setting")
    ap.add_argument("--sparse", action="store_true",
                    help="only the paper setting's joint sparse decoder (writes oracle_sparse_<device>.md)")
    ap.add_argument("--theta-noise", type=float, nargs="*", default=[0.005],
                    help="with --sparse: also decode with MUAPs rendered at θ + this SD of noise")
    ap.add_argument("--iterations", type=int, default=1200, help="with --sparse: FISTA iterations")
    ap.add_argument("--kappa", type=float, default=3.0, help="with --sparse: λ in noise SDs")
    ap.add_argument("--reweight-rounds", type=int, default=0,
                    help="with --sparse: rounds of reweighted L1 after the first solve, --iterations each")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.sparse:
        sparse_main(args)
        return
    device = torch.device(args.device)
    rows: list[list[str]] = []
    matching: list[list[str]] = []
    random_sils: list[list[str]] = []

    def report(name: str, n_channels: int, n_true: int, counts: dict[str, list[int]], wall_s: float) -> None:
        for kind, values in counts.items():
            rows.append([name, str(n_channels), kind] + [f"{v}/{n_true}" for v in values] + [f"{wall_s:.0f}"])
            print(" | ".join(rows[-1]), flush=True)

    if args.paper:
        for snr in args.snr:
            rec, truth = paper_recording(snr)
            t = time.perf_counter()
            sil: list[str] = []
            counts = oracle_counts(rec.emg_v, list(truth.discharge_samples), rec.sampling_rate_hz, args.r, device,
                                   (truth.muaps_v, truth.muap_onset), sil)
            random_sils.append([f"paper setting {snr:g} dB", *sil])
            report(f"paper setting {snr:g} dB (analytic, 100 units)", rec.n_channels, 100, counts,
                   time.perf_counter() - t)
            if args.no_matching:
                continue
            t = time.perf_counter()
            n_id, n_placed = template_matching_count(rec.emg_v, list(truth.discharge_samples), truth.muaps_v,
                                                     truth.muap_onset, rec.sampling_rate_hz)
            n_true = sum(int(d.size) for d in truth.discharge_samples)
            matching.append([f"paper setting {snr:g} dB", f"{n_id}/100", f"{n_placed} (true: {n_true})",
                             f"{time.perf_counter() - t:.0f}"])
            print(" | ".join(matching[-1]), flush=True)
    if args.only is None or args.only:
        from bench.accuracy import datasets
        from bmiss_engine.io import open_recording

        for name, rec_path, truth_path, _ in datasets(args.only or ()):
            rec = open_recording(rec_path)
            good = [int(c) for c in rec.grid.good_channels]
            with np.load(truth_path) as data:
                keys = sorted((k for k in data.files if k.startswith("unit") and k[4:].isdigit()), key=lambda k: int(k[4:]))
                trains = [np.asarray(data[k], dtype=np.int64).ravel() for k in keys]
            t = time.perf_counter()
            counts = oracle_counts(rec.emg_v[good], trains, rec.sampling_rate_hz, args.r, device)
            report(name, len(good), len(trains), counts, time.perf_counter() - t)
    paper = "--paper --snr " + " ".join(f"{s:g}" for s in args.snr) + " " if args.paper else ""
    only = "" if args.only is None else "--only " + " ".join(f"'{o}'" for o in args.only) + " "
    tag = f" --tag {args.tag}" if args.tag else ""
    text = write_table(
        f"oracle_{args.device.split(':')[0]}{args.tag}.md",
        "Linear separation's ceiling: true units an MVDR filter of the true MUAP identifies, per extension factor R",
        ["recording", "channels", "MUAP"] + [f"R = {r}" for r in args.r] + ["wall s"],
        rows,
        f"""MUAP: "STA" = spike-triggered average of the raw EMG at the true discharges ({PRE_S * 1e3:g} ms before to
{POST_S * 1e3:g} ms after), "exact" = the simulator's noise-free MUAP. The filter is the MVDR of that MUAP's
extended column (eigenvalue floor 1e-6 of the largest), its discharges detected as the inversion
detects them, scored with RoA ≥ 0.8 at ±1 ms. Machine: {machine()}, {args.threads} torch thread(s),
device {args.device}. Command: `PYTHONPATH=. .venv/bin/python research/oracle.py --r {' '.join(map(str, args.r))}
{paper}{only}{'--no-matching ' if args.no_matching else ''}--threads {args.threads} --device {args.device}{tag}`.
""" + ("""
Non-linear decoding with perfect templates (`template_matching_count`: greedy matching pursuit of
every unit's exact MUAP, all 100 at once, amplitude 1, 20 ms refractory; independent of R):

| recording | true units identified | discharges placed | wall s |
|---|---|---|---|
""" + "\n".join("| " + " | ".join(r) + " |" for r in matching) + "\n" if matching else "") + ("""
SIL that random trains reach in-sample (`random_trains`: 5 regular 10 Hz trains unrelated to any
unit; MVDR of their STA, detected as above), min–max over the 5:

| recording | """ + " | ".join(f"R = {r}" for r in args.r) + """ |
|---|""" + "---|" * len(args.r) + "\n" + "\n".join("| " + " | ".join(r) + " |" for r in random_sils) + "\n"
       if random_sils else ""),
    )
    print(text)


if __name__ == "__main__":
    main()
