"""Undo/redo over immutable results, and replaying a saved edit log.

:class:`EditHistory` keeps the result before every edit, so undo restores it exactly (same
arrays, not a recomputation); a new edit after undo drops the redo branch, as phy's
``History`` does. ``history.log`` is plain data (a list of dicts) that
:func:`~bmiss_engine.editing.edit_from_dict` turns back into edits, so a review can be saved
and replayed.
"""

from __future__ import annotations

from typing import Any

from bmiss_engine.editing.base import Edit
from bmiss_engine.editing.edits import edit_from_dict
from bmiss_engine.results import DecompositionResult


class EditHistory:
    """Undo/redo over immutable results.

    ``current`` is the result after the edits done so far. ``do`` applies an edit (an invalid
    one raises :class:`EditError` and changes nothing) and drops anything that could have been
    redone; ``undo``/``redo`` move along the stored states and return the new current result.
    """

    def __init__(self, initial: DecompositionResult) -> None:
        self._states: list[DecompositionResult] = [initial]
        self._edits: list[Edit] = []
        self._position = 0  # index into _states of the current result

    @classmethod
    def from_log(
        cls, initial: DecompositionResult, log: list[dict[str, Any]] | tuple[dict[str, Any], ...],
        redo_log: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
    ) -> EditHistory:
        """The history a saved review describes: ``log`` (``history.log``) replayed on
        ``initial``, then ``redo_log`` (``history.redo_log``) replayed and undone, so undo and
        redo reach the same results as before saving. Raises :class:`EditError` for a log
        that does not fit ``initial``."""
        history = cls(initial)
        for entry in (*log, *redo_log):
            history.do(edit_from_dict(entry))
        for _ in redo_log:
            history.undo()
        return history

    @property
    def current(self) -> DecompositionResult:
        return self._states[self._position]

    @property
    def initial(self) -> DecompositionResult:
        return self._states[0]

    @property
    def can_undo(self) -> bool:
        return self._position > 0

    @property
    def can_redo(self) -> bool:
        return self._position < len(self._edits)

    @property
    def undo_label(self) -> str | None:
        return self._edits[self._position - 1].label if self.can_undo else None

    @property
    def redo_label(self) -> str | None:
        return self._edits[self._position].label if self.can_redo else None

    @property
    def edits(self) -> tuple[Edit, ...]:
        """The edits that lead from ``initial`` to ``current``."""
        return tuple(self._edits[: self._position])

    @property
    def log(self) -> list[dict[str, Any]]:
        """``edits`` as plain data (JSON-ready)."""
        return [e.as_dict() for e in self.edits]

    @property
    def redo_log(self) -> list[dict[str, Any]]:
        """The edits undone that ``redo`` would apply again, next first, as plain data."""
        return [e.as_dict() for e in self._edits[self._position :]]

    def do(self, edit: Edit) -> DecompositionResult:
        new = edit.apply(self.current)
        del self._states[self._position + 1 :]
        del self._edits[self._position :]
        self._states.append(new)
        self._edits.append(edit)
        self._position += 1
        return new

    def undo(self) -> DecompositionResult:
        if self.can_undo:
            self._position -= 1
        return self.current

    def redo(self) -> DecompositionResult:
        if self.can_redo:
            self._position += 1
        return self.current


def replay(initial: DecompositionResult, log: list[dict[str, Any]]) -> DecompositionResult:
    """Apply a saved edit log to ``initial``."""
    result = initial
    for entry in log:
        result = edit_from_dict(entry).apply(result)
    return result
