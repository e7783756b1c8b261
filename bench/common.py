"""Helpers shared by the benchmark scripts: run our decomposer in a measured subprocess, score
CSVs with the reviewers' scorer, write markdown tables."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "bench" / ".cache"
RESULTS = REPO / "bench" / "results"

_CHILD = r"""
import json, resource, sys, time
import torch
from bmiss_engine import Decomposer, DecomposerConfig
from bmiss_engine.io import open_recording, write_result
rec = open_recording(sys.argv[1])
cfg = DecomposerConfig.from_dict(json.loads(sys.argv[3]))
t = time.perf_counter()
result = Decomposer(cfg).run(rec)
wall = time.perf_counter() - t
write_result(result, sys.argv[2])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
gpu = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0.0
print(json.dumps({"wall_s": wall, "peak_rss_mb": peak, "peak_gpu_mb": gpu, "n_units": result.n_units,
                  "device": result.provenance["device"], "iterations": result.provenance["iterations"]}))
"""


def run_ours(npz: Path, out_csv: Path, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Decompose ``npz`` in a fresh process (so peak memory is this run's), write ``out_csv``."""
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(npz), str(out_csv), json.dumps(config or {})],
                          capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(f"bmiss failed on {npz}: {proc.stderr.strip().splitlines()[-1:]}")
    info: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    info["process_s"] = time.perf_counter() - t
    return info


def scorer() -> ModuleType:
    """The reviewers' ``shared/tools/score_csv.py``."""
    path = REPO.parent / "shared" / "tools" / "score_csv.py"
    spec = importlib.util.spec_from_file_location("score_csv", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def score(truth: Path, csv_path: Path, fs: float = 2048.0) -> tuple[int, int, float, int]:
    """(identified, total, median RoA of identified, units reported) as score_csv prints them."""
    n, total, med, n_est, _ = scorer().score(truth, csv_path, fs)
    return n, total, med, n_est


def write_table(name: str, title: str, header: list[str], rows: list[list[str]], notes: str,
                results: Path = RESULTS) -> str:
    """Write a markdown table (title, header, rows, notes) to ``results/name``; return its text."""
    lines = [f"# {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    text = "\n".join(lines) + "\n\n" + notes.strip() + "\n"
    results.mkdir(parents=True, exist_ok=True)
    (results / name).write_text(text)
    return text


def machine() -> str:
    import os
    import platform

    import torch

    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores{gpu}, torch {torch.__version__}"
