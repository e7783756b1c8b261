"""The window's work as an engine session file (:class:`bmiss_engine.io.Session`) and back:
what a save writes of the GUI's state, and what reopening restores. Plain values only, no Qt:
a snapshot is written from a worker thread."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bmiss_engine import BmissError, DecomposerConfig, DecompositionResult
from bmiss_engine.editing import EditHistory
from bmiss_engine.io import Session as SessionFile
from bmiss_engine.io import TabularDescription, peek_matrix
from bmiss_gui.session import Session

if TYPE_CHECKING:
    from bmiss_engine.anatomy import GridPlacement
    from bmiss_gui.mri import LoadedAnatomy

log = logging.getLogger(__name__)


def session_to_file(session: Session, config: DecomposerConfig, anatomy: LoadedAnatomy | None,
                    description: TabularDescription | None, recording_sha256: str,
                    session_path: str | None, grid_index: int = 0) -> SessionFile:
    """The engine session describing the work now (immutable: safe to write from another
    thread): the result with its edit history, the settings, and as view state the selected
    units, where the result starts in the recording, how a bare matrix was read, which grid of
    the recording's file (``grid_index``, from 0), the MRI and the grid's placement on it.
    Raises BmissError while there is no result to save."""
    s = session
    if s.recording is None or s.history is None or s.is_live:
        raise BmissError("there is no result to save yet")
    h = s.history
    view_state: dict[str, Any] = {
        "application": "bmiss-gui",
        "selected_units": list(s.selected_ids),
        "offset_samples": s.offset_samples,
        "session_path": session_path,
        "grid_index": int(grid_index),
    }
    if description is not None:
        view_state["tabular"] = description.as_dict()
    if anatomy is not None:
        view_state["mri_path"] = str(anatomy.source.resolve())
        view_state["grid_placement"] = anatomy.placed.placement.as_dict()
    return SessionFile(
        recording_path=str(Path(s.recording.source).resolve()),
        recording_sha256=recording_sha256,
        result=h.current,
        edit_log=tuple(h.log),
        settings=config.as_dict(),
        view_state=view_state,
        initial_result=h.initial,
        redo_log=tuple(h.redo_log),
    )


@dataclass(frozen=True)
class SavedWork:
    """What a session file restores besides the recording itself."""

    description: TabularDescription | None  # how its bare matrix is read (None: not a bare matrix)
    open_options: dict[str, Any]  # keyword arguments of open_recording for the recording
    grid_index: int  # which grid of the recording's file (0 in sessions saved before files of several grids opened)
    history: EditHistory
    config: DecomposerConfig | None  # None: the file saved no settings
    offset_samples: int
    selected_ids: tuple[int, ...]

    @classmethod
    def of(cls, saved: SessionFile, recording_path: Path) -> SavedWork:
        """Raises BmissError, KeyError, TypeError or ValueError for a damaged file. An edit log
        that does not lead to the saved result (should not happen) is dropped: undo then starts
        at the saved result."""
        view = saved.view_state
        description = None
        options: dict[str, Any] = {}
        if isinstance(view.get("tabular"), dict):
            description = TabularDescription.from_dict(view["tabular"])
            options = description.open_options(peek_matrix(recording_path).n_channels)
        grid_index = int(view.get("grid_index", 0))
        if grid_index < 0:
            raise ValueError(f"grid index {grid_index}")
        if grid_index:
            options["grid_index"] = grid_index
        history = (EditHistory.from_log(saved.initial_result, saved.edit_log, saved.redo_log)
                   if saved.initial_result is not None else EditHistory(saved.result))
        config = DecomposerConfig.from_dict(saved.settings) if saved.settings else None
        if not _same_units(history.current, saved.result):
            log.warning("%s: the edit log does not reproduce the saved result; undo starts here", recording_path)
            history = EditHistory(saved.result)
        return cls(description, options, grid_index, history, config, int(view.get("offset_samples", 0)),
                   tuple(int(i) for i in view.get("selected_units", [])))


def saved_placement(value: object, path: Path) -> GridPlacement | None:
    """The grid placement a session saved (None when it saved none, or an unreadable one)."""
    if not isinstance(value, dict):
        return None
    # imported here: the anatomy package brings nibabel and scikit-image, which the window's
    # start must not wait for
    from bmiss_engine.anatomy import GridPlacement

    try:
        return GridPlacement.from_dict(value)
    except (BmissError, TypeError, ValueError) as exc:
        log.warning("%s: ignoring the saved grid placement (%s)", path, exc)
        return None


def _same_units(a: DecompositionResult, b: DecompositionResult) -> bool:
    if [u.unit_id for u in a.units] != [u.unit_id for u in b.units]:
        return False
    return all(u.status == v.status and np.array_equal(u.discharge_samples, v.discharge_samples)
               for u, v in zip(a.units, b.units, strict=True))
