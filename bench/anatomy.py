"""Speed of the MRI anatomy path on a 256×256×128 limb volume (0.5 × 0.5 × 1.2 mm voxels).

usage: .venv/bin/python bench/anatomy.py [--repeats 3]

Writes the phantom's T1 image (int16) and label map (uint8) as NIfTI to a temporary folder,
then times, each the best of ``--repeats``: reading the image, reading the label map,
meshing the four tissue surfaces (60 000 faces together), placing a 13×5 grid and measuring
the layers under it. The issue's target is loading and meshing in under 5 s. T1 segmentation
(for when no label map is given) is timed as well, once, with its Dice against the phantom.
Writes bench/results/anatomy_cpu.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bench.common import machine, write_table
from bmiss_engine.anatomy import (
    GridPlacement,
    Tissue,
    Volume,
    dice,
    load_label_map,
    load_volume,
    make_phantom,
    place_grid,
    save_nifti,
    segment_t1,
    tissue_surfaces,
)
from bmiss_engine.recording import ElectrodeGrid

SHAPE = (256, 256, 128)
VOXEL_MM = (0.5, 0.5, 1.2)


def best_of(repeats: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    image, labels = make_phantom(SHAPE, VOXEL_MM, noise=0.05, bias=0.3, seed=0)
    grid = ElectrodeGrid.full(13, 5, 8.0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t1_path = save_nifti(Volume(np.rint(image.data), image.affine), Path(tmp) / "t1.nii.gz", dtype=np.int16)
        labels_path = save_nifti(labels, Path(tmp) / "labels.nii.gz")
        load_s, volume = best_of(args.repeats, lambda: load_volume(t1_path))
        labels_s, label_map = best_of(args.repeats, lambda: load_label_map(labels_path, like=volume))
        mesh_s, surfaces = best_of(args.repeats, lambda: tissue_surfaces(label_map, max_faces=60_000))
        place_s, placed = best_of(args.repeats, lambda: place_grid(label_map, grid, GridPlacement(angle_deg=120.0)))
        t0 = time.perf_counter()
        segmented = segment_t1(volume)
        segment_s = time.perf_counter() - t0
    faces = sum(s.n_faces for s in surfaces.values())
    vertices = sum(s.vertices.shape[0] for s in surfaces.values())
    rows.append(["read T1 image (.nii.gz, int16)", f"{load_s:.2f}", f"{volume.data.nbytes / 1e6:.0f} MB as float32"])
    rows.append(["read label map (.nii.gz, uint8)", f"{labels_s:.2f}", "checked against the image's affine"])
    rows.append(["tissue surfaces (4 meshes)", f"{mesh_s:.2f}", f"{faces} faces, {vertices} vertices"])
    rows.append(["**load + mesh (target < 5 s)**", f"**{load_s + labels_s + mesh_s:.2f}**", ""])
    rows.append(["place a 13×5 grid, layers under it", f"{place_s:.2f}", f"fat {placed.mean_fat_mm:.2f} mm (true 4)"])
    scores = ", ".join(f"{t.name.lower()} {dice(segmented.labels == t, labels.labels == t):.3f}"
                       for t in (Tissue.SKIN, Tissue.FAT, Tissue.MUSCLE, Tissue.BONE))
    rows.append(["segment_t1 (no label map given), once", f"{segment_s:.2f}", f"Dice {scores}"])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    notes = (
        f"Machine: {machine()}, load average {load:.1f} when measured (other jobs share the cores). "
        f"Volume {SHAPE[0]}×{SHAPE[1]}×{SHAPE[2]} at {VOXEL_MM} mm: the phantom with 5 % Rician noise and a ±30 % "
        f"bias field. Best of {args.repeats} runs except segmentation. Command: "
        f"`.venv/bin/python bench/anatomy.py --repeats {args.repeats}`."
    )
    print(write_table("anatomy_cpu.md", "MRI anatomy: load, mesh, place, segment a 256×256×128 volume",
                      ["step", "seconds", "notes"], rows, notes))


if __name__ == "__main__":
    main()
