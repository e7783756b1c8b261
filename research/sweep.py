"""Accuracy and cost of decomposer settings across every dataset, for tuning without fooling
ourselves: a change must help (or not hurt) all of them, never one file.

usage: PYTHONPATH=. .venv/bin/python research/sweep.py '{}' '{"tolerance": 1e-3}' ... [--only NAME-SUBSTRING]

Cost is counted in passes over the whitened signal (the fixed-point iterations: deterministic,
unlike wall time on a shared machine); wall time is printed too. Prints one line per
(config, dataset) and a total per config.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bmiss_engine.separation.fastica as fastica
from bench.accuracy import datasets
from bmiss_engine import Decomposer, DecomposerConfig
from bmiss_engine.io import open_recording, write_result
from research.common import score

_passes = [0]
_step = fastica.contrast_step


def _counted(*args):  # type: ignore[no-untyped-def]
    _passes[0] += 1
    return _step(*args)


fastica.contrast_step = _counted  # fixed_point looks the name up at call time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("configs", nargs="+", help="JSON objects of DecomposerConfig fields")
    ap.add_argument("--only", default="", help="comma-separated substrings of dataset names")
    args = ap.parse_args()
    only = [s for s in args.only.split(",") if s]
    sets = datasets(only)
    out = Path(tempfile.mkdtemp())
    for text in args.configs:
        cfg = DecomposerConfig.from_dict({"device": "cpu", **json.loads(text)})
        tot_n = tot_passes = 0
        for name, rec_path, truth, _ in sets:
            rec = open_recording(rec_path)
            _passes[0] = 0
            t = time.perf_counter()
            result = Decomposer(cfg).run(rec)
            wall = time.perf_counter() - t
            csv = out / f"{rec_path.stem}.csv"
            write_result(result, csv)
            n, total, med, n_est = score(truth, csv)
            tot_n += n
            tot_passes += _passes[0]
            print(f"{text:40s} {name:34s} {n:2d}/{total:2d} RoA {med:.3f} rep {n_est:3d}"
                  f" passes {_passes[0]:4d} wall {wall:6.1f}", flush=True)
        print(f"{text:40s} TOTAL identified {tot_n} passes {tot_passes}", flush=True)


if __name__ == "__main__":
    main()
