"""Speed of the analytic forward model: 64 units × 64 channels × 30 ms at 2048 Hz.

usage: .venv/bin/python bench/forward_speed.py [--threads 1] [--device cpu|cuda]

Units spread over 0.5–10 mm depth (the frequency cutoff follows the shallowest), random other
parameters within their bounds; skin 1 mm and three fat thicknesses (thin fat keeps the most
spatial frequencies, so it is the slow case). Reports the best of 5 forward passes and one
forward + backward pass (gradients for all 8 unit parameters), and writes
bench/results/forward_speed_<device>[_<units>].md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from bench.common import machine, write_table
from bmiss_engine.forward import AnalyticForwardModel, AnatomyParameters, MotorUnitParameters
from bmiss_engine.recording import ElectrodeGrid


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=64, help="units rendered in one pass")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    n_units = args.batch
    unit = torch.rand(n_units, 8, generator=torch.Generator().manual_seed(0))
    drawn = MotorUnitParameters.from_unit_interval(unit).as_dict()
    drawn["depth_mm"] = torch.linspace(0.5, 10.0, n_units)
    drawn["territory_radius_mm"] = torch.full((n_units,), 2.0)
    units = MotorUnitParameters(**{k: v.to(device) for k, v in drawn.items()})
    full = ElectrodeGrid.full(13, 5, 8.0)
    grid = ElectrodeGrid(13, 5, 8.0, full.channel_rc[1:])  # 64 channels
    rows = []
    for fat_mm in (0.5, 2.0, 5.0):
        anatomy = AnatomyParameters(**{k: v.to(device) for k, v in
                                       AnatomyParameters.default(fat_mm=fat_mm, dtype=torch.float32).as_dict().items()})
        for spatial_filter in ("monopolar", "single_differential"):
            model = AnalyticForwardModel(duration_s=0.030, spatial_filter=spatial_filter)
            with torch.no_grad():
                model.muaps(units, anatomy, grid, 2048.0)  # warm-up
                times = []
                for _ in range(5):
                    t0 = time.perf_counter()
                    out = model.muaps(units, anatomy, grid, 2048.0)
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    times.append(time.perf_counter() - t0)
            leaves = {k: v.clone().requires_grad_(True) for k, v in units.as_dict().items()}
            t0 = time.perf_counter()
            muaps = model.muaps(MotorUnitParameters(**leaves), anatomy, grid, 2048.0)
            muaps.square().sum().backward()
            if device.type == "cuda":
                torch.cuda.synchronize()
            backward_s = time.perf_counter() - t0
            rows.append([f"{fat_mm:g}", spatial_filter, "×".join(str(s) for s in out.shape),
                         f"{min(times):.3f}", f"{backward_s:.3f}"])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    notes = (
        f"Machine: {machine()}, {args.threads} torch thread(s), device {args.device}, load average "
        f"{load:.1f} when measured. Command: `.venv/bin/python bench/forward_speed.py "
        f"--threads {args.threads} --device {args.device}`. float32, default SpectralGrid."
    )
    name = f"forward_speed_{args.device}{'' if n_units == 64 else f'_{n_units}'}.md"
    print(write_table(name, f"Analytic forward model, {n_units} units × 64 channels × 30 ms at 2048 Hz",
                      ["fat mm", "filter", "output", "forward s (best of 5)", "forward + backward s"], rows, notes))


if __name__ == "__main__":
    main()
