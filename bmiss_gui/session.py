"""The controller: holds the open recording, the current result and its edit history, the
selected units; turns what the views ask for (intents) into engine edits.

Views never see this object: they are given data (:class:`ReviewState`, arrays) and emit
intents, which the main window's presenter (:mod:`bmiss_gui.presenter`) routes to the methods
here. Every edit is one of the engine's edit objects (:mod:`bmiss_engine.editing`), applied
through the one :class:`EditHistory`, so every edit can be undone.

Reviewing goes unit by unit, as in MUedit and DEMUSE: A, F or R marks the selected unit and
moves to the next one (``auto_advance``); N and P move without marking; after a delete the
unit that took the deleted one's row is selected.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QObject, Signal

from bmiss_engine import DecompositionResult, IterationState, MotorUnit, Recording
from bmiss_engine.editing import (
    AddDischarges,
    DeleteUnit,
    Edit,
    EditHistory,
    MergeUnits,
    RemoveDischarges,
    SetStatus,
    UpdateFilter,
)
from bmiss_engine.results import UnitStatus
from bmiss_engine.review import MUAP_HALF_WINDOW_S, filtered_emg, spike_triggered_average
from bmiss_gui.background import BackgroundTask
from bmiss_gui.colors import UnitColors
from bmiss_gui.views.review_state import ReviewState
from bmiss_gui.wording import plain


class Session(QObject):
    recording_changed = Signal()
    result_changed = Signal()  # the units (or their data) changed
    selection_changed = Signal()
    history_changed = Signal()
    # the units changed as part of a decomposition run (a live snapshot, the final result, the
    # units kept on cancel); views redraw on this one through the main window's staggered
    # scheduler, not all at once
    live_changed = Signal()
    # a line for the status bar (what a background edit did, or why it could not)
    notice = Signal(str)
    # a filter update started or ended (the action that starts one is disabled meanwhile)
    busy_changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.recording: Recording | None = None
        self.history: EditHistory | None = None
        #: after A, F or R on one unit, select the next one
        self.auto_advance = True
        self._filter_task = BackgroundTask(self)
        self._filter_task.finished.connect(self._on_filter_estimated)
        self._filter_task.failed.connect(self._on_filter_failed)
        self._filter_base: MotorUnit | None = None
        self.colors = UnitColors()  # one colour per unit id, the views' too
        self._live: DecompositionResult | None = None
        self._offset = 0
        self._selected: tuple[int, ...] = ()
        self._filtered: np.ndarray | None = None
        # the last template computed: (unit, offset, template); units are immutable
        self._template: tuple[MotorUnit, int, NDArray[np.float32] | None] | None = None

    # -- state ---------------------------------------------------------------------------
    @property
    def result(self) -> DecompositionResult | None:
        if self._live is not None:
            return self._live
        return self.history.current if self.history is not None else None

    @property
    def is_live(self) -> bool:
        return self._live is not None

    @property
    def offset_samples(self) -> int:
        return self._offset

    @property
    def selected_ids(self) -> tuple[int, ...]:
        return self._selected

    @property
    def selected_unit(self) -> MotorUnit | None:
        return self.review_state().selected_unit

    def review_state(self) -> ReviewState:
        """What the unit views draw now."""
        return ReviewState(self.result, self._selected, self._offset, self.is_live)

    def filtered_emg(self) -> np.ndarray | None:
        """Band-passed EMG, computed once per recording (templates average this)."""
        if self.recording is None:
            return None
        if self._filtered is None:
            self._filtered = filtered_emg(self.recording)
        return self._filtered

    # -- recording and decomposition ------------------------------------------------------
    def set_recording(self, recording: Recording, filtered: np.ndarray | None = None) -> None:
        """A new recording, no result yet. ``filtered``: its band-passed EMG when already
        computed (off the GUI thread), else it is computed when a view first asks."""
        self.restore(recording, None, 0, (), filtered)

    def restore(self, recording: Recording, history: EditHistory | None, offset_samples: int,
                selected: tuple[int, ...], filtered: np.ndarray | None = None) -> None:
        """Resume work: a recording with a result's edit history (None: no result yet),
        where the result starts in the recording, and the units selected."""
        self.recording = recording
        self._filtered = filtered
        self._template = None
        self.history = history
        self._live = None
        self._offset = int(offset_samples)
        self._selected = tuple(int(i) for i in selected)
        self._keep_valid_selection(quiet=True)
        self.recording_changed.emit()
        self.result_changed.emit()
        self.history_changed.emit()
        self.selection_changed.emit()

    def begin_decomposition(self, window_s: tuple[float, float] | None) -> None:
        assert self.recording is not None
        fs = self.recording.sampling_rate_hz
        n = self.recording.n_samples
        # the engine crops the same way (Recording.crop): samples count from the window's start
        self._offset = max(0, round(window_s[0] * fs)) if window_s else 0
        stop = min(n, round(window_s[1] * fs)) if window_s else n
        self.history = None
        self._live = DecompositionResult((), fs, stop - self._offset)
        self._selected = ()
        self.result_changed.emit()
        self.history_changed.emit()
        self.selection_changed.emit()

    def show_progress(self, state: IterationState) -> None:
        """A live snapshot: its units replace the table's; the first unit found is selected so
        the user sees a pulse train and a MUAP straight away."""
        if self._live is None:
            return
        self._live = self._live.with_units(state.units)
        if not self.selected_unit and state.units:
            self._selected = (state.units[0].unit_id,)
        self.live_changed.emit()

    def finish_decomposition(self, result: DecompositionResult) -> None:
        self._live = None
        self.history = EditHistory(result)
        self._keep_valid_selection(quiet=True)
        self.live_changed.emit()
        self.history_changed.emit()

    def keep_partial(self, state: IterationState | None) -> None:
        """After a cancel: the units found so far become a result the user can review."""
        live = self._live
        self._live = None
        if live is None:
            return
        units = state.units if state is not None else live.units
        partial = live.with_units(units)
        self.history = EditHistory(partial)
        self._keep_valid_selection(quiet=True)
        self.live_changed.emit()
        self.history_changed.emit()

    def abandon_decomposition(self) -> None:
        self._live = None
        self.result_changed.emit()

    # -- selection ------------------------------------------------------------------------
    def select(self, unit_ids: tuple[int, ...]) -> None:
        ids = tuple(int(i) for i in unit_ids)
        if ids != self._selected:
            self._selected = ids
            self.selection_changed.emit()

    def select_next(self, step: int = 1) -> None:
        """Select the unit ``step`` rows after the (first) selected one (before it when
        negative), staying at the first or last unit; the first unit when none is selected."""
        r = self.result
        if r is None or not r.units:
            return
        ids = [u.unit_id for u in r.units]
        if not self._selected or self._selected[0] not in ids:
            self.select((ids[0],))
            return
        row = min(max(ids.index(self._selected[0]) + step, 0), len(ids) - 1)
        self.select((ids[row],))

    def select_previous(self) -> None:
        self.select_next(-1)

    def _keep_valid_selection(self, quiet: bool = False, previous: DecompositionResult | None = None) -> None:
        """Drop selected units that are gone; when none is left, select the unit now in the
        row of the first one in ``previous`` (the result before the edit), else the first."""
        r = self.result
        ids = [u.unit_id for u in r.units] if r is not None else []
        kept = tuple(i for i in self._selected if i in ids)
        if not kept and ids:
            old = [u.unit_id for u in previous.units] if previous is not None else []
            row = old.index(self._selected[0]) if self._selected and self._selected[0] in old else 0
            kept = (ids[min(row, len(ids) - 1)],)
        if kept != self._selected:
            self._selected = kept
            if not quiet:
                self.selection_changed.emit()

    # -- edits ----------------------------------------------------------------------------
    @property
    def can_edit(self) -> bool:
        return self.history is not None and not self.is_live

    def apply(self, edit: Edit) -> None:
        if not self.can_edit:
            return
        assert self.history is not None
        previous = self.history.current
        self.history.do(edit)
        self._edited(previous)

    def undo(self) -> None:
        if self.can_edit and self.history is not None and self.history.can_undo:
            previous = self.history.current
            self.history.undo()
            self._edited(previous)

    def redo(self) -> None:
        if self.can_edit and self.history is not None and self.history.can_redo:
            previous = self.history.current
            self.history.redo()
            self._edited(previous)

    def _edited(self, previous: DecompositionResult) -> None:
        self._keep_valid_selection(previous=previous)
        self.result_changed.emit()
        self.history_changed.emit()

    def set_status(self, status: UnitStatus) -> None:
        """Mark the selected units; with one selected and ``auto_advance``, select the next."""
        if not self.can_edit or not self._selected:
            return
        self.apply(SetStatus(self._selected, status))
        if self.auto_advance and len(self._selected) == 1:
            self.select_next()

    def set_auto_advance(self, on: bool) -> None:
        self.auto_advance = bool(on)

    def delete_selected(self) -> None:
        """Delete the selected units (one undo step each); the unit that takes the first
        one's row is selected next."""
        if self.can_edit and self._selected:
            for uid in self._selected:
                self.apply(DeleteUnit(uid))

    def merge_selected(self) -> None:
        if len(self._selected) >= 2:
            self.apply(MergeUnits(self._selected))

    def remove_discharges(self, unit_id: int, samples: tuple[int, ...]) -> None:
        """Intent of the pulse-train view: remove these discharges (samples of the result)."""
        if samples and self._has_unit(unit_id):
            self.apply(RemoveDischarges(unit_id, tuple(samples)))

    def add_discharge(self, unit_id: int, sample: int) -> None:
        """Intent of the pulse-train view: add a discharge (a sample of the result)."""
        if self._has_unit(unit_id):
            self.apply(AddDischarges(unit_id, (int(sample),)))

    # -- the filter of a unit from its discharges (seconds: off the GUI thread) -------------
    @property
    def updating_filter(self) -> bool:
        return self._filter_task.busy

    @property
    def can_update_filter(self) -> bool:
        return self.can_edit and self.recording is not None and self.selected_unit is not None and (
            not self.updating_filter)

    def update_filter(self, unit_id: int | None = None) -> None:
        """Re-estimate the filter, pulse train and discharges of a unit (the selected one by
        default) from its discharges, in a worker thread; the edit is applied when it is ready,
        if the unit has not changed meanwhile."""
        unit = self.selected_unit if unit_id is None else self._unit(unit_id)
        result, recording, offset = self.result, self.recording, self._offset
        if not self.can_edit or unit is None or result is None or recording is None or self.updating_filter:
            return
        self._filter_base = unit
        self._filter_task.start(lambda: UpdateFilter.estimate(result, unit.unit_id, recording, offset))
        self.notice.emit(f"Updating the filter of unit {unit.unit_id} from its discharges…")
        self.busy_changed.emit()

    def wait_for_filter(self) -> None:
        """Block until a filter update running in the background is applied (tests, closing)."""
        self._filter_task.wait()

    def _on_filter_estimated(self, edit: object) -> None:
        base, self._filter_base = self._filter_base, None
        self.busy_changed.emit()
        if not isinstance(edit, UpdateFilter) or base is None:
            return
        if self._unit(edit.unit_id) is not base or not self.can_edit:
            self.notice.emit(f"Unit {edit.unit_id} changed while its filter was being updated: update it again")
            return
        self.apply(edit)
        now = self._unit(edit.unit_id)
        if now is not None:
            self.notice.emit(f"Unit {now.unit_id}: filter updated from its discharges; {now.n_discharges} discharges, "
                             f"SIL {now.sil:.3f}")

    def _on_filter_failed(self, message: str) -> None:
        self._filter_base = None
        self.busy_changed.emit()
        self.notice.emit(f"Could not update the filter: {plain(message)}")

    def _unit(self, unit_id: int) -> MotorUnit | None:
        r = self.result
        try:
            return r.unit(unit_id) if r is not None else None
        except KeyError:
            return None

    def _has_unit(self, unit_id: int) -> bool:
        r = self.result
        return r is not None and any(u.unit_id == unit_id for u in r.units)

    # -- what the views draw ----------------------------------------------------------------
    def muap_template(self, unit: MotorUnit) -> NDArray[np.float32] | None:
        """(n_channels, n_lags) spike-triggered average of the band-passed EMG, volts; the
        last one is kept, so a unit a live snapshot re-sends is not averaged again."""
        cached = self._template
        if cached is not None and cached[0] is unit and cached[1] == self._offset:
            return cached[2]
        emg = self.filtered_emg()
        if emg is None or self.recording is None:
            return None
        half = round(MUAP_HALF_WINDOW_S * self.recording.sampling_rate_hz)
        template = spike_triggered_average(emg, unit.discharge_samples + self._offset, half)
        self._template = (unit, self._offset, template)
        return template
