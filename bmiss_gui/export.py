"""Exporting the reviewed units' discharges: where to and in which format (a save dialog that
offers every writer the engine has), and the writing itself. Which units go, and where their
discharges sit, is the engine's rule (:func:`bmiss_engine.io.units_to_export`)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from bmiss_engine import Recording
from bmiss_engine.io import RESULT_FORMATS, ResultFormat, result_format, units_to_export, write_result
from bmiss_gui.session import Session

# the plain discharge table first: the default of the dialog
_OFFERED: tuple[ResultFormat, ...] = tuple(sorted(RESULT_FORMATS, key=lambda f: f.key != "csv"))
# Qt reads the file pattern from the parentheses that end each filter: what the file opens in
# goes before them
_FILTERS = {f"{f.label} — opens in {f.opens_in} (*{f.suggested_ending or f.ending})": f for f in _OFFERED}
EXPORT_FILTER = ";;".join(_FILTERS)


def ask_export_path(parent: QWidget, recording: Recording | None, folder: str) -> str | None:
    """Where to export, from a save dialog starting at ``<folder>/<recording>_units.csv``; a
    name that names no format gets the ending of the chosen type. None when cancelled."""
    stem = Path(recording.source).stem if recording is not None else "result"
    path, chosen = QFileDialog.getSaveFileName(
        parent, "Export discharges (units not rejected)", str(Path(folder) / f"{stem}_units.csv"), EXPORT_FILTER,
    )
    if not path:
        return None
    picked = _FILTERS.get(chosen, _OFFERED[0])
    if not Path(path).suffix:
        path = picked.file_name(path)
    return path


def export_units(session: Session, path: str | Path, include_flagged: bool = True) -> int | None:
    """Write the session's units not rejected (optionally without the flagged) to ``path``, in
    the format its name asks for. Tables count discharge samples from the recording's start,
    also after a windowed decomposition; the formats that carry the EMG (MAT, MUedit MAT,
    openhdemg JSON, which MUedit, DEMUSE and openhdemg need to show the units) hold the
    decomposed part of the recording and the discharges within it. Returns how many units were
    written (None: no result). Raises the engine's errors and OSError."""
    if session.result is None:
        return None
    if result_format(path).carries_emg and session.recording is not None:
        # the writer crops the recording to the decomposed window the result's settings name
        result = units_to_export(session.result, 0, include_flagged)
        write_result(result, path, session.recording)
    else:
        result = units_to_export(session.result, session.offset_samples, include_flagged)
        write_result(result, path)
    return result.n_units
