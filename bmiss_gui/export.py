"""Exporting the reviewed units' discharges: where to (a save dialog), and the writing itself.
Which units go, and where their discharges sit, is the engine's rule
(:func:`bmiss_engine.io.units_to_export`)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from bmiss_engine import Recording
from bmiss_engine.io import units_to_export, write_result
from bmiss_gui.session import Session

EXPORT_FILTER = "CSV, one row per discharge (*.csv);;MATLAB, DEMUSE fields (*.mat)"


def ask_export_path(parent: QWidget, recording: Recording | None, folder: str) -> str | None:
    """Where to export, from a save dialog starting at ``<folder>/<recording>_units.csv``; a
    name without an extension gets the one of the chosen type. None when cancelled."""
    stem = Path(recording.source).stem if recording is not None else "result"
    path, chosen = QFileDialog.getSaveFileName(
        parent, "Export discharges (units not rejected)", str(Path(folder) / f"{stem}_units.csv"), EXPORT_FILTER,
    )
    if not path:
        return None
    if not Path(path).suffix:
        path += ".mat" if "mat" in chosen else ".csv"
    return path


def export_units(session: Session, path: str | Path, include_flagged: bool = True) -> int | None:
    """Write the session's units not rejected (optionally without the flagged) to ``path``, in
    the format its name asks for; discharge samples count from the recording's start, also
    after a windowed decomposition. Returns how many units were written (None: no result).
    Raises the engine's errors and OSError."""
    if session.result is None:
        return None
    result = units_to_export(session.result, session.offset_samples, include_flagged)
    write_result(result, path)
    return result.n_units
