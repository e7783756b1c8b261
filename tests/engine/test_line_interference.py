"""Power-line interference: found in the recording and notched, not left to cost units."""

from __future__ import annotations

import dataclasses

import numpy as np

from bmiss_engine import Decomposer, DecomposerConfig
from bmiss_engine.metrics import match_units
from bmiss_engine.separation import preprocess
from tests.engine._single_thread import single_torch_thread  # noqa: F401


def _with_hum(rec, line_hz: float, times_rms: float):  # type: ignore[no-untyped-def]
    """The recording with a sinusoid at ``line_hz`` on every channel (random phase), its RMS
    ``times_rms`` times the EMG's."""
    t = np.arange(rec.n_samples) / rec.sampling_rate_hz
    phase = np.random.default_rng(0).uniform(0, 2 * np.pi, (rec.n_channels, 1))
    rms = float(np.sqrt(np.mean(np.square(rec.emg_v, dtype=np.float64))))
    hum = times_rms * rms * np.sqrt(2) * np.sin(2 * np.pi * line_hz * t + phase)
    return dataclasses.replace(rec, emg_v=(rec.emg_v + hum).astype(np.float32))


def test_detection_finds_the_line_frequency_and_nothing_in_clean_emg(sim_short) -> None:
    rec, _ = sim_short
    fs = rec.sampling_rate_hz
    clean = preprocess.bandpass(rec.emg_v, fs, (20.0, 500.0))
    assert preprocess.detect_line_interference(clean, fs) is None
    for line_hz in (50.0, 60.0):
        hummed = preprocess.bandpass(_with_hum(rec, line_hz, 1.0).emg_v, fs, (20.0, 500.0))
        assert preprocess.detect_line_interference(hummed, fs) == line_hz


def test_a_strong_hum_costs_no_unit_when_notched(sim_short) -> None:
    """50 Hz at 10× the EMG's RMS: with the default (auto_notch) the units are those of the
    clean recording; the result says which frequency was notched."""
    rec, truth = sim_short
    config = DecomposerConfig().replace(n_iterations=48, device="cpu")
    clean = match_units(truth.discharge_samples, [u.discharge_samples for u in Decomposer(config).run(rec).units],
                        rec.sampling_rate_hz).n_identified
    hummed = _with_hum(rec, 50.0, 10.0)
    result = Decomposer(config).run(hummed)
    found = match_units(truth.discharge_samples, [u.discharge_samples for u in result.units],
                        rec.sampling_rate_hz).n_identified
    assert result.provenance["line_interference_hz"] == 50.0
    assert result.model is not None
    assert result.model.notch_hz == 50.0  # transform() notches new data the same way
    assert found >= clean - 1, (found, clean)
    off = Decomposer(config.replace(auto_notch=False)).run(hummed)
    assert off.provenance["line_interference_hz"] is None
