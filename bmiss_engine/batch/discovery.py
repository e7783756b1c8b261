"""Find the recordings of a study: a folder (a BIDS dataset by its layout, any other folder
walked whole), a glob pattern, or files named one by one.

What is found is what ``open_recording`` may read; results, BIDS sidecars, simulation truth
and tables are left out by name, and by a look inside where the name cannot tell (an ``.npz``
without EMG, a CSV of discharges, a JSON that is no openhdemg file). A file named explicitly
is always taken: reading it will say what is wrong with it.
"""

from __future__ import annotations

import glob
import logging
import os
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bmiss_engine.errors import BmissError
from bmiss_engine.io.bids_emg import bids_emg_files, is_bids_dataset

log = logging.getLogger(__name__)

RECORDING_SUFFIXES = frozenset(
    {".otb+", ".otb", ".otb4", ".mat", ".json", ".edf", ".bdf", ".poly5", ".rhd", ".npz", ".npy", ".csv"}
)
# files a decomposition or a BIDS dataset puts beside recordings (ours: see batch/outputs.py)
_NOT_RECORDINGS = (
    "_result.npz", "_truth.npz", "_discharges.csv", "_summary.csv", "_events.tsv", "_events.json",
    "_openhdemg.json", "_channels.tsv", "_electrodes.tsv", "_coordsystem.json", "_scans.json",
    "batch_summary.csv", "batch_summary.md",
)
_BIDS_METADATA = frozenset({"dataset_description.json", "participants.json", "participants.tsv"})
_GLOB_MAGIC = frozenset("*?[")


@dataclass(frozen=True)
class StudyEntry:
    """One recording of a study: ``path`` (absolute, links not resolved) and ``name``, its path relative to the
    study's root in POSIX form (``sub-01/emg/sub-01_task-grip_emg.bdf``), which the outputs mirror."""

    path: Path
    name: str


def discover_recordings(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], exclude: Iterable[Path] = ()
) -> list[StudyEntry]:
    """The recordings named by ``inputs`` (folders, glob patterns or files), in a stable order.

    Folders under ``exclude`` (the batch's output folder) are not walked. Raises BmissError for
    an input that names nothing, or for two recordings that would share a name.
    """
    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    excluded = [Path(e).resolve() for e in exclude]
    entries: list[StudyEntry] = []
    for item in items:
        text = os.fspath(item)
        if any(ch in _GLOB_MAGIC for ch in text):
            root = _static_prefix(text)
            paths = [Path(p) for p in sorted(glob.glob(text, recursive=True)) if Path(p).is_file()]
            found = [p for p in paths if is_candidate(p) and not _under(p, excluded)]
        elif Path(text).is_dir():
            root = Path(text)
            found = _walk(root, excluded)
        elif Path(text).is_file():
            root, found = Path(text).parent, [Path(text)]
        else:
            raise BmissError(f"{text}: no such file, folder or matching files")
        if not found and not Path(text).is_dir():
            raise BmissError(f"{text}: matches no recording")
        # names from the paths as found, not resolved: a linked file keeps its place in the study
        base = Path(os.path.abspath(root))
        entries += [StudyEntry(Path(os.path.abspath(p)), Path(os.path.abspath(p)).relative_to(base).as_posix())
                    for p in found]
    return _unique(entries)


def is_candidate(path: Path) -> bool:
    """Whether ``path`` may be a recording (see the module's notes); cheap: reads at most a
    zip directory or the first few KiB."""
    reason = not_a_recording(path)
    if reason:
        log.debug("skipping %s: %s", path, reason)
    return reason is None


def not_a_recording(path: Path) -> str | None:
    """Why ``path`` is not taken for a recording, or None when it may be one."""
    name = path.name.lower()
    if name.startswith("."):
        return "hidden or temporary file"
    if path.suffix.lower() not in RECORDING_SUFFIXES:
        return "not a recording format"
    if name.endswith(_NOT_RECORDINGS) or name in _BIDS_METADATA:
        return "a result, sidecar or metadata file"
    if path.suffix.lower() == ".json" and any(path.with_suffix(s).is_file() for s in (".edf", ".bdf")):
        return "the JSON sidecar of a BIDS EMG file"
    if path.suffix.lower() == ".npz":
        return _npz_reason(path)
    if path.suffix.lower() == ".csv":
        return "a table of discharges" if "unit_id" in _head(path, 512).split(b"\n", 1)[0].decode("latin-1") else None
    if path.suffix.lower() == ".json":
        head = _head(path, 1 << 16)
        if not head.startswith(b"\x1f\x8b") and b"RAW_SIGNAL" not in head:
            return "a JSON file that is no openhdemg file"
    return None


def _npz_reason(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return None  # damaged: let reading it name the problem
    return None if "emg.npy" in names else "an .npz without EMG (a result or truth file)"


def _head(path: Path, n: int) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(n)
    except OSError:
        return b""


def _walk(root: Path, excluded: list[Path]) -> list[Path]:
    if is_bids_dataset(root):
        return [p for p in bids_emg_files(root) if not _under(p, excluded)]
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not _under(here / d, excluded))
        if is_bids_dataset(here) and here != root:
            found += bids_emg_files(here)
            dirs[:] = []
            continue
        found += [here / f for f in sorted(files) if is_candidate(here / f)]
    return found


def _under(path: Path, folders: list[Path]) -> bool:
    resolved = path.resolve()
    return any(resolved == f or f in resolved.parents for f in folders)


def _static_prefix(pattern: str) -> Path:
    """The folder part of a glob pattern before its first wildcard."""
    parts = Path(pattern).parts
    static: list[str] = []
    for part in parts:
        if any(ch in _GLOB_MAGIC for ch in part):
            break
        static.append(part)
    return Path(*static) if static else Path(".")


def _unique(entries: list[StudyEntry]) -> list[StudyEntry]:
    seen: dict[Path, StudyEntry] = {}
    names: dict[str, Path] = {}
    for e in entries:
        key = e.path.resolve()
        if key in seen:
            continue
        if e.name in names:
            raise BmissError(f"two recordings share the name {e.name!r}: {names[e.name]} and {e.path}")
        seen[key] = e
        names[e.name] = e.path
    return list(seen.values())
