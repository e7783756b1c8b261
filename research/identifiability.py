"""How many of the paper setting's 100 units can any method identify? A genie bound per unit.

usage: PYTHONPATH=. .venv/bin/python research/identifiability.py [--snr 20 10] [--joint-iterations 700]
       [--cancel-sweeps 3] [--threads 2] [--tag NAME]

The issue asks for ≥ 95/100 true units identified (RoA ≥ 0.8 at ±1 ms) at 20 dB on the paper
setting (research/paper_setting.py). This script asks what the recording itself allows, with a
genie that knows everything except the noise:

* **isolated unit**: the recording with every *other* unit subtracted exactly, i.e. this unit's
  noise-free contribution plus the recording's own noise. With the exact MUAP and white
  Gaussian noise, the matched filter is the optimal detector of one discharge; its output is
  normalised so a discharge reads 1, discharges are its maxima above a threshold, one per
  20 ms, and the genie also picks the threshold that maximises the unit's RoA. No method that
  sees the other units too can beat this: it is an upper bound per unit.
* ``d'`` = ‖MUAP‖ / noise SD, the matched filter's signal-to-noise ratio for one discharge
  (the detection is sharp around d' ≈ 7–8 for ~10⁴ candidate instants).
* **pair genie**: the unit and its nearest neighbour (below) together plus the noise, decoded
  by greedy matching pursuit with both exact MUAPs: the genie that removes every unit but the
  one most like it;
* **nearest neighbour**: the largest normalised cross-correlation ρ of the unit's MUAP with any
  other unit's, over all lags (1 = indistinguishable shapes), and d'_pair = d'·√(1 − ρ²),
  the SNR for telling one discharge of the unit from one of that neighbour.

Against that bound, what decoders reach with the same exact MUAPs:

* ``--joint-iterations N``: the joint sparse decoder of research/oracle.py (all 100 exact MUAPs,
  N FISTA iterations, then two reweighted rounds of N), and which units it misses;
* ``--cancel-sweeps S``: then S sweeps of successive interference cancellation
  (:func:`cancel_interference`): each unit re-detected by the genie's own detector on the
  recording less every other unit at its decoded discharges.

It prints per SNR the number of units each identifies and the units they cannot, with their
d' and nearest neighbour, and writes research/results/identifiability_<tag>.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import scipy.signal as sps
import torch

from bmiss_engine.inversion import muap_correlation, subtract_muap
from bmiss_engine.metrics import match_units
from bmiss_engine.recording import Recording
from bmiss_engine.simulate import SimulationTruth
from research.common import CACHE, machine, write_table
from research.dictionary_oracle import realign
from research.oracle import paper_recording, sparse_deconvolution_count, template_matching_count
from research.peel_oracle import subtract_units

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)


def unit_contribution(train: np.ndarray, muap: np.ndarray, onset: int, n_samples: int) -> np.ndarray:
    """(n_channels, n_samples) noise-free signal of one unit, placed as the simulator places it."""
    impulses = np.zeros(n_samples + muap.shape[1])
    impulses[train] = 1.0
    return sps.oaconvolve(impulses[None, :], muap, axes=1)[:, onset : onset + n_samples]


def matched_filter_amplitude(y: np.ndarray, muap: np.ndarray) -> np.ndarray:
    """(n_samples - L + 1,) <M, y[:, t:t+L]> / ‖M‖²: 1 where a whole MUAP starts at t."""
    yt = torch.as_tensor(np.ascontiguousarray(y), dtype=torch.float32)[None]
    m = torch.as_tensor(np.ascontiguousarray(muap), dtype=torch.float32)[None]
    with torch.no_grad():
        out = torch.nn.functional.conv1d(yt, m)[0, 0].double().numpy()
    return out / float(np.square(muap.astype(np.float64)).sum())


def peaks_above(amplitude: np.ndarray, threshold: float, refractory: int) -> np.ndarray:
    """Largest-first maxima above ``threshold``, at most one per ``refractory`` samples."""
    above = np.flatnonzero(amplitude > threshold)
    taken = np.zeros(amplitude.size, dtype=bool)
    keep = []
    for t in above[np.argsort(-amplitude[above])]:
        if not taken[t]:
            keep.append(t)
            taken[max(0, t - refractory) : t + refractory] = True
    return np.sort(np.asarray(keep, dtype=np.int64))


def nearest_neighbour_correlation(muaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n_units,) max over other units and lags of the normalised cross-correlation of MUAPs,
    and (n_units,) the other unit where it peaks."""
    m = torch.as_tensor(muaps, dtype=torch.float32)
    m = m / m.square().sum((1, 2)).sqrt()[:, None, None]
    length = m.shape[2]
    with torch.no_grad():
        cross = torch.nn.functional.conv1d(torch.nn.functional.pad(m, (length - 1, length - 1)), m)
    peak = cross.abs().amax(dim=2).numpy()  # (U, U)
    np.fill_diagonal(peak, 0.0)
    return peak.max(axis=1), peak.argmax(axis=1)


def joint_decoder_trains(rec: Recording, truth: SimulationTruth, snr_db: float, iterations: int) -> list[np.ndarray]:
    """Each unit's discharges under the joint sparse decoder with all 100 exact MUAPs
    (research/oracle.py's, reweighted twice, threshold 0.5); cached in bench/.cache."""
    cache = CACHE / f"identifiability_joint_{snr_db:g}db_{iterations}.npz"
    if cache.exists():
        with np.load(cache) as f:
            return [f[f"unit{k}"] for k in range(len(f.files))]
    keep: dict[float, list[np.ndarray]] = {}
    sparse_deconvolution_count(rec.emg_v, list(truth.discharge_samples), truth.muaps_v, truth.muap_onset,
                               rec.sampling_rate_hz, snr_db, iterations=iterations, thresholds=(0.5,),
                               report_every=iterations, reweight_rounds=2, keep=keep)
    cache.parent.mkdir(exist_ok=True)
    np.savez(cache, **{f"unit{k}": d for k, d in enumerate(keep[0.5])})
    return keep[0.5]


def roa_per_unit(truth: SimulationTruth, found: list[np.ndarray], fs: float) -> np.ndarray:
    """(n_units,) RoA of each true unit against the decoded train of the same unit."""
    return np.array([match_units([t], [f], fs).matches[0].roa for t, f in zip(truth.discharge_samples, found, strict=True)])


def exact_sample_share(truth: SimulationTruth, found: list[np.ndarray]) -> float:
    """Share of the true discharges that a decoded discharge hits on the very sample."""
    hits = sum(np.intersect1d(f, t).size for f, t in zip(found, truth.discharge_samples, strict=True))
    return hits / sum(t.size for t in truth.discharge_samples)


def unexplained(x: torch.Tensor, muaps: np.ndarray, trains: list[np.ndarray], onset: int) -> float:
    """‖x − Σ_k MUAP_k at train_k‖² / ‖x‖²."""
    residual = subtract_units(x, trains, torch.as_tensor(muaps, dtype=torch.float32), onset)
    return float(residual.square().sum() / x.square().sum())


def cancel_interference(x_v: np.ndarray, muaps: np.ndarray, trains: list[np.ndarray], onset: int, fs: float,
                        sweeps: int, threshold: float = 0.5) -> Iterator[list[np.ndarray]]:
    """Successive interference cancellation from a joint decoding: unit by unit, largest MUAP
    first, the unit's own discharges are added back to the residual (recording less every
    unit's MUAP (n_units, n_channels, L) at its discharges), it is re-detected there by its
    matched filter (maxima above ``threshold``, a discharge reading 1, one per 20 ms) and
    subtracted again at the new discharges. Yields every unit's discharges after each sweep.

    Where the others are explained well, a unit's residual is the isolated genie's recording,
    so this is the genie's detector run on what the joint decoder left.
    """
    x = torch.as_tensor(np.array(x_v), dtype=torch.float32)  # a copy: the recording is read-only
    m = torch.as_tensor(np.ascontiguousarray(muaps), dtype=torch.float32)
    energy = m.double().square().sum((1, 2)).numpy()
    refractory = round(0.02 * fs)
    trains = [np.asarray(d, dtype=np.int64) for d in trains]
    residual = subtract_units(x, trains, m, onset)
    for _ in range(sweeps):
        for k in np.argsort(-energy):
            own = subtract_muap(residual, trains[k], -m[k], onset)  # the residual with unit k put back
            amplitude = muap_correlation(own, m[k]).double().numpy() / energy[k]
            trains[k] = peaks_above(amplitude, threshold, refractory) + onset
            residual = subtract_muap(own, trains[k], m[k], onset)
        yield [d.copy() for d in trains]


def genie(snr_db: float, joint_iterations: int, cancel_sweeps: int) -> tuple[list[list[str]], list[str], dict[str, object]]:
    rec, truth = paper_recording(snr_db)
    fs = rec.sampling_rate_hz
    emg = np.asarray(rec.emg_v, dtype=np.float64)
    n_samples = emg.shape[1]
    onset = truth.muap_onset
    refractory = round(0.02 * fs)
    contributions = []
    clean = np.zeros_like(emg)
    for train, muap in zip(truth.discharge_samples, truth.muaps_v, strict=True):
        c = unit_contribution(train, muap.astype(np.float64), onset, n_samples)
        clean += c
        contributions.append(c.astype(np.float32))
    noise = emg - clean
    noise_sd = float(noise.std())
    nn_corr, nn_unit = nearest_neighbour_correlation(truth.muaps_v)
    per_unit = []
    pair_roa = np.zeros(len(contributions))
    for k, (train, muap) in enumerate(zip(truth.discharge_samples, truth.muaps_v, strict=True)):
        y = contributions[k] + noise
        j = int(nn_unit[k])
        found_pair: list[np.ndarray] = []
        template_matching_count(y + contributions[j], [train, truth.discharge_samples[j]],
                                truth.muaps_v[[k, j]], onset, fs, keep=found_pair)
        pair_roa[k] = match_units([train], [found_pair[0]], fs).matches[0].roa
        amplitude = matched_filter_amplitude(y, muap)
        best_roa, best_threshold, roa_half = 0.0, 0.0, 0.0
        for threshold in THRESHOLDS:
            found = peaks_above(amplitude, threshold, refractory) + onset
            roa = match_units([train], [found], fs).matches[0].roa
            if threshold == 0.5:
                roa_half = roa
            if roa > best_roa:
                best_roa, best_threshold = roa, threshold
        d_prime = float(np.linalg.norm(muap.astype(np.float64))) / noise_sd
        per_unit.append((k, d_prime, best_roa, best_threshold, roa_half, float(nn_corr[k]), len(train)))
    ok = [u for u in per_unit if u[2] >= 0.8]
    ok_half = [u for u in per_unit if u[4] >= 0.8]
    failed = [u for u in per_unit if u[2] < 0.8]
    d = np.array([u[1] for u in per_unit])
    # a discharge of unit k against one of its nearest neighbour at the best lag and gain: what
    # tells them apart is the part of M_k orthogonal to the neighbour's MUAP
    d_pair = d * np.sqrt(np.clip(1 - nn_corr**2, 0.0, None))
    rows = [[f"{snr_db:g}", f"{noise_sd * 1e6:.2f}", f"{len(ok_half)}/100", f"{len(ok)}/100",
             f"{np.min(d):.1f} / {np.median(d):.1f} / {np.max(d):.1f}",
             f"{int(np.sum(d < 8))}", f"{np.median(nn_corr):.2f} / {np.max(nn_corr):.2f}",
             f"{int(np.sum(d_pair < 4))}", f"{int(np.sum(pair_roa >= 0.8))}/100"]]
    pair_missed = np.flatnonzero(pair_roa < 0.8)
    lines = [f"- {snr_db:g} dB, units the pair genie cannot identify (unit, its RoA, d'_pair, neighbour): "
             + (", ".join(f"{k} ({pair_roa[k]:.2f}, {d_pair[k]:.1f}, {nn_unit[k]})" for k in pair_missed) or "none")]
    lines += [f"- {snr_db:g} dB, units the genie cannot identify (unit, d', best RoA, nearest-neighbour "
             "correlation, discharges): "
             + (", ".join(f"{k} ({dp:.1f}, {roa:.2f}, {nn:.2f}, {n})" for k, dp, roa, _, _, nn, n in failed)
                or "none")]
    if joint_iterations:
        decoded = joint_decoder_trains(rec, truth, snr_db, joint_iterations)
        joint = roa_per_unit(truth, decoded, fs)
        x = torch.as_tensor(np.array(rec.emg_v), dtype=torch.float32)
        aligned = realign(x, truth.muaps_v, decoded, onset)
        lines.append(
            f"- {snr_db:g} dB, the joint decoder's discharges: {exact_sample_share(truth, decoded):.0%} on the true "
            f"sample ({exact_sample_share(truth, aligned):.0%} once realigned to the matched-filter maximum within "
            "±2 samples); energy of the recording the exact MUAPs leave unexplained there: "
            f"{unexplained(x, truth.muaps_v, decoded, onset):.4f} ({unexplained(x, truth.muaps_v, aligned, onset):.4f} "
            f"realigned; {unexplained(x, truth.muaps_v, list(truth.discharge_samples), onset):.4f} at the true "
            "discharges, the noise)")
        missed = np.flatnonzero(joint < 0.8)
        found = np.flatnonzero(joint >= 0.8)
        rows[0].append(f"{found.size}/100")
        lines.append(
            f"- {snr_db:g} dB, joint decoder with exact MUAPs: {found.size}/100. "
            f"d' median of the units it misses {np.median(d[missed]) if missed.size else float('nan'):.1f} against "
            f"{np.median(d[found]):.1f} for those it finds; nearest-neighbour correlation median "
            f"{np.median(nn_corr[missed]) if missed.size else float('nan'):.2f} against {np.median(nn_corr[found]):.2f}; "
            f"d'_pair median {np.median(d_pair[missed]) if missed.size else float('nan'):.1f} against "
            f"{np.median(d_pair[found]):.1f}, and {int(np.sum(d_pair[missed] < 4))} of the {missed.size} missed "
            f"have d'_pair < 4 against {int(np.sum(d_pair[found] < 4))} of the {found.size} found. "
            "Missed (unit, its RoA, d', nearest neighbour, correlation, d' of the neighbour): "
            + ", ".join(f"{k} ({joint[k]:.2f}, {d[k]:.1f}, {nn_unit[k]}, {nn_corr[k]:.2f}, {d[nn_unit[k]]:.1f})"
                        for k in missed))
        per_unit = [(*u, float(joint[u[0]])) for u in per_unit]
        if cancel_sweeps:
            t = time.perf_counter()
            counts = []
            for trains in cancel_interference(rec.emg_v, truth.muaps_v, decoded, onset, fs, cancel_sweeps):
                cancelled = roa_per_unit(truth, trains, fs)
                counts.append(int(np.sum(cancelled >= 0.8)))
                print(f"  interference cancellation sweep {len(counts)}: {counts[-1]}/100", flush=True)
            still = np.flatnonzero(cancelled < 0.8)
            rows[0].append(" → ".join(f"{c}" for c in counts) + "/100")
            lines.append(
                f"- {snr_db:g} dB, then {cancel_sweeps} sweeps of interference cancellation "
                f"({time.perf_counter() - t:.0f} s): " + " → ".join(map(str, counts)) + "/100. Still missed (unit, "
                "RoA, d', nearest neighbour, correlation): "
                + (", ".join(f"{k} ({cancelled[k]:.2f}, {d[k]:.1f}, {nn_unit[k]}, {nn_corr[k]:.2f})" for k in still)
                   or "none"))
    summary = {"per_unit": per_unit, "noise_sd": noise_sd}
    return rows, lines, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--snr", type=float, nargs="+", default=[20.0, 10.0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tag", default="cpu")
    parser.add_argument("--cancel-sweeps", type=int, default=0,
                        help="after the joint decoder, this many sweeps of successive interference cancellation")
    parser.add_argument("--joint-iterations", type=int, default=0,
                        help="also run the joint sparse decoder with the exact MUAPs, this many iterations per round")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows: list[list[str]] = []
    lines: list[str] = []
    t = time.perf_counter()
    for snr in args.snr:
        r, ln, summary = genie(snr, args.joint_iterations, args.cancel_sweeps)
        rows += r
        lines += ln
        print(r, *ln, sep="\n", flush=True)
        np.save(CACHE / f"identifiability_{snr:g}db.npy", np.array(summary["per_unit"]))
    wall = time.perf_counter() - t
    notes = "\n".join(lines) + f"""

Genie per unit: the recording less every other unit's exact contribution (this unit's
noise-free signal plus the recording's own white noise), decoded by the matched filter of the
exact MUAP; discharges at its maxima above the threshold (a discharge reads 1), one per 20 ms,
scored with RoA ≥ 0.8 at ±1 ms. "at 0.5": the threshold halfway to a discharge; "best
threshold": the genie also picks, per unit, the threshold in {{{", ".join(map(str, THRESHOLDS))}}} that
maximises that unit's RoA against its own truth. No decoder that must also explain the other
units can identify a unit this genie cannot. d' = ‖MUAP‖ / noise SD (all channels, whole MUAP).
Nearest neighbour: max over the other units and all lags of the normalised cross-correlation ρ
of the MUAPs; d'_pair = d'·√(1 − ρ²), the matched filter's SNR for telling one discharge of the
unit from one of that neighbour at the best lag and amplitude (what the isolated genie, which
knows which unit fired, is never asked). Pair genie: the unit's own contribution plus its
nearest neighbour's plus the noise, decoded by greedy matching pursuit with both exact MUAPs
(amplitude 1, 20 ms refractory; `research.oracle.template_matching_count`): the genie that knows
every unit but the one most like it. Greedy decoding is not optimal, so this is an estimate of
that bound, not the bound. Machine: {machine()}, {torch.get_num_threads()} torch thread(s); {wall:.0f} s.
Command: `PYTHONPATH=. .venv/bin/python research/identifiability.py --snr {" ".join(f"{s:g}" for s in args.snr)}
--joint-iterations {args.joint_iterations} --cancel-sweeps {args.cancel_sweeps} --tag {args.tag}`.
"""
    print(write_table(f"identifiability_{args.tag}.md",
                      "A genie bound per unit: how many of the paper setting's units the recording allows",
                      ["SNR dB", "noise SD µV", "genie identifies (threshold 0.5)", "genie identifies (best threshold)",
                       "d' min / median / max", "units with d' < 8", "nearest-neighbour corr. median / max",
                       "units with d'_pair < 4", "pair genie identifies"]
                      + (["joint decoder, exact MUAPs"] if args.joint_iterations else [])
                      + (["then interference cancellation, per sweep"] if args.cancel_sweeps else []),
                      rows, notes))


if __name__ == "__main__":
    main()
