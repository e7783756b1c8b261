"""Pick the reader for a recording file."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from bmiss_engine.errors import RecordingFormatError
from bmiss_engine.io.npz import read_npz
from bmiss_engine.recording import Recording


def open_recording(path: str | os.PathLike[str]) -> Recording:
    """Open a recording file, whatever its supported format.

    Raises :class:`RecordingFormatError` naming the file and the problem for anything that
    cannot be read: a missing file, a folder, an empty or truncated file, a wrong layout.
    """
    path = Path(path)
    if not path.exists():
        raise RecordingFormatError(f"{path}: no such file")
    if path.is_dir():
        raise RecordingFormatError(f"{path}: is a folder, not a recording file")
    if path.stat().st_size == 0:
        raise RecordingFormatError(f"{path}: the file is empty")
    if path.suffix.lower() == ".npz" or zipfile.is_zipfile(path):
        return read_npz(path)
    raise RecordingFormatError(
        f"{path}: unsupported format '{path.suffix or 'no extension'}'; this version reads the plain "
        ".npz layout (see README)"
    )
