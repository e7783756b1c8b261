"""The motor-unit table: one row per unit with its quality figures, review status, and what
the forward model estimated of it (position, innervation zone, conduction velocity, size, each
± one standard deviation) with whether the model found the unit beyond blind separation."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from bmiss_engine import MotorUnit
from bmiss_engine.results import THETA_FIELDS
from bmiss_gui.colors import STATUS_COLOURS, UnitColors
from bmiss_gui.tooltips import COV_ISI_TIP, PNR_TIP, SIL_TIP
from bmiss_gui.views.review_state import ReviewState

Index = QModelIndex | QPersistentModelIndex

# θ shown in the table: (field, header, digits); the panel beside shows them all
_THETA_COLUMNS = (("depth_mm", "Depth mm", 1), ("ml_mm", "ML mm", 1), ("iz_mm", "IZ mm", 1),
                  ("cv_m_s", "CV m/s", 2), ("n_fibres", "Fibres", 0))
_FIELDS = {f.name: f for f in THETA_FIELDS}
COLUMNS = ("Unit", "Disch.", "Rate Hz", "CoV ISI", "SIL", "PNR dB", "Status", "Found by",
           *(header for _, header, _ in _THETA_COLUMNS))
STATUS_COLUMN = COLUMNS.index("Status")
ORIGIN_COLUMN = COLUMNS.index("Found by")
# the forward model's columns (origin and θ), hidden while no unit has any
MODEL_COLUMNS = range(ORIGIN_COLUMN, len(COLUMNS))
ORIGIN_TIP = ("How the unit was found: blind (by blind source separation, FastICA), model (by the forward "
              "model beyond what blind separation found: the hybrid's residual search, the bmiss method) or "
              "joint (by the joint method, on what the jointly decoded units leave)")
_COLUMN_TIPS = (
    "Motor unit id (stable through edits)", "Number of discharges",
    "Mean instantaneous discharge rate (pauses over 0.4 s left out)",
    COV_ISI_TIP, SIL_TIP, PNR_TIP,
    "Review status: unreviewed until you accept (A), flag (F) or reject (R) the unit",
    ORIGIN_TIP,
    *(f"{_FIELDS[name].label} ± one standard deviation, from the biophysical model (hybrid or bmiss method)"
      for name, _, _ in _THETA_COLUMNS),
)
# text the columns must fit besides their header
_SAMPLES = ("■ 000", "0000", "00.0", "0.00", "0.000", "00.0", "unreviewed", "model", "00.0 ± 0.0", "−00.0 ± 0.0",
            "−00.0 ± 0.0", "0.00 ± 0.00", "0000 ± 000")


def _number(value: float, digits: int) -> str:
    return "–" if not math.isfinite(value) else f"{value:.{digits}f}"


def theta_text(unit: MotorUnit, name: str, digits: int) -> str:
    """A model-estimated property ± its standard deviation, "–" for units without (FastICA)."""
    if not unit.theta or name not in unit.theta:
        return "–"
    value = _number(unit.theta[name], digits).replace("-", "−")
    sd = unit.theta_uncertainty.get(name, math.nan)
    return value if not math.isfinite(sd) else f"{value} ± {sd:.{digits}f}"


def has_model_values(units: tuple[MotorUnit, ...]) -> bool:
    """Whether any unit has θ or was found by the model (else the model columns are hidden)."""
    return any(u.theta or u.origin != "blind" for u in units)


class UnitsTableModel(QAbstractTableModel):
    """Rows follow the units given to :meth:`set_units`; cells are the units' derived
    properties, so they are recomputed for edited discharges by construction."""

    def __init__(self, colors: UnitColors | None = None) -> None:
        super().__init__()
        self._colors = colors or UnitColors()
        self._units: tuple[MotorUnit, ...] = ()

    @property
    def units(self) -> tuple[MotorUnit, ...]:
        return self._units

    def set_units(self, new: tuple[MotorUnit, ...]) -> None:
        old_ids = [u.unit_id for u in self._units]
        new_ids = [u.unit_id for u in new]
        if new_ids[: len(old_ids)] == old_ids:
            # same rows (figures changed) or units appended while decomposing: update in
            # place, so the selection and scroll position stay
            old = self._units
            self._units = new[: len(old_ids)]
            for row, (a, b) in enumerate(zip(old, self._units, strict=True)):
                if a is not b:
                    self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
            if len(new_ids) == len(old_ids):
                return
            self.beginInsertRows(QModelIndex(), len(old_ids), len(new_ids) - 1)
            self._units = new
            self.endInsertRows()
            return
        self.beginResetModel()
        self._units = new
        self.endResetModel()

    def row_of(self, unit_id: int) -> int | None:
        for row, u in enumerate(self._units):
            if u.unit_id == unit_id:
                return row
        return None

    # -- QAbstractTableModel ------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._units)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return _COLUMN_TIPS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        u = self._units[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(u, col)
        if role == Qt.ItemDataRole.DecorationRole and col == 0:
            return self._colors.color(u.unit_id)
        if role == Qt.ItemDataRole.ForegroundRole and col == STATUS_COLUMN:
            return QColor(STATUS_COLOURS[u.status])
        if role == Qt.ItemDataRole.FontRole and col == ORIGIN_COLUMN and u.origin != "blind":
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole and col == ORIGIN_COLUMN:
            return ORIGIN_TIP
        if role == Qt.ItemDataRole.TextAlignmentRole:
            left = col in (0, STATUS_COLUMN, ORIGIN_COLUMN)
            align = Qt.AlignmentFlag.AlignLeft if left else Qt.AlignmentFlag.AlignRight
            return int(align | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:
            return u.unit_id
        return None

    @staticmethod
    def _text(u: MotorUnit, col: int) -> str:
        if col >= ORIGIN_COLUMN + 1:
            name, _, digits = _THETA_COLUMNS[col - ORIGIN_COLUMN - 1]
            return theta_text(u, name, digits)
        return (
            str(u.unit_id), str(u.n_discharges), _number(u.mean_rate_hz, 1), _number(u.cov_isi, 2),
            _number(u.sil, 3), _number(u.pnr_db, 1), u.status, u.origin,
        )[col]


class UnitsTableView(QTableView):
    """The table widget; selecting rows asks for those units to be selected
    (``units_selected(ids)``, the current row's unit first)."""

    units_selected = Signal(object)  # tuple of unit ids

    def __init__(self, colors: UnitColors | None = None) -> None:
        super().__init__()
        self._selected_ids: tuple[int, ...] = ()
        self.units_model = UnitsTableModel(colors)
        self.setModel(self.units_model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(24)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.fit_columns()
        #: whether the forward model's columns show (only when some unit has θ)
        self.model_columns_shown: bool | None = None
        self._show_model_columns(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._syncing = False
        self.selectionModel().selectionChanged.connect(self._on_selection)
        self.units_model.modelReset.connect(self._show_selection)
        self.units_model.rowsInserted.connect(self._show_selection)

    def fit_columns(self) -> None:
        """Widths from the font and the header's style (bold, padded: measured by the style,
        so "PNR dB" is never cut to "PNR dE"), not from the rows: sizing to the contents would
        measure every row again each time a unit arrives during a decomposition."""
        header = self.horizontalHeader()
        metrics = self.fontMetrics()
        for col, sample in enumerate(_SAMPLES):
            needed = max(metrics.horizontalAdvance(sample) + 16, header.sectionSizeFromContents(col).width() + 4)
            header.resizeSection(col, needed)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.StyleChange, QEvent.Type.FontChange):
            self.fit_columns()  # a theme's style sheet changes the header's font and padding

    def _show_model_columns(self, shown: bool) -> None:
        if shown == self.model_columns_shown:
            return
        self.model_columns_shown = shown
        for col in MODEL_COLUMNS:
            self.setColumnHidden(col, not shown)

    def set_units(self, units: tuple[MotorUnit, ...]) -> None:
        self.units_model.set_units(units)
        self._show_model_columns(has_model_values(units))

    def set_selection(self, unit_ids: tuple[int, ...]) -> None:
        """Select the rows of these units (the first one current)."""
        self._selected_ids = tuple(unit_ids)
        self._show_selection()

    def set_state(self, state: ReviewState) -> None:
        """Rows and selection at once (the live path)."""
        self._selected_ids = state.selected_ids
        self.set_units(state.units)
        self._show_selection()

    def _on_selection(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        if self._syncing:
            return
        rows = sorted({i.row() for i in self.selectionModel().selectedRows()})
        # the first selected row is the unit the pulse train and MUAP views show
        current = self.currentIndex().row()
        if current in rows:
            rows.remove(current)
            rows.insert(0, current)
        self.units_selected.emit(tuple(self.units_model.units[r].unit_id for r in rows))

    def _show_selection(self) -> None:
        current = self.currentIndex()
        ids = self._selected_ids
        if current.isValid() and ids and self.units_model.units[current.row()].unit_id == ids[0] and len(
            self.selectionModel().selectedRows()) == len(ids):
            return  # already shown: re-selecting would repaint the table for nothing
        self._syncing = True
        try:
            sm = self.selectionModel()
            sm.clearSelection()
            for i, uid in enumerate(ids):
                row = self.units_model.row_of(uid)
                if row is None:
                    continue
                flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
                if i == 0:
                    sm.setCurrentIndex(self.units_model.index(row, 0), flags)
                else:
                    sm.select(self.units_model.index(row, 0), flags)
        finally:
            self._syncing = False
