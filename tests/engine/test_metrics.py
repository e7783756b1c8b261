from __future__ import annotations

import csv
import importlib.util

import numpy as np
import pytest

from bmiss_engine.metrics import match_units
from bmiss_engine.separation.duplicates import rate_of_agreement
from tests.conftest import SHARED

FS = 2048.0


def test_identical_trains_at_a_lag_are_fully_matched() -> None:
    t = np.arange(100, 20000, 200)
    rep = match_units({"unit0": t}, {"a": t + 15}, FS)  # 15 samples ≈ 7 ms, inside ±10 ms
    m = rep.matches[0]
    assert (m.roa, m.sensitivity, m.precision) == (1.0, 1.0, 1.0)
    assert abs(m.lag_samples + 15) <= 2  # any lag within the ±1 ms tolerance of -15 matches all
    assert rep.n_identified == 1


def test_misses_and_false_discharges_lower_roa() -> None:
    t = np.arange(100, 20100, 200)  # 100 discharges
    est = np.concatenate([t[:80], np.arange(150, 5150, 200)])  # 80 hits, 25 false
    m = match_units([t], [np.sort(est)], FS).matches[0]
    assert m.roa == pytest.approx(80 / (100 + 105 - 80))
    assert m.sensitivity == pytest.approx(0.8)
    assert m.precision == pytest.approx(80 / 105)


def test_lag_beyond_10_ms_is_not_matched() -> None:
    t = np.arange(100, 20000, 300)
    assert rate_of_agreement(t, t + 40, FS) == 0.0


@pytest.mark.skipif(not (SHARED / "tools" / "score_csv.py").exists(), reason="shared scorer not present")
def test_agrees_with_the_reviewers_scorer(tmp_path) -> None:
    spec = importlib.util.spec_from_file_location("score_csv", SHARED / "tools" / "score_csv.py")
    scorer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scorer)
    rng = np.random.default_rng(0)
    truth = {f"unit{k}": np.sort(rng.choice(40000, 150, replace=False)) for k in range(6)}
    est = {}
    for k in range(5):
        base = truth[f"unit{k}"]
        keep = base[rng.random(base.size) < 0.7 + 0.06 * k]
        extra = rng.choice(40000, 10 * k, replace=False)
        est[str(k + 10)] = np.unique(np.concatenate([keep + rng.integers(-3, 4), extra]))
    np.savez(tmp_path / "truth.npz", **truth)
    with open(tmp_path / "est.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["unit_id", "sample", "time_s"])
        for k, v in est.items():
            for s in v:
                w.writerow([k, int(s), s / FS])
    n, total, med, n_est, rs = scorer.score(tmp_path / "truth.npz", tmp_path / "est.csv", FS)
    rep = match_units(truth, est, FS)
    assert (rep.n_identified, rep.n_true, rep.n_estimated) == (n, total, n_est)
    np.testing.assert_allclose([m.roa for m in rep.matches], rs, atol=1e-12)
    assert rep.median_roa_identified == pytest.approx(med)
