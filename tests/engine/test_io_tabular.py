"""Bare .npy and CSV matrices, described by the caller."""

from __future__ import annotations

import numpy as np
import pytest

from bmiss_engine import RecordingFormatError
from bmiss_engine.io import open_recording, write_npz
from bmiss_engine.recording import ElectrodeGrid
from tests.engine.io_helpers import small_recording

GRID = ElectrodeGrid.full(2, 3, 5.0)


def test_npy_in_either_orientation(tmp_path) -> None:
    emg = np.arange(6 * 40, dtype=np.float64).reshape(6, 40)
    np.save(tmp_path / "a.npy", emg)
    np.save(tmp_path / "b.npy", emg.T)
    for name in ("a.npy", "b.npy"):
        rec = open_recording(tmp_path / name, grid=GRID, sampling_rate_hz=1000.0)
        assert rec.n_channels == 6
        assert rec.n_samples == 40
        assert rec.grid.ied_mm == 5.0
        np.testing.assert_allclose(rec.emg_v, emg * 1e-6, rtol=1e-6)
    mv = open_recording(tmp_path / "a.npy", grid=GRID, sampling_rate_hz=1000.0, emg_unit="mV")
    assert mv.emg_v[0, 1] == pytest.approx(1e-3)


def test_csv_with_header_one_row_per_sample(tmp_path) -> None:
    emg = np.random.default_rng(0).normal(0, 50, (30, 6))
    lines = ["ch1;ch2;ch3;ch4;ch5;ch6"] + [";".join(f"{v:.6f}" for v in row) for row in emg]
    (tmp_path / "e.csv").write_text("\n".join(lines) + "\n")
    rec = open_recording(tmp_path / "e.csv", grid=GRID, sampling_rate_hz=2048.0)
    np.testing.assert_allclose(rec.emg_v, emg.T * 1e-6, rtol=1e-5, atol=1e-12)
    assert rec.file_format == "csv"
    assert rec.sampling_rate_hz == 2048.0


def test_missing_description_and_mismatch(tmp_path) -> None:
    np.save(tmp_path / "a.npy", np.ones((6, 40)))
    with pytest.raises(RecordingFormatError, match="no grid nor sampling rate"):
        open_recording(tmp_path / "a.npy")
    with pytest.raises(RecordingFormatError, match="do not match the 4 channels"):
        open_recording(tmp_path / "a.npy", grid=ElectrodeGrid.full(2, 2, 5.0), sampling_rate_hz=1000.0)
    (tmp_path / "r.csv").write_text("1,2,3\n4,5\n")
    with pytest.raises(RecordingFormatError, match="ragged"):
        open_recording(tmp_path / "r.csv", grid=ElectrodeGrid.full(1, 3, 5.0), sampling_rate_hz=1000.0)
    np.save(tmp_path / "s.npy", np.array(["a", "b"]))
    with pytest.raises(RecordingFormatError, match="real numbers"):
        open_recording(tmp_path / "s.npy", grid=GRID, sampling_rate_hz=1000.0)


def test_given_rate_must_agree_with_the_file(tmp_path) -> None:
    write_npz(small_recording(), tmp_path / "r.npz")
    with pytest.raises(RecordingFormatError, match="the file says 2048 Hz but 1000 Hz was given"):
        open_recording(tmp_path / "r.npz", sampling_rate_hz=1000.0)
    with pytest.raises(RecordingFormatError, match="given grid has 6 channels, the file 11"):
        open_recording(tmp_path / "r.npz", grid=GRID)
