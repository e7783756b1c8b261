"""The session file (``.bmiss``): where work resumes exactly.

A session is the recording it was made on (by path, with a content fingerprint so a changed
or moved file is noticed), the current result, the edit log that led to it from the
decomposition's output (and that output itself, so undo works after reopening), the edits
undone that redo would apply again, the settings used, and free-form view state (selected unit,
layout) that the application keeps.

Layout: a zip archive holding ``session.json`` (format version, recording reference, settings,
edit log, redo log, view state), ``result.npz`` (the result in :func:`write_result_npz`'s
layout, separation filters included) and, when kept, ``initial.npz`` (the decomposition's
output the edit log starts from). It is written atomically: a crash mid-save never leaves a
half-written session under the final name, and the previous save stays intact.

Saving and loading pass the inner results through a temporary folder named for the process
(``bmiss-session-<pid>-…``), so that one a killed process left behind can be told apart and
removed (:func:`remove_stale_temporary_folders`, called when the desktop application starts).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bmiss_engine.errors import RecordingFormatError
from bmiss_engine.io.atomic import write_atomic
from bmiss_engine.io.export import read_result_npz, write_result_npz
from bmiss_engine.results import DecompositionResult

SESSION_SUFFIX = ".bmiss"
FORMAT_VERSION = 1
_CHUNK_BYTES = 1 << 20
_TEMP_PREFIX = "bmiss-session-"
_STALE_AFTER_S = 24 * 3600  # where a process cannot be asked whether it lives (Windows)


def _temporary_folder() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix=f"{_TEMP_PREFIX}{os.getpid()}-")


def _process_alive(pid: int) -> bool | None:
    """Whether process ``pid`` runs (None: cannot tell here)."""
    if sys.platform == "win32":
        return None  # os.kill(pid, 0) would send CTRL_C_EVENT there
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def remove_stale_temporary_folders(folder: str | os.PathLike[str] | None = None) -> list[Path]:
    """Remove the temporary folders of saves and loads whose process is gone (killed mid-save;
    where that cannot be asked, those older than a day) from ``folder`` (the system's temporary
    folder by default); returns those removed."""
    removed = []
    for path in Path(folder or tempfile.gettempdir()).glob(f"{_TEMP_PREFIX}*"):
        pid_text = path.name[len(_TEMP_PREFIX):].split("-", 1)[0]
        if not path.is_dir() or not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        alive = _process_alive(int(pid_text))
        try:
            if alive is False or (alive is None and time.time() - path.stat().st_mtime > _STALE_AFTER_S):
                shutil.rmtree(path)
                removed.append(path)
        except OSError:
            continue  # another process removed it first, or it is not ours to remove
    return removed


def file_fingerprint(path: str | os.PathLike[str]) -> str:
    """SHA-256 of the file's content, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Session:
    """Everything needed to resume work.

    recording_path: absolute path of the recording when saved; recording_sha256: its
    fingerprint then; result: the current (edited) result; edit_log: the edits applied to
    the decomposition's output, oldest first, each a plain dict; settings: the decomposer
    settings; view_state: the application's own state (JSON-serialisable); initial_result: the
    result ``edit_log`` starts from (None when not kept: the edits can then not be undone);
    redo_log: edits undone after the last one of ``edit_log``, next to redo first.
    """

    recording_path: str
    recording_sha256: str
    result: DecompositionResult
    edit_log: tuple[dict[str, Any], ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    view_state: dict[str, Any] = field(default_factory=dict)
    initial_result: DecompositionResult | None = None
    redo_log: tuple[dict[str, Any], ...] = ()

    @classmethod
    def for_recording(
        cls, recording_path: str | os.PathLike[str], result: DecompositionResult, **kwargs: Any
    ) -> Session:
        path = Path(recording_path).resolve()
        return cls(str(path), file_fingerprint(path), result, **kwargs)

    def locate_recording(self, session_path: str | os.PathLike[str] | None = None) -> Path | None:
        """The recording file if it is where it was, or beside the session file (a study folder
        that was moved), with the same content; None when it cannot be found unchanged."""
        candidates = [Path(self.recording_path)]
        if session_path is not None:
            candidates.append(Path(session_path).resolve().parent / Path(self.recording_path).name)
        for candidate in candidates:
            if candidate.is_file() and file_fingerprint(candidate) == self.recording_sha256:
                return candidate
        return None


def save_session(session: Session, path: str | os.PathLike[str]) -> None:
    """Write ``session`` to ``path`` (``.bmiss``) atomically."""
    header = {
        "format": "bmiss-session",
        "version": FORMAT_VERSION,
        "recording": {"path": session.recording_path, "sha256": session.recording_sha256},
        "settings": session.settings,
        "edit_log": list(session.edit_log),
        "redo_log": list(session.redo_log),
        "view_state": session.view_state,
    }
    try:
        header_text = json.dumps(header, indent=1, allow_nan=True)
    except TypeError as exc:
        raise ValueError(f"session state is not serialisable: {exc}") from None
    results = {"result.npz": session.result}
    if session.initial_result is not None:
        results["initial.npz"] = session.initial_result
    blobs: dict[str, bytes] = {}
    with _temporary_folder() as tmp:
        for name, result in results.items():
            write_result_npz(result, Path(tmp) / name)
            blobs[name] = (Path(tmp) / name).read_bytes()

    def write(fh: IO[bytes]) -> None:
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("session.json", header_text)
            for name, blob in blobs.items():
                # the npz is compressed already
                archive.writestr(name, blob, compress_type=zipfile.ZIP_STORED)

    write_atomic(path, write)


def load_session(path: str | os.PathLike[str]) -> Session:
    """Read a session written by :func:`save_session`; ``RecordingFormatError`` names what is
    wrong with a damaged or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise RecordingFormatError(f"{path}: no such session file")
    try:
        with zipfile.ZipFile(path) as archive:
            header = json.loads(archive.read("session.json").decode("utf-8"))
            blobs = {"result.npz": archive.read("result.npz")}
            if "initial.npz" in archive.namelist():
                blobs["initial.npz"] = archive.read("initial.npz")
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError, json.JSONDecodeError, OSError, EOFError) as exc:
        raise RecordingFormatError(f"{path}: not a BMISS session file ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != "bmiss-session":
        raise RecordingFormatError(f"{path}: not a BMISS session file")
    version = header.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise RecordingFormatError(
            f"{path}: session format version {version!r} is newer than this BMISS reads ({FORMAT_VERSION})"
        )
    results: dict[str, DecompositionResult] = {}
    with _temporary_folder() as tmp:
        for name, blob in blobs.items():
            inner = Path(tmp) / name
            inner.write_bytes(blob)
            try:
                results[name] = read_result_npz(inner)
            except RecordingFormatError:
                # the inner file's temporary path means nothing to the user: name the session
                what = "result" if name == "result.npz" else "decomposition output"
                raise RecordingFormatError(f"{path}: the session's {what} is damaged") from None
    try:
        recording = header["recording"]
        return Session(
            recording_path=str(recording["path"]),
            recording_sha256=str(recording["sha256"]),
            result=results["result.npz"],
            edit_log=tuple(dict(e) for e in header.get("edit_log", [])),
            settings=dict(header.get("settings", {})),
            view_state=dict(header.get("view_state", {})),
            initial_result=results.get("initial.npz"),
            redo_log=tuple(dict(e) for e in header.get("redo_log", [])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordingFormatError(f"{path}: damaged session header ({exc})") from None


