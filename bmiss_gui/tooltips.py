"""One-sentence explanations of the quality figures, shared by every place that shows them
(the units table's headers, the decomposition settings, the welcome panel, the user guide).

Users ask why a unit was rejected: the SIL text names the acceptance threshold.
"""

from __future__ import annotations

from bmiss_engine.config import AcceptanceSettings

DEFAULT_SIL_THRESHOLD: float = AcceptanceSettings.sil_threshold  # the engine's default acceptance bar


def sil_tip(threshold: float = DEFAULT_SIL_THRESHOLD) -> str:
    return (
        "SIL (silhouette, 0–1): how clearly the unit's discharge peaks stand apart from the rest of "
        f"its pulse train; a decomposition keeps only units with SIL ≥ {threshold:.2f} (the acceptance "
        "threshold in Decompose… settings), so a unit below it was rejected as too noisy to trust."
    )


PNR_TIP = (
    "PNR (pulse-to-noise ratio, dB): the pulse train's mean power at the discharges over its power "
    "elsewhere; above about 30 dB the discharge times are reliable."
)

COV_ISI_TIP = (
    "CoV ISI: the spread of the intervals between discharges relative to their mean; a steadily "
    "firing unit has about 0.1–0.3, and much more suggests missed or spurious discharges."
)

SIL_TIP = sil_tip()
