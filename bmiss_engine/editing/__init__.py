"""Edits of a decomposition result as small frozen objects, and their history (undo/redo).

Each edit is a value with ``apply(result) -> result`` and a human ``label``; results are
immutable, so applying never changes its input. Quality figures (SIL, PNR, rate, CoV ISI) are
properties of :class:`MotorUnit`, so an edited unit reports them for its edited discharges
without any bookkeeping here.

- :mod:`.edits`: add or remove discharges, set a status, delete or merge units, and
  :func:`edit_from_dict` (an edit back from its plain data);
- :mod:`.refilter`: :class:`UpdateFilter`, a unit's filter and pulse train re-estimated from
  its discharges;
- :mod:`.history`: :class:`EditHistory`, undo/redo that restores results exactly, and
  :func:`replay`;
- :mod:`.picking`: which discharges or peaks a box or a click on the pulse train means.
"""

from __future__ import annotations

from bmiss_engine.editing.base import Edit, EditError
from bmiss_engine.editing.edits import (
    AddDischarges,
    DeleteUnit,
    MergeUnits,
    RemoveDischarges,
    SetStatus,
    edit_from_dict,
)
from bmiss_engine.editing.history import EditHistory, replay
from bmiss_engine.editing.picking import discharge_near, discharges_in_box, largest_peak
from bmiss_engine.editing.refilter import UpdateFilter

__all__ = [
    "AddDischarges",
    "DeleteUnit",
    "Edit",
    "EditError",
    "EditHistory",
    "MergeUnits",
    "RemoveDischarges",
    "SetStatus",
    "UpdateFilter",
    "discharge_near",
    "discharges_in_box",
    "edit_from_dict",
    "largest_peak",
    "replay",
]
