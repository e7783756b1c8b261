"""What makes a batch result valid: a content hash of the input file(s) and of everything
that shapes the decomposition (settings, grid description), kept in the result's provenance.

Provenance gains one entry, ``provenance["batch"]``: ``{"key": sha256 hex, "inputs": {file name:
sha256}, "config_sha256": ..., "recording": study-relative name, "worker": Dask worker name}``.
Results without it (older files, single-file runs) are simply not taken for done; nothing else
in them changes, and readers of older results see no difference.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bmiss_engine.decomposer import DecomposerConfig
from bmiss_engine.io.bids_emg import sidecar_files
from bmiss_engine.io.session import file_fingerprint
from bmiss_engine.results import DecompositionResult

PROVENANCE_KEY = "batch"


@dataclass(frozen=True)
class Fingerprint:
    """The identity of one batch computation: ``key`` changes whenever an input file's content,
    a setting or the grid description does."""

    key: str
    inputs: tuple[tuple[str, str], ...]
    config_sha256: str

    def provenance(self, recording: str, worker: str = "") -> dict[str, Any]:
        return {"key": self.key, "inputs": dict(self.inputs), "config_sha256": self.config_sha256,
                "recording": recording, "worker": worker}


def input_files(path: Path) -> tuple[Path, ...]:
    """The files whose content the reading of ``path`` depends on: the file and, for BIDS
    EMG (``.edf``/``.bdf``), the sidecars beside it."""
    if path.suffix.lower() in (".edf", ".bdf"):
        return (path, *sidecar_files(path))
    return (path,)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def fingerprint(path: Path, config: DecomposerConfig, open_options: dict[str, Any]) -> Fingerprint:
    """Hash ``path`` (and its sidecars), the settings and the options it is opened with.
    File names, not folders, enter the hash: a study moved elsewhere keeps its results."""
    inputs = tuple((p.name, file_fingerprint(p)) for p in input_files(path))
    config_sha = _digest({"config": dataclasses.asdict(config), "open": open_options})
    return Fingerprint(_digest({"inputs": inputs, "config": config_sha}), inputs, config_sha)


def stamped(result: DecompositionResult, fp: Fingerprint, recording: str, worker: str = "") -> DecompositionResult:
    """``result`` with the batch entry added to its provenance."""
    entry = fp.provenance(recording, worker)
    return dataclasses.replace(result, provenance={**result.provenance, PROVENANCE_KEY: entry})


def stored_key(result: DecompositionResult) -> str | None:
    """The batch key a result was written with, or None."""
    entry = result.provenance.get(PROVENANCE_KEY)
    return str(entry.get("key")) if isinstance(entry, dict) and entry.get("key") else None
