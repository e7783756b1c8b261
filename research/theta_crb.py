"""How precisely can a unit's θ be known at all? The Cramér-Rao bound of every θ field in the
paper's setting on the cylinder (issue 23: θ RMSE ≤ 0.01 on identified units).

usage: PYTHONPATH=. .venv/bin/python research/theta_crb.py [--snr 20 10] [--units 100] [--threads 2] [--seed 1]

The issue asks for a θ RMSE of at most 0.01 (normalised by each field's range in the search) on
the identified units. Pure BMISS meets it for the position on the skin and the IZ only
(research/results/paper_setting_cylinder_cpu_restarts.md). This asks whether any estimator could
meet it for the other fields, from the information the recording holds about each unit's θ.

For every unit of the simulation, its MUAP m(θ) (C channels × L samples) is rendered by the
inversion's own forward model (``ThetaSearch.render``: the forearm cylinder, the 10×32 grid around
it) at its true θ, and the Jacobian G = ∂m/∂θ (CL × P, θ in the search's [0, 1] per field, the
fibre count included as a nuisance) is taken by central differences (step 1e-3). With N discharges, each
MUAP seen whole in white noise of SD σ per sample, the Fisher information is J = N GᵀG / σ² and the
bound on the SD of any unbiased estimate of field i is √(J⁻¹)ᵢᵢ. Two noise levels:

* ``noise only``: σ the simulation's added noise (measured as the RMS of the EMG less the true
  reconstruction of every unit): a genie that knows every other unit exactly. No estimator from
  this recording does better.
* ``noise + other units``: σ also holds the other units' EMG (the RMS of the EMG less this unit's
  own contribution), treated as white noise: what a fit to this unit's MUAP alone faces when the
  other units are not explained away. Overlaps are not white, so this is indicative only.

The table gives, per field, the median bound over the units and how many units have a bound at
most 0.01. Writes research/results/theta_crb_cpu.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
from numpy.typing import NDArray

from bmiss_engine.inversion import ThetaSearch
from bmiss_engine.inversion.search import THETA_NAMES
from bmiss_engine.recording import Recording
from bmiss_engine.separation.joint_decoder import train_reconstruction
from bmiss_engine.simulate import SimulationTruth, simulate_recording
from research.common import machine, write_table
from research.paper_setting_cylinder import cylinder_config, paper_cylinder_config

log = logging.getLogger("theta_crb")
TARGET = 0.01


def search_theta(search: ThetaSearch, rec: Recording, truth: SimulationTruth) -> torch.Tensor:
    """Every unit's true θ (U, P) in the search's [0, 1] on this grid."""
    bounds = search.bounds(rec.grid)
    cols = [bounds[n].to_unit(torch.as_tensor(truth.theta_physical[n], dtype=torch.float64)) for n in THETA_NAMES]
    return torch.stack(cols, dim=1)


def bounds_sd(search: ThetaSearch, rec: Recording, theta: torch.Tensor, n_discharges: NDArray[np.int64],
              sigma_v: NDArray[np.float64]) -> NDArray[np.float64]:
    """Cramér-Rao SDs (U, P) of θ in [0, 1], the units' noise SDs ``sigma_v`` (U,) in volts. A
    direction the MUAP does not depend on (an eigenvalue of J below 1e-12 of the largest) gives
    an SD of at least 1e6 times the best field's: unbounded in practice."""
    fs = rec.sampling_rate_hz
    out = np.zeros(theta.shape)
    step = 1e-3
    n_params = theta.shape[1]
    for k in range(theta.shape[0]):
        # central differences, all 2P shifted θ rendered in one batch (float32 rendering: a
        # step of 1e-3 keeps its rounding 1e-4 of the derivative)
        shifts = torch.cat([torch.eye(n_params), -torch.eye(n_params)]).to(torch.float64) * step
        with torch.no_grad():
            rendered = search.render((theta[k] + shifts).to(torch.float32), rec.grid, fs).to(torch.float64)
        g = ((rendered[:n_params] - rendered[n_params:]) / (2 * step)).reshape(n_params, -1).T  # (CL, P)
        info = float(n_discharges[k]) / sigma_v[k] ** 2 * (g.T @ g)
        eigenvalues, vectors = torch.linalg.eigh(info)
        eigenvalues = eigenvalues.clamp_min(1e-12 * float(eigenvalues.max()))
        cov = (vectors / eigenvalues) @ vectors.T
        out[k] = np.sqrt(torch.diagonal(cov).numpy())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--snr", type=float, nargs="+", default=[20.0, 10.0])
    ap.add_argument("--units", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    rows: list[list[str]] = []
    notes: list[str] = []
    config = cylinder_config("bmiss", 1)
    search = ThetaSearch(config.inversion_config(), anatomy=config.anatomy())
    for snr in args.snr:
        t0 = time.perf_counter()
        rec, truth = simulate_recording(paper_cylinder_config(snr, n_units=args.units, seed=args.seed))
        emg = torch.as_tensor(rec.emg_v, dtype=torch.float64)
        muaps = torch.as_tensor(truth.muaps_v, dtype=torch.float64)
        trains = [np.asarray(d, dtype=np.int64) for d in truth.discharge_samples]
        own = [train_reconstruction(muaps[k : k + 1], [trains[k]], truth.muap_onset, rec.n_samples)
               for k in range(len(trains))]
        everything = torch.stack(own).sum(dim=0)
        noise_v = float((emg - everything).square().mean().sqrt())
        others_v = np.array([float((emg - o).square().mean().sqrt()) for o in own])
        theta = search_theta(search, rec, truth)
        n_dis = np.array([len(d) for d in trains])
        # the inversion's model against the simulator's MUAPs at the true θ: the bound is the
        # inversion model's, so it should render what the simulator rendered
        with torch.no_grad():
            rendered = search.render(theta.to(torch.float32), rec.grid, rec.sampling_rate_hz).to(torch.float64)
        length = min(rendered.shape[2], muaps.shape[2])
        corr = [float(torch.nn.functional.cosine_similarity(rendered[k, :, :length].reshape(1, -1),
                                                             muaps[k, :, :length].reshape(1, -1)))
                for k in range(len(trains))]
        notes.append(f"{snr:g} dB: noise SD {noise_v * 1e6:.2f} µV; the other units' EMG and the noise, per unit, "
                     f"{np.median(others_v) * 1e6:.1f} µV (median); discharges per unit {n_dis.min()}–{n_dis.max()}; "
                     f"the inversion model's MUAP at the true θ against the simulator's, cosine median "
                     f"{np.median(corr):.3f} (min {np.min(corr):.3f})")
        for label, sigma in (("noise only", np.full(len(trains), noise_v)), ("noise + other units", others_v)):
            sd = bounds_sd(search, rec, theta, n_dis, sigma)
            for i, name in enumerate(THETA_NAMES):
                rows.append([f"{snr:g}", label, name, f"{np.median(sd[:, i]):.2g}", f"{np.percentile(sd[:, i], 90):.2g}",
                             f"{int((sd[:, i] <= TARGET).sum())}/{len(trains)}"])
                log.info(" | ".join(rows[-1]))
        notes.append(f"{snr:g} dB: {time.perf_counter() - t0:.0f} s")
    cmd = (f"PYTHONPATH=. .venv/bin/python research/theta_crb.py --snr {' '.join(f'{s:g}' for s in args.snr)} "
           f"--units {args.units} --threads {args.threads} --seed {args.seed}")
    print(write_table(
        "theta_crb_cpu.md", "Cramér-Rao bound of θ, paper setting on the cylinder",
        ["SNR dB", "noise", "field", "median bound (SD, [0, 1])", "90th percentile", f"units with bound ≤ {TARGET:g}"],
        rows, "\n".join(f"- {n}" for n in notes) + f"""

θ normalised as the inversion searches it (`ThetaSearch.bounds` of the forearm cylinder and the 10×32 grid around
it; the fibre count on its log scale). A bound is the SD no unbiased estimator of that field can beat from the
recording, given N discharges of the unit seen whole in white noise of the stated SD; "noise only" is the
optimistic case (every other unit known exactly), "noise + other units" treats the rest of the EMG as white noise.
Machine: {machine()}, {args.threads} torch thread(s). Command: `{cmd}`.
"""))


if __name__ == "__main__":
    main()
