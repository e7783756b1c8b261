"""The wiring between the controller (:class:`~bmiss_gui.session.Session`) and the passive
views: the views are given data when the session changes, and what they ask for (their intent
signals) goes to the session, which makes the edits.

While a decomposition runs, snapshots change several views at once; they are redrawn one per
turn of the event loop by a :class:`~bmiss_gui.redraw.StaggeredRedraw` (``live_redraw``), and
only for a snapshot that shows other units than the last one drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QWidget

from bmiss_engine import MotorUnit
from bmiss_gui.colors import UnitColors
from bmiss_gui.redraw import LiveView, StaggeredRedraw
from bmiss_gui.session import Session
from bmiss_gui.views.anatomy3d import Anatomy3DView
from bmiss_gui.views.emg import EmgView
from bmiss_gui.views.muap_grid import MuapGridView
from bmiss_gui.views.pulse_train import PulseTrainView
from bmiss_gui.views.rates import DischargeRateView
from bmiss_gui.views.rms_map import RmsMapView
from bmiss_gui.views.unit_details import UnitDetailsView
from bmiss_gui.views.units_table import UnitsTableView

# what the live views show: the units, the selection, the result's offset, whether live
_Shown = tuple[tuple[MotorUnit, ...], tuple[int, ...], int, bool]


@dataclass(frozen=True)
class Views:
    """One of each view, as the main window docks them."""

    emg: EmgView
    rms: RmsMapView
    units: UnitsTableView
    pulse_train: PulseTrainView
    rates: DischargeRateView
    muap: MuapGridView
    anatomy: Anatomy3DView
    details: UnitDetailsView

    @classmethod
    def create(cls, colors: UnitColors) -> Views:
        """The views, drawing each unit in its colour of ``colors`` (the same in every view)."""
        return cls(EmgView(colors), RmsMapView(), UnitsTableView(colors), PulseTrainView(colors),
                   DischargeRateView(colors), MuapGridView(colors), Anatomy3DView(colors), UnitDetailsView())

    def by_name(self) -> dict[str, QWidget]:
        """Every view by its dock's name."""
        return {"emg": self.emg, "rms": self.rms, "units": self.units, "pulse_train": self.pulse_train,
                "rates": self.rates, "muap": self.muap, "anatomy": self.anatomy, "details": self.details}


class Presenter(QObject):
    """Gives the views the session's data on its signals and routes their intents to it."""

    def __init__(self, session: Session, views: Views, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._views = views
        v = views
        self.live_redraw = StaggeredRedraw([
            LiveView(v.units, lambda: v.units.set_state(session.review_state())),
            LiveView(v.pulse_train, lambda: v.pulse_train.set_state(session.review_state())),
            LiveView(v.muap, self._show_muap),
            LiveView(v.details, lambda: v.details.set_state(session.review_state())),
            LiveView(v.emg, lambda: v.emg.set_state(session.review_state()), min_interval_s=0.5),
            # all units' rates: the costliest view to redraw, and twice a second is plenty
            LiveView(v.rates, lambda: v.rates.set_state(session.review_state()), min_interval_s=0.5),
            LiveView(v.anatomy, lambda: v.anatomy.set_state(session.review_state()), min_interval_s=0.5),
        ], self)
        session.recording_changed.connect(self._on_recording)
        session.result_changed.connect(self._on_result)
        session.selection_changed.connect(self._on_selection)
        session.live_changed.connect(self._on_live)
        self._live_shown: _Shown | None = None
        # intents
        v.units.units_selected.connect(session.select)
        v.anatomy.unit_picked.connect(lambda unit_id: session.select((unit_id,)))
        v.pulse_train.discharges_remove_requested.connect(session.remove_discharges)
        v.pulse_train.discharge_add_requested.connect(session.add_discharge)
        v.pulse_train.update_filter_requested.connect(session.update_filter)

    def _on_live(self) -> None:
        """A live snapshot: the live views are redrawn when it shows other units (or another
        selection) than the last one drawn. Most snapshots of a batch of the search add no
        unit, and a redraw of the same units would cost the same as one of new ones."""
        state = self._session.review_state()
        shown = (state.units, state.selected_ids, state.offset_samples, state.live)
        if self._live_shown is not None and _same(shown, self._live_shown):
            return
        self._live_shown = shown
        self.live_redraw.request()

    def _on_recording(self) -> None:
        rec, emg = self._session.recording, self._session.filtered_emg()
        self._show_muap()
        self._views.emg.set_recording(rec, emg)
        self._views.rms.set_recording(rec, emg)

    def _on_result(self) -> None:
        state = self._session.review_state()
        self._views.units.set_units(state.units)
        self._views.pulse_train.set_state(state)
        self._views.rates.set_state(state)
        self._show_muap()
        self._views.anatomy.set_state(state)
        self._views.details.set_state(state)
        self._views.emg.set_state(state)

    def _on_selection(self) -> None:
        state = self._session.review_state()
        self._views.units.set_selection(state.selected_ids)
        self._views.pulse_train.set_state(state, autorange=True)
        self._views.rates.set_state(state)
        self._show_muap()
        self._views.anatomy.set_selection(state.selected_ids)
        self._views.details.set_state(state)
        self._views.emg.set_state(state)

    def _show_muap(self) -> None:
        s = self._session
        unit = s.selected_unit
        grid = s.recording.grid if s.recording is not None else None
        template = s.muap_template(unit) if unit is not None and grid is not None else None
        self._views.muap.set_unit(grid, unit, template)


def _same(a: _Shown, b: _Shown) -> bool:
    """The same units (the same objects: units are immutable), selection, offset and state."""
    return len(a[0]) == len(b[0]) and all(x is y for x, y in zip(a[0], b[0], strict=True)) and a[1:] == b[1:]
