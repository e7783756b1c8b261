from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from bmiss_engine import Decomposer, DecomposerConfig, RecordingFormatError
from bmiss_engine.io import open_recording, read_result_npz, write_npz, write_result


def test_plain_layout_round_trip(sim_short, tmp_path) -> None:
    rec, _ = sim_short
    write_npz(rec, tmp_path / "r.npz")
    back = open_recording(tmp_path / "r.npz")
    np.testing.assert_allclose(back.emg_v, rec.emg_v, rtol=1e-5, atol=1e-12)
    assert back.grid.shape == rec.grid.shape
    assert back.sampling_rate_hz == rec.sampling_rate_hz
    np.testing.assert_array_equal(back.grid.channel_rc, rec.grid.channel_rc)
    np.testing.assert_allclose(back.aux["excitation"], rec.aux["excitation"])


def test_channel_rc_defaults_to_row_major_and_units_convert(tmp_path) -> None:
    emg = np.ones((6, 100), dtype=np.float32)
    np.savez(tmp_path / "m.npz", emg=emg, fs_hz=1000.0, grid_shape=(2, 3), ied_mm=5.0, unit="mV")
    rec = open_recording(tmp_path / "m.npz")
    assert tuple(rec.grid.channel_rc[4]) == (1, 1)
    assert rec.emg_v[0, 0] == pytest.approx(1e-3)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"fs_hz": 2048.0, "grid_shape": (2, 2), "ied_mm": 8.0}, "missing 'emg'"),
        ({"emg": np.ones((4, 10)), "grid_shape": (2, 2), "ied_mm": 8.0}, "missing 'fs_hz'"),
        ({"emg": np.ones(40), "fs_hz": 2048.0, "grid_shape": (2, 2), "ied_mm": 8.0}, "2-D"),
        ({"emg": np.ones((5, 10)), "fs_hz": 2048.0, "grid_shape": (2, 2), "ied_mm": 8.0}, "do not fit"),
        ({"emg": np.full((4, 10), np.nan), "fs_hz": 2048.0, "grid_shape": (2, 2), "ied_mm": 8.0}, "NaN"),
        ({"emg": np.ones((4, 0)), "fs_hz": 2048.0, "grid_shape": (2, 2), "ied_mm": 8.0}, "empty"),
        ({"emg": np.ones((4, 10)), "fs_hz": 2048.0, "grid_shape": (2, 2), "ied_mm": 8.0, "unit": "kV"}, "unit"),
    ],
)
def test_bad_layouts_name_the_problem(tmp_path, arrays, message) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(RecordingFormatError, match=message) as info:
        open_recording(tmp_path / "bad.npz")
    assert "bad.npz" in str(info.value)


def test_unreadable_files_are_format_errors(tmp_path) -> None:
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / "x.otb+").write_bytes(b"something")
    (tmp_path / "x.xyz").write_bytes(b"something")
    for name, message in [("empty.npz", "empty"), ("junk.npz", "not a readable"), ("x.otb+", "not an .otb"),
                          ("x.xyz", "unsupported"), ("missing.npz", "no such file"), (".", "folder")]:
        with pytest.raises(RecordingFormatError, match=message):
            open_recording(tmp_path / name)


def test_result_writers_round_trip(sim_short, tmp_path) -> None:
    rec, _ = sim_short
    result = Decomposer(DecomposerConfig().replace(n_iterations=32)).run(rec)
    assert result.n_units > 0
    write_result(result, tmp_path / "r.npz")
    back = read_result_npz(tmp_path / "r.npz")
    assert [u.unit_id for u in back.units] == [u.unit_id for u in result.units]
    for a, b in zip(result.units, back.units, strict=True):
        np.testing.assert_array_equal(a.discharge_samples, b.discharge_samples)
        np.testing.assert_array_equal(a.separation_filter, b.separation_filter)
        assert a.sil == pytest.approx(b.sil)
    assert back.model.channels == result.model.channels
    # the restored model still applies to data
    again = Decomposer().transform(back, rec)
    np.testing.assert_array_equal(again.units[0].discharge_samples, result.units[0].discharge_samples)

    write_result(result, tmp_path / "r.csv")
    rows = np.loadtxt(tmp_path / "r.csv", delimiter=",", skiprows=1)
    assert rows.shape[0] == sum(u.n_discharges for u in result.units)
    np.testing.assert_allclose(rows[:, 2], rows[:, 1] / rec.sampling_rate_hz, atol=1e-6)

    write_result(result, tmp_path / "r.mat")
    mat = scipy.io.loadmat(tmp_path / "r.mat")
    np.testing.assert_array_equal(mat["MUPulses"][0, 0].ravel() - 1, result.units[0].discharge_samples)
    assert mat["IPTs"].shape == (result.n_units, rec.n_samples)
