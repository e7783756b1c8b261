"""Error messages in the user's words: what the operating system and the libraries say
("[Errno 28] No space left on device", numpy's advice to "load it unsafely using
allow_pickle=") rewritten as a sentence a clinician can act on. The engine's own messages are
written for users already and pass through unchanged."""

from __future__ import annotations

import re

_QUOTED_PATH = r"(?:: '[^']*')?"  # the file name Python appends to an OS error
# (pattern, plain words); each replaces every fragment it matches
_PLAIN = (
    (r"\[Errno \d+\] No space left on device" + _QUOTED_PATH, "the disk is full (free some space or choose another disk)"),
    (r"\[Errno \d+\] Disk quota exceeded" + _QUOTED_PATH, "your disk quota is used up (free some space)"),
    (r"\[Errno \d+\] Permission denied" + _QUOTED_PATH, "BMISS is not allowed to use this file or folder"),
    (r"\[Errno \d+\] Read-only file system" + _QUOTED_PATH, "the disk is read-only"),
    (r"\[Errno \d+\] No such file or directory" + _QUOTED_PATH, "there is no such file or folder"),
    (r"\[Errno \d+\] Is a directory" + _QUOTED_PATH, "this is a folder, not a file"),
    (r"\[Errno \d+\] File name too long" + _QUOTED_PATH, "the file name is too long"),
    (r"[^.;()]*allow_pickle[^;()]*", "the file holds Python objects, which BMISS does not load as they could run code"),
    (r"\bMemoryError\b", "not enough memory"),
    (r"CUDA out of memory[^.;()]*", "the graphics card ran out of memory (close other programs or use the CPU)"),
)


def plain(message: str) -> str:
    """``message`` with technical fragments replaced by plain words; Python's ``[Errno N]``
    codes left out."""
    text = message
    for pattern, words in _PLAIN:
        text = re.sub(pattern, words, text)
    text = re.sub(r"\[Errno \d+\] ", "", text)
    return text.strip()
