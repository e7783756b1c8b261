"""Saturated channels: a channel clipped at its rails is left out of the decomposition, while
clean and quantised recordings keep every channel."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
from numpy.typing import NDArray

from bmiss_engine import DecomposerConfig
from bmiss_engine.io import open_recording
from bmiss_engine.methods.preparation import usable_channels
from bmiss_engine.recording import Recording
from bmiss_engine.resources import bundled_path
from bmiss_engine.separation import preprocess

CLIPPED = 28  # on the demo, the channel whose MUAPs peak highest


def _median_rms(emg: NDArray[np.floating]) -> float:
    return float(np.median(np.sqrt(np.mean(np.square(emg, dtype=np.float64), axis=1))))


def _saturated(rec: Recording, channel: int, gain: float = 20.0, rails: tuple[float, float] = (-7.0, 7.0)) -> Recording:
    """``rec`` with ``channel`` amplified ``gain`` times and clipped at ``rails`` times the median
    channel RMS: an amplifier driven into saturation, its RMS bounded by the rails."""
    emg = rec.emg_v.copy()
    m = _median_rms(emg)
    emg[channel] = np.clip(emg[channel] * gain, rails[0] * m, rails[1] * m)
    return dataclasses.replace(rec, emg_v=emg)


def _int16(emg: NDArray[np.floating], lsb_v: float | None = None) -> NDArray[np.int16]:
    """Counts of a 16-bit converter: full scale, or steps of ``lsb_v`` volts."""
    step = lsb_v if lsb_v is not None else float(np.abs(emg).max()) / 32767
    return np.clip(np.round(emg / step), -32768, 32767).astype(np.int16)


@pytest.fixture(scope="module")
def demo() -> Recording:
    return open_recording(bundled_path("resources", "demo_recording.npz"))


def test_a_clean_or_quantised_recording_has_no_saturated_channel(demo: Recording, sim_short) -> None:  # type: ignore[no-untyped-def]
    sim, _ = sim_short
    for rec in (demo, sim):
        fs = rec.sampling_rate_hz
        assert preprocess.detect_saturated_channels(rec.emg_v, fs) == ()
        # quantised data repeats values everywhere, and its peaks tie for a sample or two: even
        # at 10 uV a step (3 steps to the demo's median RMS) no channel has flat tops
        for lsb_v in (None, 0.5e-6, 10e-6):
            counts = _int16(rec.emg_v, lsb_v)
            assert preprocess.detect_saturated_channels(counts, fs) == (), lsb_v
            volts = counts.astype(np.float32) * np.float32(lsb_v or 1.0)
            assert preprocess.detect_saturated_channels(volts, fs) == (), lsb_v


def test_a_channel_clipped_at_its_rails_is_flagged(demo: Recording, sim_short) -> None:  # type: ignore[no-untyped-def]
    sim, _ = sim_short
    for rec in (demo, sim):
        fs = rec.sampling_rate_hz
        assert preprocess.detect_saturated_channels(_saturated(rec, 5).emg_v, fs) == (5,)
        # one rail only (an offset drives the amplifier against its positive supply)
        assert preprocess.detect_saturated_channels(_saturated(rec, 5, rails=(-100.0, 2.0)).emg_v, fs) == (5,)
        # and in converter counts
        assert preprocess.detect_saturated_channels(_int16(_saturated(rec, 5).emg_v), fs) == (5,)
    # a gain only 2x too high already sits in flat tops for over 1% of the time
    assert preprocess.detect_saturated_channels(_saturated(demo, CLIPPED, gain=2.0).emg_v, 2048.0) == (CLIPPED,)
    # a constant channel has no rails: the RMS rule's to catch
    flat = demo.emg_v.copy()
    flat[3] = 1e-6
    assert preprocess.detect_saturated_channels(flat, 2048.0) == ()


def test_usable_channels_leaves_a_saturated_channel_out(demo: Recording, caplog: pytest.LogCaptureFixture) -> None:
    clipped = _saturated(demo, CLIPPED)
    fs = demo.sampling_rate_hz
    # the RMS rule alone keeps it: its RMS, held by the rails, is within 10x of the median
    assert CLIPPED not in preprocess.detect_bad_channels(preprocess.bandpass(clipped.emg_v, fs))
    config = DecomposerConfig()
    with caplog.at_level(logging.WARNING, logger="bmiss_engine.methods.preparation"):
        usable = usable_channels(clipped, config)
    assert usable.channels == [c for c in range(demo.n_channels) if c != CLIPPED]
    assert usable.excluded == {CLIPPED: "saturated"}
    assert usable.filtered.shape == (demo.n_channels - 1, demo.n_samples)
    assert f"[{CLIPPED}] as saturated" in caplog.text
    # the clean demo keeps every channel; with detection off the clipped channel stays
    assert usable_channels(demo, config).channels == list(range(demo.n_channels))
    kept = usable_channels(clipped, config.replace(auto_bad_channels=False))
    assert CLIPPED in kept.channels
    assert kept.excluded == {}


def test_a_channel_marked_bad_is_not_reported_again(demo: Recording) -> None:
    """Detection runs on the good channels only; the excluded channel keeps its own index."""
    marked = dataclasses.replace(_saturated(demo, CLIPPED), grid=demo.grid.with_bad_channels((0, 1)))
    usable = usable_channels(marked, DecomposerConfig())
    assert usable.excluded == {CLIPPED: "saturated"}
    assert usable.channels == [c for c in range(2, demo.n_channels) if c != CLIPPED]


def test_the_result_names_the_channels_left_out(sim_short) -> None:  # type: ignore[no-untyped-def]
    """What detection left out is in the result (the window's status bar and the CLI's summary
    read it from there), each channel with its reason."""
    from bmiss_engine import Decomposer

    sim, _ = sim_short
    small = {"n_iterations": 8, "batch_size": 8, "patience_batches": 1, "polish": False}
    result = Decomposer(DecomposerConfig().replace(**small)).run(_saturated(sim, 5))
    assert result.provenance["channels_left_out"] == {"5": "saturated"}
    assert 5 not in result.model.channels
    clean = Decomposer(DecomposerConfig().replace(**small)).run(sim)
    assert clean.provenance["channels_left_out"] == {}
