"""BMISS inversion of the analytic forward model (DESIGN.md §3.4).

* ``mvdr``: extended recording, eigen-floor regularised inverse covariance, MVDR sources;
* ``columns``: extended mixing columns b̃(θ) of rendered MUAPs, window at peak energy;
* ``contrast``: excess kurtosis of standardised sources;
* ``search``: Latin-hypercube probe, batched Adam ascent, restarts, detection, pooling,
  peel-off, θ with uncertainty (:class:`ThetaSearch`).
"""

from bmiss_engine.inversion.columns import extended_columns
from bmiss_engine.inversion.contrast import excess_kurtosis
from bmiss_engine.inversion.mvdr import MvdrEstimator
from bmiss_engine.inversion.search import (
    SEARCHED_FIELDS,
    THETA_NAMES,
    InversionConfig,
    InversionProgress,
    InvertedUnit,
    ThetaSearch,
)

__all__ = [
    "SEARCHED_FIELDS",
    "THETA_NAMES",
    "InversionConfig",
    "InversionProgress",
    "InvertedUnit",
    "MvdrEstimator",
    "ThetaSearch",
    "excess_kurtosis",
    "extended_columns",
]
