"""Correctness of the cylindrical volume conductor: its planar limit, and how well it (and the
planar model) reproduces MyoGen's MUAPs with θ fitted per unit.

usage:
    PYTHONPATH=. .venv/bin/python research/cylindrical_checks.py planar
    PYTHONPATH=. .venv/bin/python research/cylindrical_checks.py myogen --dataset A --threads 2
    PYTHONPATH=. .venv/bin/python research/cylindrical_checks.py myogen --dataset D --units 0 4 8 ...

``planar``: MUAPs of four units (1–10 mm deep) on a 13×5 grid from the cylinder with muscle
radius R (skin 1 mm, fat 2 mm, textbook conductivities) against the planar model with the same
layers, as R grows: the normalised RMS difference ‖cyl − planar‖/‖planar‖ per unit, and the
time per MUAP. Writes research/results/cylindrical_planar_limit_<device>.md.

``myogen``: fits θ (depth, angle/medio-lateral position, innervation zone, conduction velocity,
both semi-lengths, territory radius; the fibre count as a closed-form gain) to each MUAP of
/work/shared/data/myogen_<A|D>_muaps.npz with :func:`bmiss_engine.inversion.fit_to_waveform`
(a Latin-hypercube probe, then Adam from the best starts, best integer lag within ±max_lag),
for the cylinder in MyoGen's geometry (muscle radius 15 mm, fat 2 mm, skin 1 mm, electrodes
of 1.5 mm radius) and for the planar model with the same layers; reports the normalised
residual |M − M̂|²/|M|² per unit and the θ found. Writes
research/results/cylindrical_myogen_<A|D>[tag]_<device>.md.

MyoGen's settings, read from its source (MyoGen 0.12-era, ``SurfaceEMG``/``Muscle`` defaults,
not its code): conduction velocity 4.2 m/s for every fibre; one innervation zone per unit
(uniform within ±5.5 mm); fibre lengths 110 ± 5 mm uniform, centred on z = 0 (tendon ends
spread over 5 mm); conductivities σρ 0.09, σz 0.4, fat 0.047, skin 4.88e-4 S/m; grid rows
along z, 8 mm apart, centred at z = 0; electrode radius 1.5 mm. Where the MUAPs show something
else, the fit says so (see the notes of the tables).
"""

from __future__ import annotations

import argparse
import math
import os
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from scipy.stats import qmc

from bmiss_engine.forward import AnalyticForwardModel, AnatomyParameters, MotorUnitParameters, SpectralGrid
from bmiss_engine.forward.cylindrical import AxialGrid, CylindricalForwardModel
from bmiss_engine.forward.parameters import Bound
from bmiss_engine.inversion.waveform import fit_to_waveform
from bmiss_engine.recording import ElectrodeGrid
from research.common import RESULTS, machine, write_table

DATA = "/work/shared/data"
GRID = ElectrodeGrid.full(13, 5, 8.0)
FS = 2048.0


# -- planar limit ------------------------------------------------------------------------------
def planar_limit(device: torch.device) -> None:
    anatomy = AnatomyParameters.default(dtype=torch.float32)
    anatomy = AnatomyParameters(**{k: v.to(device) for k, v in anatomy.as_dict().items()})
    values = {
        "depth_mm": [1.0, 3.0, 6.0, 10.0], "ml_mm": [0.0, 4.0, -6.0, 10.0], "iz_mm": [0.0, 10.0, -8.0, 4.0],
        "cv_m_s": [4.0, 4.5, 3.5, 5.0], "semi_length_neg_mm": [60.0, 50.0, 70.0, 60.0],
        "semi_length_pos_mm": [60.0, 70.0, 55.0, 65.0], "territory_radius_mm": [1.0, 2.0, 3.0, 4.0],
        "n_fibres": [200.0, 200.0, 200.0, 200.0],
    }
    units = MotorUnitParameters(**{k: torch.tensor(v, device=device) for k, v in values.items()})
    with torch.no_grad():
        planar = AnalyticForwardModel().muaps(units, anatomy, GRID, FS)
    rows = []
    for radius in (15.0, 25.0, 50.0, 100.0, 200.0, 500.0, 1000.0):
        model = CylindricalForwardModel(muscle_radius_mm=radius)
        with torch.no_grad():
            t0 = time.perf_counter()
            cylinder = model.muaps(units, anatomy, GRID, FS)  # first call: builds the geometry's tables
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            cylinder = model.muaps(units, anatomy, GRID, FS)
            warm = time.perf_counter() - t0
        diff = ((cylinder - planar).pow(2).sum(dim=(1, 2)) / planar.pow(2).sum(dim=(1, 2))).sqrt().cpu().numpy()
        ratio = (cylinder.amax(dim=(1, 2)) - cylinder.amin(dim=(1, 2))) / (planar.amax(dim=(1, 2)) - planar.amin(dim=(1, 2)))
        geometry = model.geometry(anatomy)
        rows.append([f"{radius:g}", *[f"{d:.4f}" for d in diff], *[f"{r:.3f}" for r in ratio.cpu().numpy()],
                     f"{model.n_harmonics(geometry)}", f"{model.tables(geometry).kz_rad_mm.size}",
                     f"{first:.2f}", f"{1e3 * warm / 4:.1f}"])
        print(rows[-1], flush=True)
    header = ["muscle radius mm", *[f"nRMS diff, {d:g} mm deep" for d in values["depth_mm"]],
              *[f"p-p ratio {d:g} mm" for d in values["depth_mm"]], "harmonics", "kz nodes",
              "first call s (tables)", "ms per MUAP (warm)"]
    notes = f"""
Normalised RMS difference ‖cylinder − planar‖/‖planar‖ of the monopolar MUAPs (13×5 grid, 8 mm,
2048 Hz, 35 ms) of four units (depth below the muscle, medio-lateral position 0/4/−6/10 mm,
IZ 0/10/−8/4 mm, territory radius 1–4 mm), skin 1 mm and fat 2 mm with the planar model's
default conductivities, as the muscle radius grows; p-p ratio: cylinder over planar
peak-to-peak. The difference falls as 1/R (arc lengths on the skin and at the fibres differ by
depth/R; the limb's finite cross-section confines the current): 10× the radius, ~10× closer.
The planar model is exact for a half-space; at forearm radii (15–25 mm) the two differ by
O(1), which is the point of the cylinder. ms per MUAP: one forward pass of the 4 units / 4
(float32), after the geometry's tables are cached.

Machine: {machine()}, {torch.get_num_threads()} torch thread(s), device {device.type},
load average {os.getloadavg()[0]:.1f} when measured.
Command: `PYTHONPATH=. .venv/bin/python research/cylindrical_checks.py planar`.
"""
    print(write_table(f"cylindrical_planar_limit_{device.type}.md", "Cylinder → planar model as the radius grows",
                      header, rows, notes))


# -- MyoGen fit --------------------------------------------------------------------------------
# the searched fields and their ranges in this study (the fibre count is the closed-form gain)
FIELDS = ("depth_mm", "ml_mm", "iz_mm", "cv_m_s", "semi_length_neg_mm", "semi_length_pos_mm", "territory_radius_mm")
MUSCLE_RADIUS_MM = 15.0
SKIN_RADIUS_MM = 18.0


def _bounds(model_name: str) -> dict[str, Bound]:
    depth = Bound(0.0, MUSCLE_RADIUS_MM - 0.5) if model_name == "cylinder" else Bound(0.0, 30.0)
    across = math.pi * SKIN_RADIUS_MM if model_name == "cylinder" else 40.0  # the whole circumference
    return {
        "depth_mm": depth,
        "ml_mm": Bound(-across, across),
        "iz_mm": Bound(-20.0, 20.0),
        "cv_m_s": Bound(2.5, 6.0),
        "semi_length_neg_mm": Bound(30.0, 80.0),
        "semi_length_pos_mm": Bound(30.0, 80.0),
        "territory_radius_mm": Bound(0.5, 8.0),
    }


def myogen_anatomy(conductivities: str) -> AnatomyParameters:
    if conductivities == "myogen":
        return AnatomyParameters.default(skin_mm=1.0, fat_mm=2.0, sigma_muscle_along_s_m=0.4,
                                         sigma_muscle_across_s_m=0.09, sigma_fat_s_m=0.047, sigma_skin_s_m=4.88e-4,
                                         dtype=torch.float32)
    return AnatomyParameters.default(skin_mm=1.0, fat_mm=2.0, dtype=torch.float32)


def electrode_angles(layout: str) -> NDArray[np.float64]:
    """Angles (65,) of MyoGen's columns: an arc of 8 mm on the skin ('skin'), on the muscle
    ('muscle'), or MyoGen's default bending radius (float32 eps: 8 mm/eps rad, 'unbent')."""
    column = np.arange(65) % 5 - 2
    if layout == "skin":
        return column * 8.0 / SKIN_RADIUS_MM
    if layout == "muscle":
        return column * 8.0 / MUSCLE_RADIUS_MM
    if layout == "unbent":
        step = float(np.float32(8.0) / np.finfo(np.float32).eps)
        return np.asarray([math.remainder(c * step, 2 * math.pi) for c in column])
    raise ValueError(layout)


@dataclass(frozen=True)
class PlacedGrid(ElectrodeGrid):
    """A 13×5 grid whose columns sit at given across positions (mm) on the plane: MyoGen's
    columns unrolled from the skin (angle·d) for the planar model."""

    across_positions_mm: tuple[float, ...] = ()

    def positions_mm(self) -> NDArray[np.float64]:
        pos = super().positions_mm()
        pos[:, 1] = np.asarray(self.across_positions_mm)[self.channel_rc[:, 1]]
        return pos


@dataclass(frozen=True)
class FitSetup:
    model_name: str  # "cylinder" or "planar"
    layout: str
    conductivities: str
    pre_samples: int = 48
    n_samples: int = 128
    iz_spread_mm: float = 0.0
    end_spread_mm: float = 5.0


def make_renderer(setup: FitSetup, device: torch.device):  # type: ignore[no-untyped-def]
    anatomy = myogen_anatomy(setup.conductivities)
    anatomy = AnatomyParameters(**{k: v.to(device) for k, v in anatomy.as_dict().items()})
    bounds = _bounds(setup.model_name)
    common = {"pre_s": setup.pre_samples / FS, "duration_s": setup.n_samples / FS, "iz_spread_mm": setup.iz_spread_mm,
              "end_spread_mm": setup.end_spread_mm, "electrode_radius_mm": 1.5}
    z = (np.arange(65) // 5 - 6) * 8.0
    if setup.model_name == "cylinder":
        cylinder = CylindricalForwardModel(muscle_radius_mm=MUSCLE_RADIUS_MM, axial=AxialGrid(tolerance=1e-3), **common)
        angles = electrode_angles(setup.layout)
    else:
        planar = AnalyticForwardModel(spectral=SpectralGrid(tolerance=1e-3), **common)
        # channel c: row c // 5, column c % 5, as MyoGen's; columns 8 mm apart ('flat') or at
        # the arc lengths on the skin of a cylinder layout
        full = ElectrodeGrid.full(13, 5, 8.0)
        across = (np.arange(5) - 2) * 8.0 if setup.layout == "flat" else electrode_angles(setup.layout)[:5] * SKIN_RADIUS_MM
        grid = PlacedGrid(13, 5, 8.0, full.channel_rc, across_positions_mm=tuple(float(a) for a in across))

    def render(theta: torch.Tensor) -> torch.Tensor:
        values = {name: bounds[name].from_unit(theta[:, i].float()) for i, name in enumerate(FIELDS)}
        values["n_fibres"] = torch.full_like(values["depth_mm"], 100.0)
        units = MotorUnitParameters(**values)
        if setup.model_name == "cylinder":
            out = cylinder.muaps_at(units, anatomy, angles, z, FS)
        else:
            out = planar.muaps(units, anatomy, grid, FS)
        return out * 1e3  # mV, MyoGen's scale order

    return render, bounds


def two_copy_share(muaps: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per MUAP (U, 65, 128): the smaller of its energy shares before sample 60 and after sample
    72. MyoGen's MUAPs start either near sample 36 (ending by ~70) or near sample 61; a MUAP with
    energy in both windows holds two copies of the unit's wave ~25 samples (12 ms) apart, on
    different channels, which no single discharge of a unit produces."""
    energy = (muaps**2).sum(axis=1)  # (U, 128)
    total = energy.sum(axis=1)
    return np.asarray(np.minimum(energy[:, :60].sum(axis=1), energy[:, 72:].sum(axis=1)) / total, dtype=np.float64)


def myogen_fit(args: argparse.Namespace, device: torch.device) -> None:
    data = np.load(f"{DATA}/myogen_{args.dataset}_muaps.npz")
    muaps = np.transpose(data["muaps"], (0, 2, 1))  # (U, 65, 128)
    chosen = list(range(muaps.shape[0])) if not args.units else args.units
    target = torch.as_tensor(muaps[chosen], dtype=torch.float32, device=device)
    max_lag = args.max_lag
    sta = torch.nn.functional.pad(target, (max_lag, max_lag))
    sampler = qmc.LatinHypercube(d=len(FIELDS), seed=args.seed)
    probe = torch.as_tensor(sampler.random(args.probe), dtype=torch.float32, device=device)
    setups = [FitSetup("cylinder", layout, args.conductivities) for layout in args.layouts]
    setups += [FitSetup("planar", layout, args.conductivities) for layout in args.planar_layouts]
    results: dict[FitSetup, Any] = {}
    for setup in setups:
        setup = replace(setup, pre_samples=args.pre_samples)
        render, bounds = make_renderer(setup, device)
        t0 = time.perf_counter()
        fit = fit_to_waveform(render, None, sta, max_lag, n_steps=args.steps, n_starts=args.starts, probe=probe,
                              probe_batch=args.probe_batch)
        elapsed = time.perf_counter() - t0
        theta = {name: bounds[name].from_unit(fit.theta[:, i]).cpu().numpy() for i, name in enumerate(FIELDS)}
        results[setup] = (fit, theta, elapsed)
        print(setup, f"{elapsed:.0f} s", "median residual", float(np.median(fit.relative_residual)),
              np.round(fit.relative_residual, 3), flush=True)
    _write_myogen(args, chosen, results, muaps[chosen], device)


def _write_myogen(args: argparse.Namespace, chosen: list[int], results: dict[FitSetup, Any], muaps: NDArray[np.float64],
                  device: torch.device) -> None:
    setups = list(results)
    header = ["unit", "p-p mV", "two-copy share"] + [f"residual {s.model_name} {s.layout}" for s in setups]
    share = two_copy_share(muaps)
    def median(s: FitSetup) -> float:
        return float(np.median(results[s][0].relative_residual))

    best = min((s for s in setups if s.model_name == "cylinder"), key=median)
    header += ["cyl depth mm", "cyl angle °", "cyl IZ mm", "cyl CV m/s", "cyl L− mm", "cyl L+ mm", "cyl R mm", "cyl lag",
               "planar depth mm", "planar ml mm", "planar CV m/s"]
    planar = min((s for s in setups if s.model_name == "planar"), key=median, default=None)
    rows = []
    for j, unit in enumerate(chosen):
        row = [str(unit), f"{np.ptp(muaps[j]):.2f}", f"{share[j]:.2f}"]
        row += [f"{results[s][0].relative_residual[j]:.3f}" for s in setups]
        th = results[best][1]
        row += [f"{th['depth_mm'][j]:.1f}", f"{math.degrees(th['ml_mm'][j] / SKIN_RADIUS_MM):.0f}", f"{th['iz_mm'][j]:.1f}",
                f"{th['cv_m_s'][j]:.2f}", f"{th['semi_length_neg_mm'][j]:.0f}", f"{th['semi_length_pos_mm'][j]:.0f}",
                f"{th['territory_radius_mm'][j]:.1f}", f"{results[best][0].lag[j]}"]
        if planar is not None:
            tp = results[planar][1]
            row += [f"{tp['depth_mm'][j]:.1f}", f"{tp['ml_mm'][j]:.1f}", f"{tp['cv_m_s'][j]:.2f}"]
        else:
            row += ["", "", ""]
        rows.append(row)
    single = share < 0.01
    rows.append(["median", "", ""] + [f"{np.median(results[s][0].relative_residual):.3f}" for s in setups] + [""] * 11)
    rows.append([f"median, {int(single.sum())} one-copy units", "", ""]
                + [f"{np.median(results[s][0].relative_residual[single]):.3f}" for s in setups] + [""] * 11)
    rows.append(["fit s", "", ""] + [f"{results[s][2]:.0f}" for s in setups] + [""] * 11)
    notes = f"""
Normalised residual |M − g·M̂(θ)|²/|M|² of each MyoGen MUAP (65 monopolar channels, 128 samples)
after fitting θ (7 fields; the gain g in closed form; the best integer lag within ±{args.max_lag}
samples), read at {FS:g} Hz. Columns "residual cylinder <layout>": the cylinder (muscle radius 15
mm, fat 2 mm, skin 1 mm, conductivities '{args.conductivities}') with MyoGen's columns at
angles from an 8 mm arc on the skin ('skin'), on the muscle ('muscle'), or at 8 mm/eps(float32)
rad ('unbent': MyoGen's default bending radius); "residual planar <layout>": the planar model,
same layers, columns 8 mm apart ('flat') or at the unrolled arc lengths of a cylinder layout.
θ columns: the best cylinder layout ({best.layout}) and the best planar one
({planar.layout if planar else '-'}). Fit: Latin-hypercube probe of {args.probe} θ, Adam from the best {args.starts} starts,
{args.steps} steps (early stop), float32, `bmiss_engine.inversion.waveform.fit_to_waveform`.
MUAP window: the model's discharge at sample {args.pre_samples}. "two-copy share": the smaller
of the MUAP's energy shares before sample 60 and after sample 72 (MyoGen's MUAPs start near
sample 36 or near 61; one with energy in both windows holds two copies of the unit's wave
~12 ms apart on different channels, which no single discharge produces: a floor under any
model's residual); "median, one-copy units": the units with a share < 0.01.

Machine: {machine()}, {torch.get_num_threads()} torch thread(s), device {device.type},
load average {os.getloadavg()[0]:.1f} at the end.
Command: `PYTHONPATH=. .venv/bin/python research/cylindrical_checks.py myogen --dataset {args.dataset}
{'--units ' + ' '.join(map(str, args.units)) if args.units else ''} --layouts {' '.join(args.layouts)}
--conductivities {args.conductivities} --steps {args.steps} --starts {args.starts} --probe {args.probe}
--planar-layouts {' '.join(args.planar_layouts)} --threads {args.threads}`.
"""
    name = f"cylindrical_myogen_{args.dataset}{args.tag}_{device.type}.md"
    print(write_table(name, f"MyoGen {args.dataset} MUAPs: θ fitted per unit, cylinder against planar",
                      header, rows, notes + args.note))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("part", choices=["planar", "myogen"])
    ap.add_argument("--dataset", default="A", choices=["A", "D"])
    ap.add_argument("--units", type=int, nargs="*", default=[])
    ap.add_argument("--layouts", nargs="+", default=["skin", "muscle", "unbent"])
    ap.add_argument("--conductivities", default="myogen", choices=["myogen", "default"])
    ap.add_argument("--planar-layouts", nargs="*", default=["flat", "unbent"])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--starts", type=int, default=4)
    ap.add_argument("--probe", type=int, default=512)
    ap.add_argument("--probe-batch", type=int, default=64)
    ap.add_argument("--max-lag", type=int, default=20)
    ap.add_argument("--pre-samples", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tag", default="")
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.part == "planar":
        planar_limit(device)
    else:
        myogen_fit(args, device)


if __name__ == "__main__":
    main()
