"""Atomic writes: a temporary file in the destination's folder, then ``os.replace``, so that a
crash mid-write never leaves a half-written file under the final name.

A process killed mid-write (``kill -9``, a crashed Dask worker, a power cut) cannot remove its
temporary, so temporaries are named for their writer, ``.NAME.bmiss.HOST-PID.XXXXXXXX.tmp``
(HOST: a short hash of the host's name), and :func:`remove_stale_temporaries` removes those
whose writer is gone. The writer sweeps each folder once per process before its first write
there; ``bmiss batch`` sweeps its whole output folder.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

# a temporary from another host (a shared file system), or one whose writer cannot be checked,
# is stale when untouched this long: a live writer touches its file as it writes
STALE_AFTER_S = 600.0
# a temporary whose writer's pid is alive is kept, unless this old: the pid was reused
_PID_REUSED_AFTER_S = 86400.0
# mkstemp's random part: 8 of [a-z0-9_]
_OURS = re.compile(r"^\..+\.bmiss\.(?P<host>[0-9a-f]{8})-(?P<pid>\d+)\.[a-z0-9_]{8}\.tmp$")
# what this module wrote before temporaries carried their writer (``.NAME.XXXXXXXX.tmp``)
_UNMARKED = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
# the temporary's name must stay under the usual 255-byte limit whatever the target's length
_MAX_NAME = 200

_swept: set[str] = set()
_swept_lock = threading.Lock()


def write_atomic(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write(fh)`` on a temporary binary file beside ``path``, then rename it to ``path``."""
    path = Path(path)
    folder = path.parent or Path(".")
    _sweep_once(folder)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:_MAX_NAME]}.bmiss.{host_tag()}-{os.getpid()}.", suffix=".tmp",
                               dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        chmod_like_open(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike[str], payload: bytes) -> None:
    def write(fh: IO[bytes]) -> None:
        fh.write(payload)

    write_atomic(path, write)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def chmod_like_open(path: str) -> None:
    """mkstemp creates 0600 files; give the final file the mode a plain open() would."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


@functools.cache
def host_tag() -> str:
    """8 hex digits naming this host in temporaries' names (host names may hold dots)."""
    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def remove_stale_temporaries(
    folder: str | os.PathLike[str], *, recursive: bool = False, unmarked: bool = False, now: float | None = None
) -> list[Path]:
    """Remove the temporaries :func:`write_atomic` left in ``folder`` (and its subfolders with
    ``recursive``) when their writer is gone; return them.

    A temporary of this host is stale when the process that wrote it has ended (its pid is
    not running); one of another host, or where pids cannot be checked (Windows), when it was
    last modified more than :data:`STALE_AFTER_S` ago (``now``: the time to compare with, in
    ``time.time()`` seconds). This process's own are never touched. With ``unmarked``, names
    written before temporaries carried their writer (``.NAME.XXXXXXXX.tmp``) go by the age rule
    too: pass it only for a folder this program fills (a batch's output), since other programs
    may name temporaries alike. Files that vanish or cannot be removed meanwhile are skipped.
    """
    now = time.time() if now is None else now
    removed = []
    for entry in _entries(Path(folder), recursive):
        if _is_stale(entry, now, unmarked):
            try:
                os.unlink(entry.path)
            except OSError:  # gone already (another sweep), or not ours to remove
                continue
            removed.append(Path(entry.path))
    if removed:
        log.info("removed %d stale temporary file(s) in %s", len(removed), folder)
    return removed


def _entries(folder: Path, recursive: bool) -> Iterator[os.DirEntry[str]]:
    """The files of ``folder`` whose name ends in ``.tmp`` (and of its subfolders with ``recursive``)."""
    try:
        with os.scandir(folder) as it:
            entries = list(it)
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                if recursive:
                    yield from _entries(Path(entry.path), recursive)
            elif entry.name.endswith(".tmp") and entry.is_file(follow_symlinks=False):
                yield entry
        except OSError:
            continue


def _is_stale(entry: os.DirEntry[str], now: float, unmarked: bool) -> bool:
    match = _OURS.match(entry.name)
    if match is None and not (unmarked and _UNMARKED.match(entry.name)):
        return False
    try:
        age = now - entry.stat(follow_symlinks=False).st_mtime
    except OSError:
        return False
    if match is None or match["host"] != host_tag():
        return age > STALE_AFTER_S
    pid = int(match["pid"])
    if pid == os.getpid():
        return False  # this process's: another thread may be writing it now
    alive = _pid_alive(pid)
    if alive is None:
        return age > STALE_AFTER_S
    return not alive or age > _PID_REUSED_AFTER_S


def _pid_alive(pid: int) -> bool | None:
    """Whether a process ``pid`` runs on this host; None where that cannot be asked (on
    Windows ``os.kill`` would end the process)."""
    if sys.platform == "win32":
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it runs, as another user
        return True
    return True


def _sweep_once(folder: Path) -> None:
    """Remove stale temporaries from ``folder`` the first time this process writes there (one
    directory listing per folder and process, not per write)."""
    key = os.path.abspath(folder)
    with _swept_lock:
        if key in _swept:
            return
        _swept.add(key)
    try:
        remove_stale_temporaries(folder)
    except OSError:  # a sweep must never stop the write it precedes
        log.debug("could not sweep %s for stale temporaries", folder, exc_info=True)
