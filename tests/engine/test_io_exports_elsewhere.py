"""Exports that open in the tool they name: each file is read back here the way that tool reads
it (the same loader call, the same fields, the same indexing), not by our own readers.

- openhdemg's DEMUSE loader (``openhdemg.library.openfiles.emg_from_demuse``) calls
  ``scipy.io.loadmat(path, simplify_cells=True)`` and reads ``ref_signal`` (a vector, REF_SIGNAL
  in % MVC), ``IPTs`` (units × samples, transposed to samples × units, whose shape gives
  EMG_LENGTH and NUMBER_OF_MUS), ``int(fsamp)``, ``int(IED)`` (a KeyError without it: the
  reported failure), ``list(MUPulses)`` minus 1, and ``SIG.ravel(order="F")`` with each cell
  raveled into one channel column.
- MUedit's editor (``MUedit_exported.m``, ImportdataButtonPushed) does
  ``load(file, 'parameters', 'signal')`` and reads ``signal.Pulsetrain{i}`` (units × samples),
  ``signal.Dischargetimes{i,j}`` (1-based, used as indices into the time axis),
  ``signal.fsamp``, ``size(signal.data, 1)``, ``signal.ngrid``, ``signal.EMGmask{i}`` (one entry
  per channel of grid i; their lengths must add up to the rows of ``signal.data``),
  ``signal.emgtype(i)``, ``signal.target`` (plotted as target/max) and ``signal.auxiliary`` /
  ``auxiliaryname``; its Save writes ``app.MUedition.parameters`` back, so ``parameters`` must be
  a struct in the file.
- openhdemg's ``emg_from_json`` gunzips, ``json.loads`` every value, accepts SOURCE in
  DEMUSE/OTB/CUSTOMCSV/DELSYS/OPENHDEMG, reads the tables with ``pd.read_json(orient="split")``
  and casts their columns and index to int, and takes REF_SIGNAL in % MVC.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import scipy.io

from bmiss_engine.errors import BmissError
from bmiss_engine.io import RESULT_FORMATS, open_recording, open_result, result_format, write_result
from bmiss_engine.io.export import result_writer
from bmiss_engine.recording import ElectrodeGrid, Recording
from tests.engine.io_helpers import FS_HZ, N_SAMPLES, assert_same_discharges, small_recording, small_result


def _recording_with_force_in_volts() -> Recording:
    """small_recording with its force as an AUX input would give it: volts, peak 0.25 V."""
    rec = small_recording()
    force_v = 0.25 * np.sin(np.linspace(0, np.pi, rec.n_samples)).astype(np.float32)
    return Recording(rec.emg_v, rec.sampling_rate_hz, rec.grid, {"Force": force_v}, rec.source, rec.file_format)


def test_mat_opens_in_openhdemg_demuse_loader(tmp_path) -> None:
    rec, result = _recording_with_force_in_volts(), small_result()
    write_result(result, tmp_path / "r.mat", recording=rec)
    mat = scipy.io.loadmat(tmp_path / "r.mat", simplify_cells=True)  # as emg_from_demuse loads it
    ipts = np.asarray(mat["IPTs"]).T  # pd.DataFrame(mat["IPTs"]).transpose()
    emg_length, number_of_mus = ipts.shape
    assert (emg_length, number_of_mus) == (N_SAMPLES, 3)
    assert int(mat["fsamp"]) == int(FS_HZ)
    assert int(mat["IED"]) == 8
    pulses = [p - 1 for p in list(mat["MUPulses"])]
    for mine, theirs in zip(result.units, pulses, strict=True):
        np.testing.assert_array_equal(theirs, mine.discharge_samples)
    channels = list(map(np.ravel, mat["SIG"].ravel(order="F")))  # one column per cell, column-major
    assert len(channels) == rec.grid.n_rows * rec.grid.n_columns  # the empty corner is an empty column
    by_position = {(k % rec.grid.n_rows, k // rec.grid.n_rows): c for k, c in enumerate(channels)}
    assert by_position[(0, 0)].size == 0
    for k, (r, c) in enumerate(rec.grid.channel_rc):
        np.testing.assert_allclose(by_position[(r, c)] * 1e-3, rec.emg_v[k], rtol=1e-5, atol=1e-12)  # mV
    ref = np.asarray(mat["ref_signal"], dtype=np.float64)  # pd.DataFrame(mat["ref_signal"]): one column
    assert ref.shape == (N_SAMPLES,)
    assert ref.max() == pytest.approx(100.0, rel=1e-5)  # % MVC: openhdemg warns above 100


def test_mat_with_one_unit_keeps_openhdemg_single_unit_shapes(tmp_path) -> None:
    rec, result = small_recording(), small_result()
    one = result.with_units(result.units[:1])
    write_result(one, tmp_path / "one.mat", recording=rec)
    mat = scipy.io.loadmat(tmp_path / "one.mat", simplify_cells=True)
    assert np.asarray(mat["IPTs"]).shape == (N_SAMPLES,)  # emg_from_demuse's "single MU" branch
    pulses = np.array(list(mat["MUPulses"])) - 1  # its `MUPULSES = [np.array(MUPULSES)]`
    np.testing.assert_array_equal(pulses, one.units[0].discharge_samples)


@pytest.mark.parametrize("name", ["r.mat", "r_muedit.mat"])
def test_mat_opens_in_muedit_editor(tmp_path, name) -> None:
    rec, result = _recording_with_force_in_volts(), small_result()
    write_result(result, tmp_path / name, recording=rec)
    # MATLAB's load: structs keep their fields, cells stay cells, nothing squeezed
    files = scipy.io.loadmat(tmp_path / name, squeeze_me=False, struct_as_record=False)
    assert {"signal", "parameters"} <= set(files)
    signal, parameters = files["signal"][0, 0], files["parameters"][0, 0]
    for field in ("NITER", "silthr", "covthr", "nbextchan", "contrastfunc", "peeloffwin", "edges", "CoVDR"):
        assert hasattr(parameters, field), field
    assert float(parameters.NITER[0, 0]) == result.config.get("separation", {}).get("n_iterations", 150)
    fsamp = float(signal.fsamp[0, 0])
    data = np.asarray(signal.data)
    n_grids = int(signal.ngrid[0, 0])
    assert (fsamp, data.shape, n_grids) == (FS_HZ, (rec.n_channels, N_SAMPLES), 1)
    masks = [np.asarray(signal.EMGmask[0, i]).ravel() for i in range(n_grids)]  # EMGmask{i}
    assert sum(m.size for m in masks) == data.shape[0]  # edition.arraynb covers every row of data
    assert masks[0].tolist() == [1.0 if k in rec.grid.bad_channels else 0.0 for k in range(rec.n_channels)]
    assert float(np.asarray(signal.emgtype).ravel()[0]) == 1.0  # emgtype(i): surface EMG
    train = np.asarray(signal.Pulsetrain[0, 0])  # Pulsetrain{1}
    assert train.shape == (result.n_units, data.shape[1])
    time = np.linspace(0, train.shape[1] / fsamp, train.shape[1])
    for j, unit in enumerate(result.units):
        times = np.asarray(signal.Dischargetimes[0, j]).ravel()  # Dischargetimes{1, j}, 1-based
        assert times.min() >= 1
        assert times.max() <= time.size
        np.testing.assert_array_equal(times.astype(np.int64) - 1, unit.discharge_samples)
    np.testing.assert_allclose(data * 1e-3, rec.emg_v, rtol=1e-5, atol=1e-12)
    assert np.asarray(signal.target).size == N_SAMPLES
    assert np.asarray(signal.target).max() > 0
    assert [str(n[0]) for n in signal.auxiliaryname.ravel()] == ["Force"]
    back = open_result(tmp_path / name)
    assert_same_discharges(result, back)


def test_muedit_only_file_has_no_demuse_copy(tmp_path) -> None:
    rec, result = small_recording(), small_result()
    write_result(result, tmp_path / "r_muedit.mat", recording=rec)
    names = set(scipy.io.whosmat(tmp_path / "r_muedit.mat"))
    # MUedit's two structs and our per-unit model information (which MUedit passes over)
    assert names == {("signal", (1, 1), "struct"), ("parameters", (1, 1), "struct"), ("bmiss", (1, 1), "struct")}
    np.testing.assert_allclose(open_recording(tmp_path / "r_muedit.mat").emg_v, rec.emg_v, rtol=1e-5, atol=1e-12)


def _emg_from_json_view(path) -> dict:
    """What openhdemg's emg_from_json does before building its DataFrames."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        outer = json.load(fh)
    view = {key: json.loads(value) for key, value in outer.items()}
    assert view["SOURCE"] in ("DEMUSE", "OTB", "CUSTOMCSV", "DELSYS", "OPENHDEMG")
    for table in ("RAW_SIGNAL", "REF_SIGNAL", "ACCURACY", "IPTS", "BINARY_MUS_FIRING"):
        split = view[table]
        [int(c) for c in split["columns"]]  # .columns.astype(int)
        [int(i) for i in split["index"]]  # .index.astype(int)
        assert len(split["data"]) == len(split["index"])
    float(view["FSAMP"]), float(view["IED"]), int(view["EMG_LENGTH"]), int(view["NUMBER_OF_MUS"])
    return view


def test_json_ref_signal_is_percent_of_mvc(tmp_path) -> None:
    rec, result = _recording_with_force_in_volts(), small_result()
    write_result(result, tmp_path / "peak.json", recording=rec)
    ref = np.asarray(_emg_from_json_view(tmp_path / "peak.json")["REF_SIGNAL"]["data"])[:, 0]
    np.testing.assert_allclose(ref, 100 * rec.aux["Force"] / 0.25, rtol=1e-5, atol=1e-6)  # % of its own peak
    write_result(result, tmp_path / "mvc.json", recording=rec, ref_mvc=0.5)  # the MVC was 0.5 V
    ref = np.asarray(_emg_from_json_view(tmp_path / "mvc.json")["REF_SIGNAL"]["data"])[:, 0]
    assert ref.max() == pytest.approx(50.0, rel=1e-5)
    back = open_recording(tmp_path / "mvc.json")
    assert back.aux["ref_signal"].max() == pytest.approx(50.0, rel=1e-5)
    with pytest.raises(BmissError, match="MVC must be a positive number"):
        write_result(result, tmp_path / "bad.json", recording=rec, ref_mvc=0.0)


def test_json_without_recording_or_reference_has_zeros(tmp_path) -> None:
    rec, result = small_recording(), small_result()
    bare = Recording(rec.emg_v, rec.sampling_rate_hz, rec.grid, {}, rec.source, rec.file_format)
    write_result(result, tmp_path / "bare.json", recording=bare)
    assert not np.any(np.asarray(_emg_from_json_view(tmp_path / "bare.json")["REF_SIGNAL"]["data"]))
    write_result(result, tmp_path / "units.json")
    view = _emg_from_json_view(tmp_path / "units.json")
    assert int(view["NUMBER_OF_MUS"]) == 3


def test_openhdemg_0_2_source_is_read(tmp_path) -> None:
    rec, result = small_recording(), small_result()
    write_result(result, tmp_path / "r.json", recording=rec)
    with gzip.open(tmp_path / "r.json", "rt", encoding="utf-8") as fh:
        outer = json.load(fh)
    outer["SOURCE"] = json.dumps("OPENHDEMG")  # what openhdemg 0.2 writes for its own modules
    (tmp_path / "o.json").write_bytes(gzip.compress(json.dumps(outer).encode()))
    np.testing.assert_allclose(open_recording(tmp_path / "o.json").emg_v, rec.emg_v, rtol=1e-6)
    assert_same_discharges(result, open_result(tmp_path / "o.json"))


def test_every_format_is_offered_and_its_name_picks_its_writer(tmp_path) -> None:
    keys = [f.key for f in RESULT_FORMATS]
    assert set(keys) == {"csv", "summary", "mat", "muedit", "json", "tsv", "npz"}
    for fmt in RESULT_FORMATS:
        name = fmt.file_name("sub-01_task-grip")
        assert result_format(name) is fmt, name
        assert fmt.dialog_filter.endswith(f"(*{fmt.suggested_ending or fmt.ending})")
        result_writer(name)
    assert result_format("x_events.tsv").key == "tsv"
    assert {f.key for f in RESULT_FORMATS if f.carries_emg} == {"mat", "muedit", "json"}
    with pytest.raises(BmissError, match=r"cannot write results as '\.xlsx'"):
        result_format("units.xlsx")


def test_a_recording_that_cannot_be_the_units_is_refused(tmp_path) -> None:
    rec, result = small_recording(), small_result()
    short = rec.crop(0.0, 1.0)
    with pytest.raises(BmissError, match="pass the recording"):
        write_result(result, tmp_path / "r.mat", recording=short)
    other_rate = Recording(rec.emg_v, 4096.0, rec.grid, rec.aux, rec.source, rec.file_format)
    with pytest.raises(BmissError, match="4096 Hz"):
        write_result(result, tmp_path / "r.json", recording=other_rate)
    assert not (tmp_path / "r.mat").exists()
    assert not (tmp_path / "r.json").exists()
    write_result(result, tmp_path / "r.csv", recording=short)  # a table carries no EMG: nothing to match


def test_a_decomposed_window_takes_its_part_of_the_recording(tmp_path) -> None:
    rec, result = small_recording(), small_result()
    longer = Recording(np.concatenate([rec.emg_v, rec.emg_v], axis=1), FS_HZ,
                       ElectrodeGrid(4, 3, 8.0, rec.grid.channel_rc), {}, "memory", "test")
    start_s = N_SAMPLES / FS_HZ
    windowed = type(result)(result.units, FS_HZ, N_SAMPLES, config={"window_s": [start_s, 2 * start_s]})
    write_result(windowed, tmp_path / "w.mat", recording=longer)
    np.testing.assert_allclose(open_recording(tmp_path / "w.mat").emg_v, rec.emg_v, rtol=1e-5, atol=1e-12)


def test_discharges_shifted_past_the_decomposition_are_refused_for_the_emg_formats(tmp_path) -> None:
    """units_to_export counts a window's discharges from the recording's start; beside the
    window's EMG they would point past its end (MUedit indexes its time axis with them)."""
    rec, result = small_recording(), small_result()
    shifted = result.with_units([u.replace(discharge_samples=u.discharge_samples + 100) for u in result.units])
    for name in ("s.mat", "s_muedit.mat", "s.json"):
        with pytest.raises(BmissError, match="outside the decomposition's 3000 samples"):
            write_result(shifted, tmp_path / name, recording=rec)
    write_result(shifted, tmp_path / "s.csv")  # a table of times from the recording's start is fine
