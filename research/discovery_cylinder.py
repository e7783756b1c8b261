"""Where does discovery on the residual stop in the paper's setting on the cylinder (issue 23, item 6)?

usage: PYTHONPATH=. .venv/bin/python research/discovery_cylinder.py [--snr 20 10] [--rounds 8]
       [--mvdr-r 10] [--bmiss-restarts 10] [--threads 1] [--seed 1] [--tag NAME]

The joint method finds the units FastICA misses by running FastICA again on what the known units
leave (research/README.md section 14). In the paper's setting on the cylinder (100 units under a
10×32 grid around a forearm, research/paper_setting_cylinder.py) the exact-MUAP joint decoder
identifies 74/100 at 20 dB, FastICA 26. This asks how far that design can go with perfect
templates, i.e. where linear discovery stops:

1. FastICA on the recording (the blind stage);
2. the oracle cascade: FastICA on the recording less the *exact* contribution of every true unit
   identified so far (their true MUAPs at their true discharges: a perfect joint decode of the
   known units), the true units it identifies added to the known set, round after round until a
   round adds none;
3. the MVDR of the exact MUAPs of the units still missing, on that last exact residual
   (research/oracle.py's detector, extension ``--mvdr-r``): the best linear filter of each missed
   unit's own MUAP, the ceiling of any linear detector there;
4. the joint method itself (``method="joint"`` at its defaults, from the same blind stage);
5. model-based discovery after it: BMISS restarts (``--bmiss-restarts``, the simulation's
   cylinder) on the recording less the joint method's units (their joint least-squares
   templates, 80 ms around each discharge), a candidate counted as new when it repeats no
   joint unit (RoA ≤ 0.3 within ±50 ms).

Units are scored with the best lag within ±50 ms (RoA ≥ 0.8 at ±1 ms), as in
research/results/paper_setting_cylinder_cpu.md: FastICA marks a discharge 10–16 ms after the
simulator's firing instant for most units of this cylinder. Writes
research/results/discovery_cylinder_cpu[tag].md.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
from numpy.typing import NDArray

from bmiss_engine import Decomposer, DecomposerConfig
from bmiss_engine.inversion import ThetaSearch
from bmiss_engine.metrics import match_units
from bmiss_engine.progress import drain
from bmiss_engine.recording import Recording
from bmiss_engine.separation.duplicates import rate_of_agreement
from bmiss_engine.separation.joint_decoder import least_squares_templates, train_reconstruction
from bmiss_engine.simulate import SimulationTruth, simulate_recording
from research.common import machine, write_table
from research.paper_setting_cylinder import WIDE_LAG_S, cylinder_config, mvdr, paper_cylinder_config, score

log = logging.getLogger("discovery_cylinder")


def identified(truth: SimulationTruth, trains: list[NDArray[np.int64]], fs: float) -> set[int]:
    """The true units (indices) that ``trains`` identify, the best lag within ±50 ms."""
    report = match_units(truth.discharge_samples, [t for t in trains if len(t)], fs, max_lag_s=WIDE_LAG_S)
    return {int(m.true_key) for m in report.matches if m.estimated is not None and m.roa >= 0.8}


def exact_residual(rec: Recording, truth: SimulationTruth, known: set[int]) -> Recording:
    """The recording less the exact contribution of the ``known`` true units (their true MUAPs at
    their true discharges), noise and every other unit left: a perfect decode of the known units."""
    idx = sorted(known)
    muaps = torch.as_tensor(truth.muaps_v[idx], dtype=torch.float64)
    trains = [np.asarray(truth.discharge_samples[k], dtype=np.int64) for k in idx]
    emg = torch.as_tensor(rec.emg_v, dtype=torch.float64)
    left = emg - train_reconstruction(muaps, trains, truth.muap_onset, rec.n_samples)
    return Recording(left.numpy().astype(np.float32), rec.sampling_rate_hz,
                     dataclasses.replace(rec.grid, bad_channels=()), source=f"{rec.source} (exact residual)")


def fastica_trains(rec: Recording) -> list[NDArray[np.int64]]:
    cfg = DecomposerConfig().replace(method="fastica", device="cpu", discharge_marking="peak",
                                     auto_bad_channels=False)
    return [u.discharge_samples for u in Decomposer(cfg).run(rec).units]


def model_discovery(rec: Recording, known: list[NDArray[np.int64]], restarts: int) -> list[NDArray[np.int64]]:
    """Trains of the units BMISS restarts find on the recording less the ``known`` units' joint
    least-squares templates (80 ms centred on each discharge) that repeat none of them."""
    fs = rec.sampling_rate_hz
    x = torch.as_tensor(rec.emg_v, dtype=torch.float32)
    x = x - x.mean(dim=1, keepdim=True)
    onset = round(0.040 * fs)
    templates = least_squares_templates(x, known, onset, 2 * onset + 1)
    left = x - train_reconstruction(templates, known, onset, rec.n_samples)
    config = cylinder_config("bmiss", restarts)
    search = ThetaSearch(config.inversion_config(), anatomy=config.anatomy())
    found = drain(search.iterate(left, rec.grid, fs))
    return [u.detection.discharge_samples for u in found
            if all(rate_of_agreement(k, u.detection.discharge_samples, fs, WIDE_LAG_S) <= 0.3 for k in known)]


def study(snr_db: float, rounds: int, mvdr_r: int, bmiss_restarts: int, seed: int,
          ) -> tuple[list[list[str]], list[str]]:
    rec, truth = simulate_recording(paper_cylinder_config(snr_db, seed=seed))
    fs, n_units = rec.sampling_rate_hz, len(truth.discharge_samples)
    energy = float(np.square(rec.emg_v, dtype=np.float64).sum())
    rows: list[list[str]] = []
    notes: list[str] = []

    def row(step: str, known: set[int], reported: str, left: Recording | None, seconds: float) -> None:
        share = "" if left is None else f"{100 * float(np.square(left.emg_v, dtype=np.float64).sum()) / energy:.1f} %"
        rows.append([f"{snr_db:g}", step, f"{len(known)}/{n_units}", reported, share, f"{seconds:.0f}"])
        log.info(" | ".join(rows[-1]))

    t0 = time.perf_counter()
    blind = fastica_trains(rec)
    known = identified(truth, blind, fs)
    row("FastICA (blind stage)", known, str(len(blind)), None, time.perf_counter() - t0)
    left = rec
    for r in range(1, rounds + 1):
        t0 = time.perf_counter()
        left = exact_residual(rec, truth, known)
        found = fastica_trains(left)
        new = identified(truth, found, fs) - known
        row(f"oracle cascade, round {r}: FastICA on the exact residual", known | new, f"{len(found)} (+{len(new)} new)",
            left, time.perf_counter() - t0)
        known |= new
        if not new:
            break
    left = exact_residual(rec, truth, known)
    missing = [k for k in range(n_units) if k not in known]
    t0 = time.perf_counter()
    missing_truth = dataclasses.replace(truth, muaps_v=truth.muaps_v[missing],
                                        discharge_samples=tuple(truth.discharge_samples[k] for k in missing))
    linear = identified(missing_truth, mvdr(left, missing_truth, mvdr_r), fs)
    row(f"MVDR of the missing units' exact MUAPs on that residual, R = {mvdr_r}", known | {missing[k] for k in linear},
        f"{len(missing)} filters (+{len(linear)})", left, time.perf_counter() - t0)
    t0 = time.perf_counter()
    joint = Decomposer(DecomposerConfig().replace(method="joint", device="cpu")).run(rec)
    trains = [u.discharge_samples for u in joint.units]
    n_id, n_rep, n_bad, _ = score(truth, trains, fs, WIDE_LAG_S)
    rows.append([f"{snr_db:g}", "joint method (`method=\"joint\"`, its defaults)", f"{n_id}/{n_units}",
                 f"{n_rep} ({n_bad} unmatched)", f"{100 * float(joint.provenance['joint_residual_fraction']):.1f} % "
                 "(band-passed)", f"{time.perf_counter() - t0:.0f}"])
    log.info(" | ".join(rows[-1]))
    notes.append(f"{snr_db:g} dB: the joint method found {len(joint.provenance['joint_new_units'])} units beyond its "
                 f"blind stage; its model check: {'fits' if joint.provenance['joint_model_fits'] else 'does not fit'}")
    if bmiss_restarts:
        t0 = time.perf_counter()
        model_new = model_discovery(rec, trains, bmiss_restarts)
        with_model = identified(truth, trains + model_new, fs)
        n_bad = sum(1 for d in model_new
                    if max(rate_of_agreement(t, d, fs, WIDE_LAG_S) for t in truth.discharge_samples) < 0.3)
        rows.append([f"{snr_db:g}", f"+ BMISS, {bmiss_restarts} restarts on the joint method's residual (cylinder)",
                     f"{len(with_model)}/{n_units}", f"{len(model_new)} new ({n_bad} unmatched)", "",
                     f"{time.perf_counter() - t0:.0f}"])
        log.info(" | ".join(rows[-1]))
    return rows, notes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--snr", type=float, nargs="+", default=[20.0, 10.0])
    ap.add_argument("--rounds", type=int, default=8, help="oracle cascade rounds at most")
    ap.add_argument("--mvdr-r", type=int, default=10)
    ap.add_argument("--bmiss-restarts", type=int, default=10, help="BMISS restarts on the joint residual (0: none)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    rows: list[list[str]] = []
    notes: list[str] = []
    for snr in args.snr:
        r, n = study(snr, args.rounds, args.mvdr_r, args.bmiss_restarts, args.seed)
        rows += r
        notes += n
    cmd = (f"PYTHONPATH=. .venv/bin/python research/discovery_cylinder.py --snr {' '.join(f'{s:g}' for s in args.snr)} "
           f"--rounds {args.rounds} --mvdr-r {args.mvdr_r} --bmiss-restarts {args.bmiss_restarts} --threads {args.threads} "
           f"--seed {args.seed}"
           + (f" --tag {args.tag}" if args.tag else ""))
    print(write_table(
        f"discovery_cylinder_cpu{args.tag}.md",
        "Discovery on the residual, paper setting on the cylinder: where linear discovery stops",
        ["SNR dB", "step", "identified", "reported", "residual's share of the energy", "seconds"], rows,
        "\n".join(f"- {n}" for n in notes) + f"""

The paper's setting on the forearm cylinder as research/paper_setting_cylinder.py simulates it (100 units 1–12 mm
into the muscle all around the limb, 10×32 grid wrapped around it, 10 s at 2048 Hz, seed {args.seed}). Identified:
RoA ≥ 0.8 at ±1 ms after the best lag within ±{WIDE_LAG_S * 1e3:g} ms; the identified count of a row is the
known set after it. The oracle cascade subtracts the exact contribution of the true units identified so far (true
MUAPs at true discharges) from the raw EMG and runs the engine's FastICA (`method="fastica"`, default settings) on
what is left; its residual's share is of the raw EMG's energy, noise included. The MVDR row tries the exact MUAP of
every unit still missing on the last exact residual. The joint method's residual share is its own (band-passed EMG).
Seconds: wall time on a shared machine. Machine: {machine()}, {args.threads} torch thread(s). Command: `{cmd}`.
"""))


if __name__ == "__main__":
    main()
