"""Speed of the cylindrical forward model: all MUAPs of a pool on a grid, and a batch with gradients.

usage: .venv/bin/python bench/cylindrical.py [--threads 1] [--device cpu|cuda] [--units 100]

Two settings: a 13×5 grid (8 mm) on the arc of a 15 mm muscle under 2 mm fat and 1 mm skin
(MyoGen's geometry), and the paper's 10×32 grid (5 mm) wrapped around a forearm-sized limb
(skin radius 32·5/2π = 25.5 mm: muscle radius 22.5 mm). Units spread over 0.5–12 mm depth and
all angles, other parameters drawn within their bounds; monopolar, 35 ms at 2048 Hz, float32.
Reports the first call (it builds the geometry's tables, cached per limb), the best of 5
forward passes of the whole pool, and one forward + backward pass of a 64-unit batch (what the
inversion's Adam steps cost), against the planar model on the same grid; writes
bench/results/cylindrical_<device>.md.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from bench.common import machine, write_table
from bmiss_engine.forward import AnalyticForwardModel, AnatomyParameters, MotorUnitParameters
from bmiss_engine.forward.cylindrical import CylindricalForwardModel
from bmiss_engine.recording import ElectrodeGrid


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _pool(n_units: int, circumference_mm: float, device: torch.device) -> MotorUnitParameters:
    drawn = MotorUnitParameters.from_unit_interval(torch.rand(n_units, 8, generator=torch.Generator().manual_seed(0)))
    values = drawn.as_dict()
    values["depth_mm"] = torch.linspace(0.5, 12.0, n_units)
    values["ml_mm"] = (torch.rand(n_units, generator=torch.Generator().manual_seed(1)) - 0.5) * circumference_mm
    values["territory_radius_mm"] = torch.full((n_units,), 2.0)
    return MotorUnitParameters(**{k: v.to(device) for k, v in values.items()})


def _best_of(fn: Callable[[], object], n: int, device: torch.device) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return min(times)


def _measure(
    model: CylindricalForwardModel | AnalyticForwardModel, pool: MotorUnitParameters, batch: MotorUnitParameters,
    anatomy: AnatomyParameters, grid: ElectrodeGrid, device: torch.device,
) -> tuple[float, float, float]:
    """(first call, best forward of the pool, best forward + backward of the batch), seconds."""
    with torch.no_grad():
        t0 = time.perf_counter()
        model.muaps(pool, anatomy, grid, 2048.0)
        _sync(device)
        first = time.perf_counter() - t0
        forward = _best_of(lambda: model.muaps(pool, anatomy, grid, 2048.0), 5, device)

    def step() -> None:
        leaves = {k: v.clone().requires_grad_(True) for k, v in batch.as_dict().items()}
        model.muaps(MotorUnitParameters(**leaves), anatomy, grid, 2048.0).pow(2).sum().backward()

    return first, forward, _best_of(step, 3, device)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--units", type=int, default=100)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    default = AnatomyParameters.default(dtype=torch.float32)
    anatomy = AnatomyParameters(**{k: v.to(device) for k, v in default.as_dict().items()})
    settings = [
        ("13×5, 8 mm, arc of a 15 mm muscle", ElectrodeGrid.full(13, 5, 8.0), 15.0),
        ("10×32, 5 mm, around a 22.5 mm muscle", ElectrodeGrid.full(10, 32, 5.0), 32 * 5.0 / (2 * math.pi) - 3.0),
    ]
    rows = []
    for label, grid, radius in settings:
        cylinder = CylindricalForwardModel(muscle_radius_mm=radius)
        planar = AnalyticForwardModel()
        skin_radius = radius + 3.0
        pool = _pool(args.units, 2 * math.pi * skin_radius, device)
        batch = _pool(64, 2 * math.pi * skin_radius, device)
        for name, model in (("cylinder", cylinder), ("planar", planar)):
            first, forward, backward = _measure(model, pool, batch, anatomy, grid, device)
            rows.append([label, name, f"{first:.3f}", f"{forward:.3f}", f"{1e3 * forward / args.units:.2f}",
                         f"{backward:.3f}"])
            print(rows[-1], flush=True)
    header = ["grid", "model", "first call s", f"{args.units} units forward s (best of 5)", "ms per MUAP",
              "64 units forward + backward s"]
    notes = f"""
All MUAPs of {args.units} units (0.5–12 mm deep, all angles; skin 1 mm, fat 2 mm, default
conductivities), monopolar, 35 ms at 2048 Hz, float32. The planar model renders the same grid
flat (for the wrapped grid that is not the same geometry: a cost comparison only). First call:
the cylinder builds and caches its geometry's tables (α, β over kz and the harmonics).

Machine: {machine()}, {args.threads} torch thread(s), device {device.type}, load average
{os.getloadavg()[0]:.1f} when measured (other work shared the machine).
Command: `.venv/bin/python bench/cylindrical.py --threads {args.threads} --device {device.type} --units {args.units}`.
"""
    print(write_table(f"cylindrical_{device.type}.md", "Cylindrical forward model: speed", header, rows, notes))


if __name__ == "__main__":
    main()
