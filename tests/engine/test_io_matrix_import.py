"""Describing a bare matrix: its size read without its values, a grid proposed for its channel
count, and the description that opens it (and reopens it from a session)."""

from __future__ import annotations

import numpy as np
import pytest

from bmiss_engine import RecordingFormatError
from bmiss_engine.io import MatrixShape, TabularDescription, is_tabular, open_recording, peek_matrix
from bmiss_engine.io.matrix_import import CUSTOM_GRID, grid_codes_for, guess_shape


def test_peek_reads_the_size_in_either_layout(tmp_path) -> None:
    emg = np.random.default_rng(0).normal(0, 30, (6, 40))
    np.save(tmp_path / "a.npy", emg)  # (channels, samples)
    np.save(tmp_path / "b.npy", emg.T)  # (samples, channels)
    np.savetxt(tmp_path / "c.csv", emg.T, delimiter=",", header=",".join(f"ch{i}" for i in range(6)), comments="")
    np.savetxt(tmp_path / "d.txt", emg, delimiter="\t")  # one channel per row
    assert peek_matrix(tmp_path / "a.npy") == MatrixShape(6, 40, False)
    assert peek_matrix(tmp_path / "b.npy") == MatrixShape(6, 40, True)
    assert peek_matrix(tmp_path / "c.csv") == MatrixShape(6, 40, True)  # the header is not a sample
    assert peek_matrix(tmp_path / "d.txt") == MatrixShape(6, 40, False)
    assert all(is_tabular(tmp_path / n) for n in ("a.npy", "c.csv", "d.TXT"))
    assert not is_tabular("r.npz")


def test_peek_refuses_what_is_no_matrix(tmp_path) -> None:
    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 4)))
    (tmp_path / "empty.csv").write_text("\n\n")
    with pytest.raises(RecordingFormatError, match="2-D"):
        peek_matrix(tmp_path / "cube.npy")
    with pytest.raises(RecordingFormatError, match="no rows"):
        peek_matrix(tmp_path / "empty.csv")
    with pytest.raises(RecordingFormatError, match="cannot read"):
        peek_matrix(tmp_path / "missing.csv")


def test_grids_proposed_for_a_channel_count() -> None:
    assert [guess_shape(n) for n in (64, 32, 65, 128, 7)] == [(8, 8), (8, 4), (13, 5), (16, 8), (7, 1)]
    assert grid_codes_for(64)[0] == "GR08MM1305"
    assert grid_codes_for(32)[0] == "HD10MM0804"
    assert grid_codes_for(7) == []


def test_description_opens_the_matrix_and_round_trips(tmp_path) -> None:
    emg = np.random.default_rng(1).normal(0, 30, (6, 40))
    np.save(tmp_path / "a.npy", emg)
    custom = TabularDescription(CUSTOM_GRID, 2, 3, 5.0, 1000.0, "mV")
    assert custom.problem(6) == ""
    rec = open_recording(tmp_path / "a.npy", **custom.open_options(peek_matrix(tmp_path / "a.npy").n_channels))
    assert rec.grid.shape == (2, 3)
    assert rec.grid.ied_mm == 5.0
    assert rec.sampling_rate_hz == 1000.0
    np.testing.assert_allclose(rec.emg_v, emg * 1e-3, rtol=1e-6)
    assert TabularDescription.from_dict(custom.as_dict()) == custom
    # a custom grid that does not fit the channels says why, and cannot open the file
    wrong = TabularDescription(CUSTOM_GRID, 2, 2, 5.0, 1000.0)
    assert wrong.problem(6) == "2 × 2 = 4 electrodes, but the file has 6 channels: rows × columns must equal 6."
    with pytest.raises(RecordingFormatError, match="rows × columns must equal 6"):
        wrong.open_options(6)
    # a known grid fixes shape, spacing and channel order
    known = TabularDescription("GR08MM1305", 0, 0, 0.0, 2048.0)
    assert known.problem(64) == ""
    assert known.grid(64).shape == (13, 5)
    assert known.grid(64).ied_mm == 8.0


def test_peeking_at_a_damaged_npy_says_what_is_wrong(tmp_path) -> None:
    (tmp_path / "noise.npy").write_bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    with pytest.raises(RecordingFormatError, match="the file is damaged or of another kind") as info:
        peek_matrix(tmp_path / "noise.npy")
    assert "allow_pickle" not in str(info.value)
