"""Guarding the user's work on its way to and from files: the question before unsaved work is
replaced (closing, opening another file, decomposing again), and noticing that a session file
was written by someone else (another window, another program) since this window opened or
last saved it, so that a save does not silently overwrite it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PySide6.QtWidgets import QMessageBox, QWidget

UnsavedChoice = Literal["save", "discard", "cancel"]
OverwriteChoice = Literal["overwrite", "save_as", "cancel"]


def ask_unsaved(parent: QWidget, name: str, question: str) -> UnsavedChoice:
    """Save / Discard / Cancel for the unsaved changes to ``name``; ``question`` says what
    replaces them ("Save the changes to X before …?")."""
    box = QMessageBox.StandardButton
    answer = QMessageBox.question(parent, "Unsaved changes", f"Save the changes to {name} {question}",
                                  box.Save | box.Discard | box.Cancel, box.Save)
    return {box.Save: "save", box.Discard: "discard"}.get(answer, "cancel")  # type: ignore[return-value]


def ask_overwrite(parent: QWidget, path: Path) -> OverwriteChoice:
    """Overwrite / Save As… / Cancel for a session file written elsewhere since it was opened."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Session changed on disk",
                      f"{path.name} was saved by another window or program since you opened it here.\n\n"
                      "Overwrite it with this window's work (the other changes are lost), or save this "
                      "work under another name?", QMessageBox.StandardButton.NoButton, parent)
    overwrite = box.addButton("Overwrite", QMessageBox.ButtonRole.DestructiveRole)
    save_as = box.addButton("Save As…", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(save_as)
    box.exec()
    clicked = box.clickedButton()
    return "overwrite" if clicked is overwrite else "save_as" if clicked is save_as else "cancel"


@dataclass(frozen=True)
class DiskStamp:
    """Which version of a file is on disk: a save (an atomic rename) gives the file a new
    inode and modification time."""

    inode: int
    mtime_ns: int
    size: int

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> DiskStamp | None:
        """The stamp of the file now; None when there is none."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        return cls(st.st_ino, st.st_mtime_ns, st.st_size)
