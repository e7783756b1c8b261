"""One colour per motor unit, the same in every view (table swatch, pulse train, raster,
rates, MUAP grid)."""

from __future__ import annotations

from PySide6.QtGui import QColor

# Okabe–Ito and Tableau hues, ordered so neighbouring ids differ strongly; readable on light
# and dark backgrounds and distinguishable with the common colour-vision deficiencies
_PALETTE = (
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#B8A200",
    "#8C564B", "#7F3C8D", "#11A579", "#E73F74", "#3969AC", "#F2B701", "#80BA5A",
    "#E68310", "#008695", "#CF1C90", "#A5AA99",
)


class UnitColors:
    """Colour of a unit by id: a unit keeps its colour through edits (merge keeps the first)."""

    def color(self, unit_id: int) -> QColor:
        return QColor(_PALETTE[unit_id % len(_PALETTE)])

    def hex(self, unit_id: int) -> str:
        return _PALETTE[unit_id % len(_PALETTE)]

# the review status's text colour in the table, readable on the light and the dark theme
STATUS_COLOURS = {"unreviewed": "#7c8594", "accepted": "#16a34a", "flagged": "#d97706", "rejected": "#dc2626"}
# how much of a rejected unit's colour shows in plots (it is drawn over the background)
REJECTED_OPACITY = 0.25


def dimmed(colour: QColor, background: QColor, opacity: float = REJECTED_OPACITY) -> QColor:
    """``colour`` faded towards ``background`` (opaque: plots stay cheap to draw)."""
    def mix(a: int, b: int) -> int:
        return round(opacity * a + (1 - opacity) * b)

    return QColor(mix(colour.red(), background.red()), mix(colour.green(), background.green()),
                  mix(colour.blue(), background.blue()))
