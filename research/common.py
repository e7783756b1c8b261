"""Helpers shared by the research studies: where their tables go, and the benchmark helpers
they reuse (machine description, the reviewers' scorer)."""

from __future__ import annotations

from bench.common import CACHE, REPO, machine, score
from bench.common import write_table as _write_table

RESULTS = REPO / "research" / "results"
"""Where the studies write their tables."""

# CACHE: simulations and slow intermediate results, shared with the benchmarks under
# bench/.cache/ (ignored by git)
__all__ = ["CACHE", "REPO", "RESULTS", "machine", "score", "write_table"]


def write_table(name: str, title: str, header: list[str], rows: list[list[str]], notes: str) -> str:
    """Write a markdown table to ``research/results/name``; return its text."""
    return _write_table(name, title, header, rows, notes, results=RESULTS)
