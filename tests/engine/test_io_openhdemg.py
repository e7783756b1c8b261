"""openhdemg .json: files built here as ``save_json_emgfile`` writes them (gzip; every value a
JSON text; tables in pandas' split orient), and ours read the way ``emg_from_json`` reads."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from bmiss_engine import RecordingFormatError
from bmiss_engine.io import open_recording, open_result, write_result
from bmiss_engine.recording import ElectrodeGrid
from tests.engine.io_helpers import assert_same_discharges, small_recording, small_result


def _split(values: np.ndarray) -> str:
    values = np.atleast_2d(values)
    rows = [[None if v != v else v for v in row] for row in values.tolist()]  # pandas writes NaN as null
    return json.dumps({"columns": list(range(values.shape[1])), "index": list(range(values.shape[0])), "data": rows})


def _openhdemg_file(path, source: str, emg: np.ndarray, pulses: list[list[int]], ipts: np.ndarray) -> None:
    n = emg.shape[0]
    firing = np.zeros((n, len(pulses)))
    for j, p in enumerate(pulses):
        firing[p, j] = 1
    emgfile = {
        "SOURCE": json.dumps(source), "FILENAME": json.dumps("trial.mat"),
        "RAW_SIGNAL": _split(emg), "REF_SIGNAL": _split(np.linspace(0, 50, n)[:, None]),
        "ACCURACY": _split(np.array([[0.91], [0.95]])), "IPTS": _split(ipts),
        "MUPULSES": json.dumps(pulses), "FSAMP": json.dumps(2048.0), "IED": json.dumps(8.0),
        "EMG_LENGTH": json.dumps(n), "NUMBER_OF_MUS": json.dumps(len(pulses)),
        "BINARY_MUS_FIRING": _split(firing), "EXTRAS": json.dumps({"columns": [], "index": [], "data": []}),
    }
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=4) as fh:
        json.dump(emgfile, fh)


@pytest.mark.parametrize(("source", "volts_per_unit"), [("OTB", 1e-6), ("DEMUSE", 1e-3)])
def test_openhdemg_file_gives_emg_and_units(tmp_path, source, volts_per_unit) -> None:
    rng = np.random.default_rng(4)
    emg = rng.normal(0, 10, (600, 6))  # samples × channels
    pulses = [[10, 200, 400], [55, 300]]
    ipts = rng.random((600, 2))
    _openhdemg_file(tmp_path / "f.json", source, emg, pulses, ipts)
    rec = open_recording(tmp_path / "f.json")
    assert rec.file_format == "openhdemg"
    assert rec.n_channels == 6
    assert rec.sampling_rate_hz == 2048.0
    np.testing.assert_allclose(rec.emg_v, emg.T * volts_per_unit, rtol=1e-6)
    assert rec.grid.shape == (6, 1)  # openhdemg keeps no layout
    assert rec.aux["ref_signal"][-1] == pytest.approx(50.0)
    laid_out = open_recording(tmp_path / "f.json", grid=ElectrodeGrid.full(2, 3, 8.0))
    assert laid_out.grid.shape == (2, 3)
    result = open_result(tmp_path / "f.json")
    assert [u.discharge_samples.tolist() for u in result.units] == pulses
    np.testing.assert_allclose(result.units[1].pulse_train, ipts[:, 1], rtol=1e-6)


def test_our_json_has_openhdemg_layout_and_round_trips(tmp_path) -> None:
    rec, result = small_recording(), small_result()
    write_result(result, tmp_path / "r.json", recording=rec)
    with gzip.open(tmp_path / "r.json", "rt", encoding="utf-8") as fh:
        outer = json.load(fh)
    assert all(isinstance(v, str) for v in outer.values())  # emg_from_json json.loads every value
    assert json.loads(outer["SOURCE"]) in ("DEMUSE", "OTB", "CUSTOMCSV", "DELSYS")
    firing = json.loads(outer["BINARY_MUS_FIRING"])
    assert np.asarray(firing["data"]).shape == (rec.n_samples, result.n_units)
    assert json.loads(outer["NUMBER_OF_MUS"]) == 3
    assert json.loads(outer["EMG_LENGTH"]) == rec.n_samples
    raw = json.loads(outer["RAW_SIGNAL"])
    np.testing.assert_allclose(np.asarray(raw["data"]).T * 1e-6, rec.emg_v, rtol=1e-6)
    back = open_recording(tmp_path / "r.json")
    np.testing.assert_array_equal(back.grid.channel_rc, rec.grid.channel_rc)
    np.testing.assert_allclose(back.emg_v, rec.emg_v, rtol=1e-6)
    assert_same_discharges(result, open_result(tmp_path / "r.json"))


def test_bad_json_names_the_problem(tmp_path) -> None:
    (tmp_path / "a.json").write_text('{"x": 1}')
    with pytest.raises(RecordingFormatError, match="no SOURCE"):
        open_recording(tmp_path / "a.json")
    (tmp_path / "b.json").write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(RecordingFormatError, match="not an openhdemg"):
        open_recording(tmp_path / "b.json")
    (tmp_path / "c.json").write_text(json.dumps({"SOURCE": json.dumps("OTB_REFSIG"), "FSAMP": "2048"}))
    with pytest.raises(RecordingFormatError, match="holds no EMG"):
        open_recording(tmp_path / "c.json")


def test_empty_channel_of_a_demuse_conversion_is_dropped(tmp_path) -> None:
    emg = np.random.default_rng(1).normal(0, 0.01, (300, 4))
    emg[:, 0] = np.nan  # openhdemg's emg_from_demuse keeps SIG's empty corner as a column of NaN
    _openhdemg_file(tmp_path / "d.json", "DEMUSE", emg, [[5, 50]], np.random.default_rng(2).random((300, 1)))
    rec = open_recording(tmp_path / "d.json")
    assert rec.n_channels == 3
    np.testing.assert_allclose(rec.emg_v, emg[:, 1:].T * 1e-3, rtol=1e-6)
