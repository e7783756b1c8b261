"""The reference signal other tools draw under the units (force, torque, the target a subject
followed): which auxiliary channel it is, and openhdemg's scale for it (% MVC)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.errors import ConfigError
from bmiss_engine.recording import Recording

# names, lower case, in the order they are preferred: what DEMUSE, openhdemg and OTB files call it
REFERENCE_NAMES = ("ref_signal", "force", "torque", "target", "path")


def reference_channel(recording: Recording) -> tuple[str, NDArray[np.float32]] | None:
    """The auxiliary channel that is the reference: the first of :data:`REFERENCE_NAMES` present
    (any case, so OTB's "Force" counts), else the first auxiliary channel; None without any."""
    by_name = {name.lower(): name for name in recording.aux}
    for wanted in REFERENCE_NAMES:
        if wanted in by_name:
            name = by_name[wanted]
            return name, recording.aux[name]
    for name, values in recording.aux.items():
        return name, values
    return None


def percent_of_mvc(values: NDArray[np.floating], mvc: float | None = None) -> NDArray[np.float64]:
    """``values`` in % of the maximal voluntary contraction, as openhdemg expects its
    ``REF_SIGNAL``: ``100 · values / mvc`` with ``mvc`` in the channel's own unit.

    Without an MVC (a recording does not state one), the channel's largest magnitude stands for
    it: the result then runs to 100 at the strongest moment of this recording, which is % of the
    recording's peak, not of a true MVC. A channel of zeros stays zeros.
    """
    x = np.asarray(values, dtype=np.float64)
    if mvc is not None:
        if not (np.isfinite(mvc) and mvc > 0):
            raise ConfigError(f"the MVC must be a positive number, got {mvc}")
        scale = float(mvc)
    else:
        finite = np.abs(x[np.isfinite(x)])
        scale = float(finite.max()) if finite.size else 0.0
    if scale == 0.0:
        return np.zeros_like(x)
    out: NDArray[np.float64] = 100.0 * x / scale
    return out
