"""The study summary: one row per recording (status, units, mean SIL, wall time, device,
worker, error), as a value and as CSV and Markdown tables."""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bmiss_engine.io.atomic import write_text_atomic

Status = Literal["ok", "failed", "skipped", "cancelled"]
SUMMARY_CSV = "batch_summary.csv"
SUMMARY_MD = "batch_summary.md"
COLUMNS = ("recording", "status", "units", "mean_sil", "wall_time_s", "device", "worker", "error")


@dataclass(frozen=True)
class RecordingOutcome:
    """What became of one recording.

    status: "ok" (decomposed now), "skipped" (a valid result was there already; the numbers
    are that result's), "failed" (``error`` says why) or "cancelled" (the run stopped first).
    wall_time_s: the decomposition's own time (None where there is none); result: the
    engine's result file (None unless ok or skipped).
    """

    recording: str
    status: Status
    units: int | None = None
    mean_sil: float | None = None
    wall_time_s: float | None = None
    device: str = ""
    worker: str = ""
    error: str = ""
    result: Path | None = None

    def row(self) -> dict[str, str]:
        return {
            "recording": self.recording, "status": self.status,
            "units": "" if self.units is None else str(self.units),
            "mean_sil": _number(self.mean_sil, 3), "wall_time_s": _number(self.wall_time_s, 2),
            "device": self.device, "worker": self.worker, "error": " ".join(self.error.split()),
        }


def _number(value: float | None, digits: int) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.{digits}f}"


@dataclass(frozen=True)
class BatchSummary:
    """Every recording's outcome, in study order, and the run's own wall time."""

    outcomes: tuple[RecordingOutcome, ...]
    out_dir: Path
    wall_time_s: float = 0.0

    def count(self, status: Status) -> int:
        return Counter(o.status for o in self.outcomes)[status]

    @property
    def n_failed(self) -> int:
        return self.count("failed")

    @property
    def n_done(self) -> int:
        """Recordings that need no more work this run: ok, skipped or failed (not cancelled)."""
        return len(self.outcomes) - self.count("cancelled")

    def outcome(self, recording: str) -> RecordingOutcome:
        for o in self.outcomes:
            if o.recording == recording:
                return o
        raise KeyError(recording)

    def totals(self) -> str:
        """``"4 recordings: 2 ok, 1 skipped, 1 failed"``."""
        parts = [f"{self.count(s)} {s}" for s in ("ok", "skipped", "failed", "cancelled") if self.count(s)]
        return f"{len(self.outcomes)} recordings: {', '.join(parts) or 'none'} in {self.wall_time_s:.1f} s"

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for o in self.outcomes:
            writer.writerow(o.row())
        return buffer.getvalue()

    def to_markdown(self) -> str:
        lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        for o in self.outcomes:
            cells = (o.row()[c].replace("|", "\\|") for c in COLUMNS)
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def write(self) -> tuple[Path, Path]:
        """Write ``batch_summary.csv`` and ``batch_summary.md`` into the output folder, atomically."""
        csv_path, md_path = self.out_dir / SUMMARY_CSV, self.out_dir / SUMMARY_MD
        write_text_atomic(csv_path, self.to_csv())
        write_text_atomic(md_path, f"# Batch summary\n\n{self.totals()}\n\n{self.to_markdown()}")
        return csv_path, md_path
