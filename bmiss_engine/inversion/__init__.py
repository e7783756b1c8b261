"""BMISS inversion of the analytic forward model (DESIGN.md §3.4).

* ``mvdr``: extended recording, eigen-floor regularised inverse covariance, MVDR sources;
* ``columns``: extended mixing columns b̃(θ) of rendered MUAPs, window at peak energy;
* ``contrast``: excess kurtosis of standardised sources (optionally soft-clipped);
* ``waveform``: θ refined against a unit's spike-triggered MUAP, fibre count from the gain,
  Laplace (Gauss–Newton) standard deviations;
* ``settings``: the inversion's settings, the units it finds and its progress snapshots;
* ``residual``: an MVDR source's discharges, spike-triggered averages, MUAPs correlated with
  or subtracted from a recording;
* ``search``: Latin-hypercube probe with data-driven starts, batched Adam ascent on a loaded
  then a fine MVDR, restarts, detection, refinement, pooling, peel-off (:class:`ThetaSearch`),
  and its building blocks: an MVDR source's discharges (:func:`detect_mvdr_discharges`), a
  MUAP's sliding correlation with a recording (:func:`muap_correlation`) and a MUAP subtracted
  at given discharges (:func:`subtract_muap`).

Units found this way have no separation filter for ``Decomposer.transform`` yet: the MVDR
filter C⁻¹b̃ acts on the unfiltered recording, while ``SeparationModel`` band-passes first.
"""

from bmiss_engine.inversion.columns import extended_columns
from bmiss_engine.inversion.contrast import excess_kurtosis
from bmiss_engine.inversion.mvdr import MvdrEstimator
from bmiss_engine.inversion.residual import detect_mvdr_discharges, muap_correlation, subtract_muap
from bmiss_engine.inversion.search import SEARCHED_FIELDS, THETA_NAMES, ThetaSearch
from bmiss_engine.inversion.settings import (
    InversionConfig,
    InversionProgress,
    InvertedUnit,
    inversion_extension_factor,
)

__all__ = [
    "SEARCHED_FIELDS",
    "THETA_NAMES",
    "InversionConfig",
    "InversionProgress",
    "InvertedUnit",
    "MvdrEstimator",
    "ThetaSearch",
    "detect_mvdr_discharges",
    "excess_kurtosis",
    "extended_columns",
    "inversion_extension_factor",
    "muap_correlation",
    "subtract_muap",
]
