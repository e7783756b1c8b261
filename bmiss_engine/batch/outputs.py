"""Where a batch writes each recording's files: the input's path relative to the study,
mirrored under the output folder, with one suffix per format.

``sub-01/emg/sub-01_task-grip_emg.bdf`` → ``OUT/sub-01/emg/sub-01_task-grip_emg_result.npz``
(always: the engine's own result, which holds the provenance a rerun checks), plus
``_discharges.csv``, ``_summary.csv``, ``.mat``, ``_events.tsv``, ``_openhdemg.json`` as asked.
Two inputs that differ only by extension keep it in their names (``rec_npz_result.npz``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bmiss_engine.errors import BmissError

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
            tuple((f, stem.with_name(stem.name + EXPORT_SUFFIXES[f])) for f in formats),
        ))
    return paths
