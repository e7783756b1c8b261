"""The BMISS paper's setting in its own geometry (issue 23, item 6): 100 motor units under a 10×32
grid wrapped around a forearm-sized cylinder, 10 s at 2048 Hz, 20 (and 10) dB SNR.

usage: PYTHONPATH=. .venv/bin/python research/paper_setting_cylinder.py [--units 100] [--seconds 10]
       [--snr 20 10] [--steps ceiling mvdr fastica joint hybrid hybrid_restarts bmiss]
       [--decode-iterations 600] [--mvdr-r 10] [--budget-s 0] [--hybrid-restarts 4] [--bmiss-restarts 10]
       [--step-budget-s 0] [--threads 1] [--seed 1] [--tag NAME]

The simulation is our simulator with the cylindrical generator, as ``bmiss simulate
--forward-model cylindrical --grid-around --limb forearm`` builds it: the forearm preset (skin
radius 41 mm, bone 9 mm, fat 3 mm, skin 1.2 mm), the 10×32 grid's columns spread evenly around
the circumference (8.05 mm apart), its rows ``--ied`` mm apart along the fibres, the units spread
over the whole circumference, 1–12 mm into the muscle; every unit recruited (thresholds up to
0.8 of a 0.9 peak excitation after a 1 s ramp), as in research/paper_setting.py. The truth (each
unit's discharges and exact noise-free MUAP) comes from ``simulate_recording``.

Per SNR, in this order, with the elapsed time at each step (each a ``--steps`` name):

* ``ceiling``: the engine's joint decoder (:func:`bmiss_engine.separation.joint_decoder.decode`,
  default :class:`DecoderSettings`, from zero) holding every unit's exact MUAP, band-passed like
  the EMG (the MUAP zero-padded by 25 ms each side, then the same zero-phase Butterworth band-pass
  as the EMG, both scaled by the band-passed EMG's RMS); λ's noise SD is :func:`noise_sd` of the
  band-passed EMG less the true reconstruction (the true trains times these templates), i.e. the
  noise itself, measured as the joint method measures it on a residual;
* ``mvdr``: the MVDR (CKC) ceiling of research/oracle.py: the minimum-variance filter of each unit's
  exact MUAP at extension R (``--mvdr-r``), discharges detected as the inversion detects them;
* ``fastica``: ``Decomposer`` with ``method="fastica"`` (defaults);
* ``joint``: ``Decomposer`` with ``method="joint"`` (defaults; it runs its own FastICA first, so its
  time includes that);
* ``hybrid``: ``Decomposer`` with ``method="hybrid"`` and ``hybrid_restarts=0`` (FastICA's units and
  θ fitted to each with the engine's default forward model, the planar one; no BMISS restarts on
  the residual: this step's trains are FastICA's);
* ``hybrid_restarts``: ``method="hybrid"`` with ``hybrid_restarts`` = ``--hybrid-restarts`` and the
  forward model of the simulation: ``forward_model="cylindrical"``, ``limb="forearm"`` (its whole
  cylinder: skin radius 41 mm, bone 9 mm, skin 1.2 mm, fat 3 mm) and ``grid_around=True``;
  θ fitted to FastICA's units through the cylinder, then BMISS restarts on their residual;
* ``bmiss``: ``method="bmiss"`` (pure model inversion) with ``restarts`` = ``--bmiss-restarts`` and
  the same cylinder.

``--step-budget-s`` > 0 stops ``hybrid_restarts`` and ``bmiss`` once they have run that long (the
generator is closed) and scores the units of their last snapshot (the units pooled by the
restarts done); the table says how many restarts were done. The wall time of every restart is
logged and written in the notes.

θ RMSE (``hybrid_restarts``, ``bmiss``): for every true unit identified (RoA ≥ 0.8, under each lag
rule), the reported unit's θ (``MotorUnit.theta``, physical units) against the truth's
(``SimulationTruth.theta_physical``, the same :class:`MotorUnitParameters` fields), per field, in
physical units and normalised by the field's range in the search (``ThetaSearch.bounds`` on the
recording's grid: the cylinder's depth and medio-lateral bounds, the fixed bounds otherwise; the
fibre count on its logarithmic scale). The medio-lateral position is the arc on the skin, its
error taken around the limb (within ±π·radius).

A true unit is identified at RoA ≥ 0.8 (±1 ms after the best lag within ±10 ms); "reported" counts
non-empty trains; "unmatched" counts reported trains whose RoA with every true unit is below 0.3.
Both are given twice: with the best lag searched within ±10 ms (the usual rule) and within ±50 ms
(a method's discharges may sit a constant 10–16 ms after the simulator's firing instant here).
``--budget-s`` > 0 skips the steps that would start after that many seconds. The table is
rewritten after every step, so a run cut short keeps what finished. Writes
research/results/paper_setting_cylinder_cpu[tag].md.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
from numpy.typing import NDArray

from bmiss_engine import Decomposer, DecomposerConfig
from bmiss_engine.forward import MotorUnitParameters
from bmiss_engine.inversion import MvdrEstimator, ThetaSearch
from bmiss_engine.metrics import match_units
from bmiss_engine.recording import Recording
from bmiss_engine.results import MotorUnit
from bmiss_engine.separation.duplicates import rate_of_agreement
from bmiss_engine.separation.joint_decoder import DecoderSettings, decode, noise_sd, train_reconstruction
from bmiss_engine.separation.preprocess import bandpass
from bmiss_engine.simulate import SimulationConfig, SimulationTruth, simulate_recording
from research.common import machine, write_table
from research.oracle import mvdr_detections

log = logging.getLogger("paper_setting_cylinder")

STEPS = ("ceiling", "mvdr", "fastica", "joint", "hybrid", "hybrid_restarts", "bmiss")
MODEL_STEPS = ("hybrid_restarts", "bmiss")
PAD_S = 0.025  # zero padding of the exact MUAPs before the band-pass
# the second scoring's best-lag window: FastICA marks a discharge at its MUAP's onset on the grid,
# which on this cylinder sits up to ~30 ms after the simulator's firing instant for some units
WIDE_LAG_S = 0.050


def paper_cylinder_config(snr_db: float, n_units: int = 100, duration_s: float = 10.0, ied_mm: float = 5.0,
                          seed: int = 1) -> SimulationConfig:
    """The paper's setting on the forearm cylinder, the 10×32 grid wrapped around it (as the CLI builds it)."""
    base = SimulationConfig(
        n_units=n_units, duration_s=duration_s, grid_shape=(10, 32), ied_mm=ied_mm, missing_corner=False,
        snr_db=snr_db, ramp_s=1.0, peak_excitation=0.9, max_threshold=0.8, muap_generator="cylindrical",
        limb="forearm", grid_around=True, seed=seed,
    )
    layers = float(base.anatomy().skin_mm) + float(base.anatomy().fat_mm)
    return dataclasses.replace(base, depth_range_mm=(layers + 1.0, layers + 12.0),
                               muscle_width_mm=base.across_span_mm())


def score(truth: SimulationTruth, trains: list[NDArray[np.int64]], fs: float,
          max_lag_s: float = 0.010) -> tuple[int, int, int, float]:
    """(identified, reported, unmatched, median RoA of the identified) of decoded ``trains``, the
    best lag searched within ±``max_lag_s``."""
    reported = [np.asarray(d, dtype=np.int64) for d in trains if len(d)]
    report = match_units(truth.discharge_samples, reported, fs, max_lag_s=max_lag_s)
    bad = sum(1 for d in reported
              if max(rate_of_agreement(t, d, fs, max_lag_s=max_lag_s) for t in truth.discharge_samples) < 0.3)
    return report.n_identified, len(reported), bad, report.median_roa_identified


def prepared(rec: Recording, truth: SimulationTruth, band_hz: tuple[float, float],
             ) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The band-passed EMG at unit RMS (C, n), the exact MUAPs band-passed and scaled alike (U, C, L)
    and their onset (the discharge's sample in the template)."""
    fs = rec.sampling_rate_hz
    emg = bandpass(rec.emg_v, fs, band_hz)
    emg = emg - emg.mean(axis=1, keepdims=True)
    scale = float(np.sqrt(np.mean(emg.astype(np.float64) ** 2)))
    pad = round(PAD_S * fs)
    muaps = np.pad(truth.muaps_v, ((0, 0), (0, 0), (pad, pad)))
    filtered = bandpass(muaps.reshape(-1, muaps.shape[2]), fs, band_hz).reshape(muaps.shape)
    return (torch.as_tensor(emg / np.float32(scale)), torch.as_tensor(filtered / np.float32(scale)),
            truth.muap_onset + pad)


def ceiling(rec: Recording, truth: SimulationTruth, args: argparse.Namespace) -> tuple[list[NDArray[np.int64]], str]:
    """The joint decoder's discharges with the exact MUAPs, and a note on its noise and residual."""
    fs = rec.sampling_rate_hz
    x, templates, onset = prepared(rec, truth, DecomposerConfig().separation.band_hz)
    truths = [np.asarray(d, dtype=np.int64) for d in truth.discharge_samples]
    true_residual = x - train_reconstruction(templates, truths, onset, x.shape[1])
    sigma = noise_sd(true_residual)
    settings = DecoderSettings(max_iterations=args.decode_iterations)
    gen = decode(x, templates, onset, sigma, fs, settings)
    t0 = time.perf_counter()
    while True:
        try:
            progress = next(gen)
        except StopIteration as stop:
            result = stop.value
            break
        if progress.iteration % 100 == 0:
            log.info("  ceiling: %d/%d FISTA iterations, %.0f s", progress.iteration, progress.total,
                     time.perf_counter() - t0)
    total = float(x.square().sum())
    note = (f"noise SD (noise_sd of the band-passed EMG less the true reconstruction) {sigma:.4f} of the "
            f"band-passed EMG's RMS, the true reconstruction's residual "
            f"{100 * float(true_residual.square().sum()) / total:.2f} % "
            f"of the energy, the decoder's {100 * float(result.residual.square().sum()) / total:.2f} %; "
            f"{result.iterations} FISTA iterations; templates {templates.shape[2]} samples")
    return result.trains, note


def mvdr(rec: Recording, truth: SimulationTruth, factor: int) -> list[NDArray[np.int64]]:
    """MVDR ceiling (research/oracle.py): exact MUAPs on the raw EMG at unit RMS, extension ``factor``."""
    x = torch.as_tensor(np.ascontiguousarray(rec.emg_v), dtype=torch.float32)
    x = x - x.mean(dim=1, keepdim=True)
    x = x / x.pow(2).mean().sqrt().clamp_min(1e-30)
    estimator = MvdrEstimator.fit(x, factor, 1e-6)
    muaps = torch.as_tensor(truth.muaps_v, dtype=torch.float32)
    return [d.discharge_samples for d in mvdr_detections(estimator, muaps, truth.muap_onset, factor,
                                                         rec.sampling_rate_hz)]


def cylinder_config(method: str, restarts: int) -> DecomposerConfig:
    """``method`` with the simulation's forward model: the forearm cylinder, the grid around it."""
    config = DecomposerConfig().replace(method=method, device="cpu", forward_model="cylindrical", limb="forearm",
                                        grid_around=True)
    if method == "hybrid":
        return config.replace(hybrid_restarts=restarts)
    return config.replace(inversion_restarts=restarts)


def model_units(rec: Recording, method: str, restarts: int, budget_s: float,
                ) -> tuple[list[MotorUnit], str, list[float]]:
    """The units of ``method`` through the cylinder (the last snapshot's when stopped after
    ``budget_s``), a note, and the wall time of each restart done (s)."""
    gen = Decomposer(cylinder_config(method, restarts)).iterate(rec)
    stage = "residual search" if method == "hybrid" else "inversion"
    t0 = time.perf_counter()
    marks: list[float] = []  # elapsed at the start of the restarts (first) and at the end of each
    done = 0
    units: tuple[MotorUnit, ...] = ()
    stopped = False
    while True:
        try:
            state = next(gen)
        except StopIteration as stop:
            units = tuple(stop.value.units)
            break
        units = state.units
        now = time.perf_counter() - t0
        if state.stage == stage and not marks:
            marks.append(now)
            log.info("  %s: restarts start at %.0f s (%s)", method, now, state.message)
        if state.stage == stage and state.iteration > done:
            done = state.iteration
            marks.append(now)
            log.info("  %s: restart %d/%d done at %.0f s (%.0f s), %d units", method, done, restarts, now,
                     marks[-1] - marks[-2], len(units))
        if budget_s and now > budget_s:
            gen.close()
            stopped = True
            break
    per_restart = [b - a for a, b in itertools.pairwise(marks)]
    note = (f"{done}/{restarts} restarts done"
            + (f" (stopped at the {budget_s:g} s step budget; the units of the last snapshot)" if stopped else "")
            + (f", restarts began {marks[0]:.0f} s into the step" if marks else "")
            + (f"; per restart {', '.join(f'{t:.0f}' for t in per_restart)} s" if per_restart else ""))
    if method == "hybrid":
        note += f"; {sum(1 for u in units if u.origin == 'model')} units from the residual restarts"
    return list(units), note, per_restart


def wrapped(error: NDArray[np.float64], period: float) -> NDArray[np.float64]:
    """``error`` taken the short way around a circle of circumference ``period``."""
    return (error + period / 2) % period - period / 2


def theta_errors(rec: Recording, truth: SimulationTruth, units: list[MotorUnit], max_lag_s: float,
                 ) -> tuple[int, dict[str, tuple[float, float]]]:
    """(identified units with θ, field → (RMSE in physical units, RMSE normalised by the search's
    bound range)) of ``units`` against the truth, identification as :func:`score`."""
    reported = [u for u in units if len(u.discharge_samples)]
    report = match_units(truth.discharge_samples, [u.discharge_samples for u in reported], rec.sampling_rate_hz,
                         max_lag_s=max_lag_s)
    pairs = [(int(m.true_key), reported[int(m.estimated)].theta) for m in report.identified
             if m.estimated is not None and reported[int(m.estimated)].theta]
    config = cylinder_config("bmiss", 1)
    search = ThetaSearch(config.inversion_config(), anatomy=config.anatomy())
    bounds = search.bounds(rec.grid)
    circumference = 2 * np.pi * float(truth.geometry["skin_radius_mm"])
    # the truth as rendered (a territory past the muscle surface shrunk to fit), as θ is reported
    rendered = search.rendered(MotorUnitParameters(**{
        n: torch.as_tensor(np.asarray(truth.theta_physical[n])[[k for k, _ in pairs]], dtype=torch.float64)
        for n in truth.theta_physical}))
    out: dict[str, tuple[float, float]] = {}
    for name in truth.theta_physical:
        true = getattr(rendered, name).numpy()
        est = np.array([float(theta[name]) for _, theta in pairs])  # type: ignore[index]
        if not len(pairs):
            continue
        b = bounds[name]
        if name == "ml_mm":
            err = wrapped(est - true, circumference)
            norm = err / (b.high - b.low)
        else:
            err = est - true
            norm = (b.to_unit(torch.as_tensor(est, dtype=torch.float64))
                    - b.to_unit(torch.as_tensor(true, dtype=torch.float64))).numpy()
        out[name] = (float(np.sqrt(np.mean(err**2))), float(np.sqrt(np.mean(norm**2))))
    return len(pairs), out


def method_trains(rec: Recording, method: str) -> tuple[list[NDArray[np.int64]], str]:
    settings: dict[str, object] = {"method": method, "device": "cpu"}
    if method == "hybrid":
        settings["hybrid_restarts"] = 0
    result = Decomposer(DecomposerConfig().replace(**settings)).run(rec)
    extra = ""
    if method == "joint":
        extra = f"{len(result.provenance.get('joint_new_units', []))} units beyond its blind stage"
    return [u.discharge_samples for u in result.units], extra


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--units", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--snr", type=float, nargs="+", default=[20.0, 10.0])
    ap.add_argument("--ied", type=float, default=5.0, help="row spacing along the fibres, mm")
    ap.add_argument("--steps", nargs="+", default=list(STEPS), choices=STEPS)
    ap.add_argument("--decode-iterations", type=int, default=DecoderSettings().max_iterations,
                    help="the ceiling's FISTA iterations per round at most")
    ap.add_argument("--mvdr-r", type=int, default=10, help="the MVDR ceiling's extension factor")
    ap.add_argument("--budget-s", type=float, default=0.0, help="skip steps starting after this many seconds (0: none)")
    ap.add_argument("--hybrid-restarts", type=int, default=4, help="hybrid_restarts' BMISS restarts on the residual")
    ap.add_argument("--bmiss-restarts", type=int, default=10, help="pure BMISS's restarts")
    ap.add_argument("--step-budget-s", type=float, default=0.0,
                    help="stop hybrid_restarts and bmiss after this many seconds, scoring what they found (0: none)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tag", default="", help="suffix of the results file")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    rows: list[list[str]] = []
    notes: list[str] = []
    skipped: list[str] = []
    labels = {"ceiling": "joint decoder, exact MUAPs (ceiling)",
              "mvdr": f"MVDR of the exact MUAPs, R = {args.mvdr_r} (ceiling)",
              "fastica": "FastICA (`method=\"fastica\"`)", "joint": "joint (`method=\"joint\"`)",
              "hybrid": "hybrid, 0 restarts (`method=\"hybrid\"`)",
              "hybrid_restarts": f"hybrid, cylinder, {args.hybrid_restarts} residual restarts",
              "bmiss": f"pure BMISS, cylinder, {args.bmiss_restarts} restarts (`method=\"bmiss\"`)"}
    theta_rows: list[list[str]] = []
    bounds_note = [""]
    fields: list[str] = []

    def write() -> str:
        not_run = [s for s in STEPS if s not in args.steps]
        cmd = (f"PYTHONPATH=. nice -n 19 .venv/bin/python research/paper_setting_cylinder.py --units {args.units} "
               f"--seconds {args.seconds:g} --snr {' '.join(f'{s:g}' for s in args.snr)} --ied {args.ied:g} "
               f"--steps {' '.join(args.steps)} --decode-iterations {args.decode_iterations} --mvdr-r {args.mvdr_r} "
               f"--budget-s {args.budget_s:g} --hybrid-restarts {args.hybrid_restarts} "
               f"--bmiss-restarts {args.bmiss_restarts} --step-budget-s {args.step_budget_s:g} "
               f"--threads {args.threads} --seed {args.seed}"
               + (f" --tag {args.tag}" if args.tag else ""))
        cfg = paper_cylinder_config(args.snr[0], args.units, args.seconds, args.ied, args.seed)
        g = cfg.cylinder().geometry(cfg.anatomy())
        theta_table = ""
        if theta_rows:
            head = ["SNR dB", "step", "lag rule", "units", *fields]
            theta_table = ("\n\nθ RMSE on the identified units, per field: in physical units (mm, m/s, fibres), then "
                           "normalised by the field's range in the search (`ThetaSearch.bounds` on this grid: "
                           + bounds_note[0]
                           + "; the fibre count on its log scale); the last column the RMSE over all the normalised "
                           "fields together.\n\n| " + " | ".join([*head, "all fields"]) + " |\n|"
                           + "---|" * (len(head) + 1) + "\n"
                           + "\n".join("| " + " | ".join(r) + " |" for r in theta_rows))
        return write_table(
            f"paper_setting_cylinder_cpu{args.tag}.md",
            f"Paper setting on the cylinder: {args.units} units, 10×32 grid around a forearm, {args.seconds:g} s, "
            "2048 Hz (CPU)",
            ["SNR dB", "step", "identified", "reported", "unmatched", "median RoA (identified)",
             f"identified, lag ≤ {WIDE_LAG_S * 1e3:g} ms", f"unmatched, lag ≤ {WIDE_LAG_S * 1e3:g} ms", "seconds"],
            rows,
            "\n".join(f"- {n}" for n in notes) + theta_table + f"""

Simulation (seed {args.seed}): cylindrical generator, forearm preset (skin radius {g.skin_radius_mm:g} mm, muscle
radius {g.muscle_radius_mm:g} mm, bone {g.bone_radius_mm:g} mm, fat {float(cfg.anatomy().fat_mm):g} mm, skin
{float(cfg.anatomy().skin_mm):g} mm); 10×32 grid wrapped around the limb (columns {cfg.across_span_mm() / 32:.2f} mm
apart on the skin, rows {args.ied:g} mm apart along the fibres, 320 channels); units 1–12 mm into the muscle,
spread over the whole circumference; thresholds up to 0.8 of a 0.9 peak excitation after a 1 s ramp (every unit
recruited), ISI CoV 0.15. Identified: RoA ≥ 0.8 at ±1 ms after the best lag (±10 ms); reported: non-empty
trains; unmatched: reported trains with RoA < 0.3 against every true unit. The "lag ≤ {WIDE_LAG_S * 1e3:g} ms"
columns score the same trains with the best lag searched within ±{WIDE_LAG_S * 1e3:g} ms: a constant per-unit
offset between the simulator's firing instant and where a method marks the discharge on the MUAP (FastICA:
its onset on the grid) is not an error of the decomposition, and on this cylinder it exceeds 10 ms for many units.
Seconds: wall time of the step on a
shared, loaded machine (other jobs running; `nice -n 19`), so compare them only roughly. The ceiling's
templates are the exact MUAPs band-passed like the EMG (20–500 Hz zero-phase Butterworth, padded {PAD_S * 1e3:g} ms
each side); its λ uses `noise_sd` of the band-passed EMG less the true reconstruction (the true noise, measured
as the joint method measures a residual), default `DecoderSettings` otherwise. The joint method's time includes
its own FastICA stage. The `hybrid` step runs with `hybrid_restarts=0` and the engine's default (planar) forward
model: no BMISS restarts on the residual; the `hybrid_restarts` and `bmiss` steps use the cylinder of the simulation
(`forward_model="cylindrical"`, `limb="forearm"`, `grid_around=True`).
Steps not run: {', '.join(not_run + skipped) or 'none'}.
Machine: {machine()}, {args.threads} torch thread(s), device cpu. Command: `{cmd}`.
""")

    for snr in args.snr:
        t0 = time.perf_counter()
        rec, truth = simulate_recording(paper_cylinder_config(snr, args.units, args.seconds, args.ied, args.seed))
        fs = rec.sampling_rate_hz
        notes.append(f"{snr:g} dB: simulated in {time.perf_counter() - t0:.0f} s ({rec.n_channels} channels, "
                     f"{sum(len(d) for d in truth.discharge_samples)} true discharges); elapsed "
                     f"{time.perf_counter() - start:.0f} s")
        log.info(notes[-1])
        for step in args.steps:
            if args.budget_s and time.perf_counter() - start > args.budget_s:
                skipped.append(f"{step} at {snr:g} dB (past the {args.budget_s:g} s budget)")
                log.info("skipped %s at %g dB: past the budget", step, snr)
                continue
            t0 = time.perf_counter()
            extra = ""
            if step == "ceiling":
                trains, extra = ceiling(rec, truth, args)
            elif step == "mvdr":
                trains = mvdr(rec, truth, args.mvdr_r)
            elif step in MODEL_STEPS:
                method = "hybrid" if step == "hybrid_restarts" else "bmiss"
                restarts = args.hybrid_restarts if step == "hybrid_restarts" else args.bmiss_restarts
                units, extra, _ = model_units(rec, method, restarts, args.step_budget_s)
                config = cylinder_config(method, restarts)
                bounds = ThetaSearch(config.inversion_config(), anatomy=config.anatomy()).bounds(rec.grid)
                bounds_note[0] = ", ".join(f"{n} {b.low:.4g} to {b.high:.4g}" for n, b in bounds.items())
                trains = [u.discharge_samples for u in units]
                for rule, lag in (("±10 ms", 0.010), (f"±{WIDE_LAG_S * 1e3:g} ms", WIDE_LAG_S)):
                    n_theta, errors = theta_errors(rec, truth, units, lag)
                    if not errors:
                        continue
                    fields = list(errors)
                    theta_rows.append([f"{snr:g}", labels[step], rule, str(n_theta)]
                                      + [f"{errors[n][0]:.3g} ({errors[n][1]:.3f})" for n in fields]
                                      + [f"{np.sqrt(np.mean([errors[n][1] ** 2 for n in fields])):.3f}"])
                    log.info("θ RMSE %s", " | ".join(theta_rows[-1]))
            else:
                trains, extra = method_trains(rec, step)
            wall = time.perf_counter() - t0
            n_id, n_rep, n_bad, roa = score(truth, trains, fs)
            n_id_wide, _, n_bad_wide, _ = score(truth, trains, fs, WIDE_LAG_S)
            rows.append([f"{snr:g}", labels[step], f"{n_id}/{args.units}", str(n_rep), str(n_bad), f"{roa:.3f}",
                         f"{n_id_wide}/{args.units}", str(n_bad_wide), f"{wall:.0f}"])
            if extra:
                notes.append(f"{snr:g} dB {step}: {extra}")
            log.info("%s | elapsed %.0f s, load %.1f", " | ".join(rows[-1]), time.perf_counter() - start,
                     os.getloadavg()[0])
            write()
    print(write())


if __name__ == "__main__":
    main()
