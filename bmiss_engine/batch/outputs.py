"""Where a batch writes each recording's files: the input's path relative to the study,
mirrored under the output folder, with one suffix per format.

``sub-01/emg/sub-01_task-grip_emg.bdf`` → ``OUT/sub-01/emg/sub-01_task-grip_emg_result.npz``
(always: the engine's own result, which holds the provenance a rerun checks), plus
``_discharges.csv``, ``_summary.csv``, ``.mat``, ``_events.tsv``, ``_openhdemg.json`` as asked.
The events of a BIDS ``*_emg`` recording are named as BIDS names them, its entities and the
``events`` suffix in place of ``emg`` (``sub-01_task-grip_events.tsv``).
Two inputs that differ only by extension keep it in their names (``rec_npz_result.npz``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bmiss_engine.errors import BmissError
from bmiss_engine.io.atomic import write_text_atomic
from bmiss_engine.io.bids_emg import BIDS_VERSION

RESULT_SUFFIX = "_result.npz"
EXPORT_SUFFIXES = {
    "csv": "_discharges.csv",
    "summary": "_summary.csv",
    "mat": ".mat",
    "tsv": "_events.tsv",
    "json": "_openhdemg.json",
}
_ALIASES = {"events": "tsv", "bids": "tsv", "openhdemg": "json", "npz": "", "result": ""}
FORMAT_NAMES = (*EXPORT_SUFFIXES, *_ALIASES)


def parse_formats(formats: str | Iterable[str]) -> tuple[str, ...]:
    """Canonical export format names from ``"csv,mat"`` or a list; "npz" (the result itself,
    always written) is dropped. Raises BmissError naming an unknown format."""
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    out: list[str] = []
    for item in items:
        key = item.strip().lower().lstrip(".")
        if not key:
            continue
        key = _ALIASES.get(key, key)
        if key and key not in EXPORT_SUFFIXES:
            raise BmissError(f"unknown export format {item!r}; use {', '.join(FORMAT_NAMES)}")
        if key and key not in out:
            out.append(key)
    return tuple(out)


@dataclass(frozen=True)
class OutputPaths:
    """The files of one recording: ``result`` (engine ``.npz``) and ``exports`` (format → path)."""

    result: Path
    exports: tuple[tuple[str, Path], ...]

    @property
    def all(self) -> tuple[Path, ...]:
        return (self.result, *(p for _, p in self.exports))


def output_paths(out_dir: Path, names: Sequence[str], formats: Sequence[str]) -> list[OutputPaths]:
    """The output files for recordings named ``names`` (study-relative POSIX paths), in order."""
    bases = [str(PurePosixPath(n).with_suffix("")) for n in names]
    clash = Counter(bases)
    paths = []
    for name, base in zip(names, bases, strict=True):
        if clash[base] > 1:
            base = base + "_" + PurePosixPath(name).suffix.lstrip(".").lower()
        stem = out_dir / Path(*PurePosixPath(base).parts)
        paths.append(OutputPaths(
            stem.with_name(stem.name + RESULT_SUFFIX),
            tuple((f, stem.with_name(_export_name(stem.name, f))) for f in formats),
        ))
    return paths


def _export_name(stem: str, fmt: str) -> str:
    if fmt == "tsv" and stem.endswith("_emg") and stem.startswith("sub-"):  # a BIDS EMG recording
        return stem[: -len("_emg")] + EXPORT_SUFFIXES[fmt]
    return stem + EXPORT_SUFFIXES[fmt]


# what a batch writes besides BIDS files, for a BIDS validator to pass over
_NOT_BIDS = ("*_result.npz", "*_discharges.csv", "*_summary.csv", "*.mat", "*_openhdemg.json", "batch_summary.*")


def write_derivative_description(out_dir: Path, version: str) -> bool:
    """Make ``out_dir`` a BIDS derivative dataset of the study it decomposed: its
    ``dataset_description.json`` (``DatasetType`` "derivative", ``GeneratedBy`` BMISS
    ``version``) and a ``.bidsignore`` naming the files that are not BIDS. Files already there
    are kept (a user's own description wins). True when the description was written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    description = out_dir / "dataset_description.json"
    ignore = out_dir / ".bidsignore"
    if not ignore.exists():
        write_text_atomic(ignore, "\n".join(_NOT_BIDS) + "\n")
    if description.exists():
        return False
    write_text_atomic(description, json.dumps({
        "Name": "BMISS motor unit decomposition",
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "BMISS", "Version": version,
                         "Description": "Motor unit discharges decomposed from the raw dataset's HD-sEMG"}],
    }, indent=2) + "\n")
    return True
