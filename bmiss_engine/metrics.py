"""Ground-truth matching with the field's definitions (MUniverse's evaluation).

For each pair (true unit, estimated unit): the best lag within ±10 ms, then true discharges
with an estimated discharge within ±1 ms are common; RoA = common / (common + only-true +
only-estimated); sensitivity = common / n_true; precision = common / n_estimated. Pairs are
matched one-to-one, greedily by RoA. A true unit is identified when RoA ≥ 0.8. These rules
are those of ``shared/tools/score_csv.py``, and give the same figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.separation.duplicates import matched_count

IDENTIFIED_ROA = 0.8


@dataclass(frozen=True)
class UnitMatch:
    """Match of one true unit: ``estimated`` is the key of its estimated unit or None."""

    true_key: str
    estimated: str | None
    roa: float
    sensitivity: float
    precision: float
    lag_samples: int


@dataclass(frozen=True)
class MatchReport:
    """All true units' matches and the summary figures."""

    matches: tuple[UnitMatch, ...]
    n_estimated: int

    @property
    def n_true(self) -> int:
        return len(self.matches)

    @property
    def identified(self) -> tuple[UnitMatch, ...]:
        return tuple(m for m in self.matches if m.roa >= IDENTIFIED_ROA)

    @property
    def n_identified(self) -> int:
        return len(self.identified)

    @property
    def median_roa_identified(self) -> float:
        ident = [m.roa for m in self.identified]
        return float(np.median(ident)) if ident else 0.0

    def summary(self) -> str:
        return (f"identified {self.n_identified}/{self.n_true} (RoA>=0.8), median RoA "
                f"{self.median_roa_identified:.3f}, {self.n_estimated} units reported")


def _pair(true: NDArray[np.int64], est: NDArray[np.int64], max_lag: int, tol: int) -> tuple[float, float, float, int]:
    if true.size == 0 or est.size == 0:
        return 0.0, 0.0, 0.0, 0
    common, lag = matched_count(true, est, max_lag, tol)
    common = min(common, est.size)
    roa = common / (true.size + est.size - common)
    return roa, common / true.size, common / est.size, lag


def match_units(
    truth: Mapping[str, NDArray[np.integer]] | Sequence[NDArray[np.integer]],
    estimated: Mapping[str, NDArray[np.integer]] | Sequence[NDArray[np.integer]],
    sampling_rate_hz: float,
    max_lag_s: float = 0.010,
    tolerance_s: float = 0.001,
) -> MatchReport:
    """Match true to estimated discharge trains (sample indices); see the module docstring."""
    t = _as_mapping(truth)
    e = _as_mapping(estimated)
    max_lag = round(max_lag_s * sampling_rate_hz)
    tol = round(tolerance_s * sampling_rate_hz)
    scored = []
    for tk, tv in t.items():
        for ek, ev in e.items():
            scored.append((_pair(tv, ev, max_lag, tol), tk, ek))
    scored.sort(key=lambda s: (s[0][0], s[1], s[2]), reverse=True)
    used_t: set[str] = set()
    used_e: set[str] = set()
    best: dict[str, UnitMatch] = {}
    for (roa, sens, prec, lag), tk, ek in scored:
        if tk in used_t or ek in used_e:
            continue
        used_t.add(tk)
        used_e.add(ek)
        best[tk] = UnitMatch(tk, ek, roa, sens, prec, lag)
    matches = tuple(best.get(k, UnitMatch(k, None, 0.0, 0.0, 0.0, 0)) for k in t)
    return MatchReport(matches, len(e))


def _as_mapping(trains: Mapping[str, NDArray[np.integer]] | Sequence[NDArray[np.integer]]) -> dict[str, NDArray[np.int64]]:
    items = trains.items() if isinstance(trains, Mapping) else ((str(i), v) for i, v in enumerate(trains))
    return {str(k): np.sort(np.asarray(v, dtype=np.int64)) for k, v in items}
