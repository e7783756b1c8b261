"""Every result writer, read back: the discharges come back identical; plus the layouts other
tools expect (BIDS events, the per-unit summary)."""

from __future__ import annotations

import csv
import json
import os

import pytest

from bmiss_engine import BmissError, RecordingFormatError
from bmiss_engine.io import open_result, write_result
from tests.engine.io_helpers import FS_HZ, assert_same_discharges, small_recording, small_result


@pytest.mark.parametrize("name", ["r.npz", "r.mat", "r.csv", "sub-01_task-ramp_events.tsv", "r.json"])
def test_writers_round_trip_the_discharges(tmp_path, name) -> None:
    result = small_result()
    write_result(result, tmp_path / name, recording=small_recording())
    back = open_result(tmp_path / name)
    assert_same_discharges(result, back)
    assert back.sampling_rate_hz == pytest.approx(FS_HZ)
    assert [f for f in os.listdir(tmp_path) if f.endswith(".tmp")] == []  # atomic: no leftovers


def test_bids_events_layout(tmp_path) -> None:
    result = small_result()
    path = tmp_path / "sub-01_task-ramp_events.tsv"
    write_result(result, path)
    rows = list(csv.DictReader(path.read_text().splitlines(), delimiter="\t"))
    assert list(rows[0]) == ["onset", "duration", "sample", "unit_id"]
    onsets = [float(r["onset"]) for r in rows]
    assert onsets == sorted(onsets)
    assert len(rows) == sum(u.n_discharges for u in result.units)
    assert all(float(r["onset"]) == pytest.approx(int(r["sample"]) / FS_HZ, abs=1e-6) for r in rows)
    sidecar = json.loads((tmp_path / "sub-01_task-ramp_events.json").read_text())
    assert sidecar["SamplingFrequency"] == FS_HZ
    assert "unit_id" in sidecar
    # without the sidecar the rate comes from onset/sample
    (tmp_path / "sub-01_task-ramp_events.json").unlink()
    assert open_result(path).sampling_rate_hz == FS_HZ


def test_unit_summary_csv(tmp_path) -> None:
    result = small_result()
    write_result(result, tmp_path / "r_summary.csv")
    rows = list(csv.DictReader((tmp_path / "r_summary.csv").read_text().splitlines()))
    assert [int(r["unit_id"]) for r in rows] == [0, 2, 5]
    for row, unit in zip(rows, result.units, strict=True):
        assert int(row["n_discharges"]) == unit.n_discharges
        assert float(row["mean_rate_hz"]) == pytest.approx(unit.mean_rate_hz, abs=1e-3)
        assert float(row["cov_isi"]) == pytest.approx(unit.cov_isi, abs=1e-4)
        assert float(row["sil"]) == pytest.approx(unit.sil, abs=1e-4)
        assert float(row["pnr_db"]) == pytest.approx(unit.pnr_db, abs=1e-2)
    assert float(rows[0]["mean_rate_hz"]) == pytest.approx(10.0, abs=0.5)


def test_unknown_result_format_and_bad_tables(tmp_path) -> None:
    with pytest.raises(BmissError, match=r"cannot write results as '\.xlsx'"):
        write_result(small_result(), tmp_path / "r.xlsx")
    assert not (tmp_path / "r.xlsx").exists()
    (tmp_path / "e_events.tsv").write_text("onset\tduration\n0.1\t0\n")
    with pytest.raises(RecordingFormatError, match="onset, sample and unit_id"):
        open_result(tmp_path / "e_events.tsv")
    (tmp_path / "d.csv").write_text("unit_id,sample,time_s\n0,x,0.1\n")
    with pytest.raises(RecordingFormatError, match="bad value"):
        open_result(tmp_path / "d.csv")
    (tmp_path / "r.bin").write_bytes(b"\x00\x01")
    with pytest.raises(RecordingFormatError, match="not a result file"):
        open_result(tmp_path / "r.bin")


def test_discharges_outside_the_recording_are_refused(tmp_path) -> None:
    (tmp_path / "d_events.tsv").write_text("onset\tduration\tsample\tunit_id\n-0.5\t0\t-1024\t0\n0.5\t0\t1024\t0\n")
    with pytest.raises(RecordingFormatError, match="outside the recording"):
        open_result(tmp_path / "d_events.tsv")


def test_bids_events_written_elsewhere(tmp_path) -> None:
    """An events table as other BIDS tools write it: extra columns, "n/a" durations, unsorted units."""
    lines = ["onset\tduration\ttrial_type\tsample\tunit_id",
             "0.0500\tn/a\tdischarge\t100\t7", "0.0250\tn/a\tdischarge\t50\t3", "0.1000\tn/a\tdischarge\t200\t7"]
    (tmp_path / "sub-02_task-x_events.tsv").write_text("\n".join(lines) + "\n")
    result = open_result(tmp_path / "sub-02_task-x_events.tsv")
    assert [u.unit_id for u in result.units] == [3, 7]
    assert result.unit(7).discharge_samples.tolist() == [100, 200]
    assert result.sampling_rate_hz == 2000.0


def test_npz_result_keeps_theta(tmp_path) -> None:
    """θ and its sd (hybrid and bmiss units) survive the result file, nan included; units
    without θ stay without."""
    result = small_result()
    theta = {"depth_mm": 4.5, "ml_mm": -3.0, "iz_mm": 12.25, "cv_m_s": 4.1, "n_fibres": 350.0}
    sd = {"depth_mm": 0.01, "ml_mm": 0.02, "iz_mm": 0.005, "cv_m_s": 0.003, "n_fibres": float("nan")}
    units = (result.units[0].replace(theta=theta, theta_sd=sd), *result.units[1:])
    write_result(result.with_units(units), tmp_path / "r.npz")
    back = open_result(tmp_path / "r.npz")
    assert back.units[0].theta == theta
    assert back.units[0].theta_sd is not None
    assert {k: v for k, v in back.units[0].theta_sd.items() if k != "n_fibres"} == {
        k: v for k, v in sd.items() if k != "n_fibres"}
    assert back.units[0].theta_sd["n_fibres"] != back.units[0].theta_sd["n_fibres"]  # nan
    assert all(u.theta is None for u in back.units[1:])


def test_the_origin_of_each_unit_survives_a_round_trip(tmp_path) -> None:
    """Units found through the forward model stay marked as such in a saved result."""
    import numpy as np

    from bmiss_engine import DecompositionResult, MotorUnit
    from bmiss_engine.io import read_result_npz, write_result

    fs, n = 2048.0, 4096
    units = tuple(MotorUnit(i, np.arange(100 + 37 * i, n, 200), np.zeros(n, np.float32), fs, origin=origin)
                  for i, origin in enumerate(("blind", "model")))
    write_result(DecompositionResult(units, fs, n), tmp_path / "r.npz")
    assert [u.origin for u in read_result_npz(tmp_path / "r.npz").units] == ["blind", "model"]
