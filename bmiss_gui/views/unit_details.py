"""The selected unit in words and numbers: its review status, how it was found, its quality
figures, and every forward-model parameter with its uncertainty, in physical units."""

from __future__ import annotations

import html
import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QScrollArea, QVBoxLayout, QWidget

from bmiss_engine import MotorUnit
from bmiss_engine.results import THETA_FIELDS
from bmiss_gui.colors import STATUS_COLOURS
from bmiss_gui.views.review_state import ReviewState

_ORIGINS = {
    "blind": "found by blind source separation",
    "model": "found by the forward model, beyond what blind separation found",
    "joint": "found on the residual of the joint decoding, beyond what blind separation found",
}
_NO_THETA = ("No forward-model parameters: this unit was found without the biophysical model. The hybrid and "
             "bmiss methods (Decompose… settings) estimate where each unit lies and how large it is.")


def _figure(value: float, digits: int, unit: str = "") -> str:
    return "–" if not math.isfinite(value) else f"{value:.{digits}f}{(' ' + unit) if unit else ''}"


def _rows(pairs: list[tuple[str, str]]) -> str:
    return "".join(f"<tr><td>{html.escape(k)}</td><td align='right'>&nbsp;&nbsp;{html.escape(v)}</td></tr>"
                   for k, v in pairs)


def theta_rows(unit: MotorUnit) -> list[tuple[str, str]]:
    """(label, "value ± sd unit") for each parameter the model estimated for ``unit``."""
    theta, sd = unit.theta or {}, unit.theta_uncertainty
    rows = []
    for f in THETA_FIELDS:
        if f.name not in theta:
            continue
        digits = 0 if f.log else (2 if f.high - f.low < 10 else 1)
        value = _figure(theta[f.name], digits).replace("-", "−")
        spread = sd.get(f.name, math.nan)
        if math.isfinite(spread):
            value = f"{value} ± {spread:.{digits}f}"
        rows.append((f.label, f"{value} {f.unit}".rstrip()))
    return rows


def describe(unit: MotorUnit) -> str:
    """The panel's rich text for ``unit``."""
    colour = STATUS_COLOURS[unit.status]
    figures = [
        ("Discharges", str(unit.n_discharges)), ("Mean rate", _figure(unit.mean_rate_hz, 1, "Hz")),
        ("CoV ISI", _figure(unit.cov_isi, 2)), ("SIL", _figure(unit.sil, 3)), ("PNR", _figure(unit.pnr_db, 1, "dB")),
    ]
    theta = theta_rows(unit)
    parts = [
        f"<b>Unit {unit.unit_id}</b> · <span style='color:{colour}'>{unit.status}</span><br>"
        f"{html.escape(_ORIGINS.get(unit.origin, unit.origin))}",
        f"<table>{_rows(figures)}</table>",
        (f"<b>Forward model</b> (± one standard deviation)<table>{_rows(theta)}</table>" if theta
         else f"<i>{html.escape(_NO_THETA)}</i>"),
    ]
    return "<p>" + "</p><p>".join(parts) + "</p>"


class UnitDetailsView(QWidget):
    """The selected unit of the :class:`ReviewState` given to :meth:`set_state`."""

    def __init__(self) -> None:
        super().__init__()
        self.label = QLabel("Select a unit in the table")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setContentsMargins(8, 6, 8, 6)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(self.label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)
        self._shown: MotorUnit | None = None

    def set_state(self, state: ReviewState) -> None:
        unit = state.selected_unit
        if unit is self._shown and unit is not None:
            return  # a live snapshot re-sends unchanged units
        self._shown = unit
        self.label.setText("Select a unit in the table" if unit is None else describe(unit))
