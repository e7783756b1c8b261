"""DEMUSE and MUedit .mat files, v5 and v7.3, built here to the tools' layouts; and our MAT
writer read back by the same readers."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from bmiss_engine import RecordingFormatError
from bmiss_engine.io import open_recording, open_result, write_result
from bmiss_engine.io.grids import otb_channel_rc
from tests.engine.io_helpers import (
    FS_HZ,
    N_SAMPLES,
    assert_same_discharges,
    small_recording,
    small_result,
    write_mat73,
)


def _cell(items, shape=None):
    out = np.empty(shape or (1, len(items)), dtype=object)
    for idx, item in zip(np.ndindex(out.shape), items, strict=True):
        out[idx] = item
    return out


def _demuse_variables(rng):
    """A 13×5 SIG with an empty (1,1) cell, values in mV; two units, 1-based pulses."""
    sig = np.empty((13, 5), dtype=object)
    for r in range(13):
        for c in range(5):
            sig[r, c] = np.zeros((0, 0)) if (r, c) == (0, 0) else (100 * r + c + rng.normal(0, 0.01, (1, 500)))
    pulses = _cell([np.array([[1.0, 101.0, 201.0]]), np.array([[50.0, 150.0, 250.0, 350.0]])])
    ipts = rng.random((2, 500))
    return {"SIG": sig, "fsamp": 2048.0, "IED": 8.0, "MUPulses": pulses, "IPTs": ipts,
            "ref_signal": np.linspace(0, 1, 500)[None, :]}


@pytest.mark.parametrize("version", ["v5", "v7.3"])
def test_demuse_file_gives_recording_and_units(tmp_path, version) -> None:
    variables = _demuse_variables(np.random.default_rng(1))
    path = tmp_path / "demuse.mat"
    if version == "v5":
        scipy.io.savemat(path, variables)
    else:
        write_mat73(path, variables)
    rec = open_recording(path)
    assert rec.file_format == "demuse"
    assert rec.grid.shape == (13, 5)
    assert rec.n_channels == 64
    assert rec.grid.ied_mm == 8.0
    assert rec.sampling_rate_hz == 2048.0
    k = next(i for i, rc in enumerate(rec.grid.channel_rc) if tuple(rc) == (7, 3))
    assert rec.emg_v[k].mean() == pytest.approx(0.703, abs=1e-4)  # 703 mV in volts
    assert (0, 0) not in {tuple(rc) for rc in rec.grid.channel_rc}
    assert rec.aux["ref_signal"][-1] == pytest.approx(1.0)
    result = open_result(path)
    np.testing.assert_array_equal(result.units[0].discharge_samples, [0, 100, 200])
    np.testing.assert_array_equal(result.units[1].discharge_samples, [49, 149, 249, 349])
    assert result.n_samples == 500
    np.testing.assert_allclose(result.units[1].pulse_train, variables["IPTs"][1], rtol=1e-6)


def _muedit_variables(rng):
    """MUedit after a two-grid Quattrocento session: data in mV, 64 channels per grid."""
    data = rng.normal(0, 0.02, (128, 400))
    data[70] += 5.0  # channel 7 of grid 2
    times = _cell([np.array([[10.0, 110.0]]), np.array([[20.0, 220.0, 320.0]]),
                   np.array([[30.0, 130.0]]), np.zeros((0, 0))], shape=(2, 2))
    trains = _cell([rng.random((2, 400)), rng.random((1, 400))])
    mask = np.zeros((64, 1))
    mask[5] = 1
    signal = {"data": data, "fsamp": 2048.0, "nChan": 128.0, "ngrid": 2.0,
              "gridname": _cell(["GR08MM1305", "GR10MM0808"]), "muscle": _cell(["VL", "VM"]),
              "EMGmask": _cell([mask, np.zeros((64, 1))]), "Pulsetrain": trains, "Dischargetimes": times,
              "target": np.ones((1, 400)), "path": np.zeros((1, 400)), "emgtype": np.array([[1.0, 1.0]])}
    return {"signal": signal}


@pytest.mark.parametrize("version", ["v5", "v7.3"])
def test_muedit_file_gives_one_recording_per_grid_and_its_units(tmp_path, version) -> None:
    path = tmp_path / "muedit.mat"
    variables = _muedit_variables(np.random.default_rng(2))
    if version == "v5":
        scipy.io.savemat(path, variables)
    else:
        write_mat73(path, variables)
    first = open_recording(path)
    second = open_recording(path, grid_index=1)
    assert first.file_format == "muedit"
    assert first.grid.name == "GR08MM1305"
    assert first.grid.shape == (13, 5)
    np.testing.assert_array_equal(first.grid.channel_rc, otb_channel_rc("GR08MM1305", 64))
    assert first.grid.bad_channels == (5,)
    assert second.grid.shape == (8, 8)
    assert second.grid.ied_mm == 10.0
    assert second.emg_v[6].mean() == pytest.approx(5e-3, rel=1e-2)
    assert set(first.aux) == {"target", "path"}
    units_1 = open_result(path)
    units_2 = open_result(path, grid_index=1)
    assert [u.discharge_samples.tolist() for u in units_1.units] == [[9, 109], [19, 219, 319]]
    assert [u.discharge_samples.tolist() for u in units_2.units] == [[29, 129]]
    np.testing.assert_allclose(units_2.units[0].pulse_train, variables["signal"]["Pulsetrain"][0, 1][0], rtol=1e-6)


def test_our_mat_opens_as_demuse_and_as_muedit(tmp_path) -> None:
    rec, result = small_recording(), small_result()
    write_result(result, tmp_path / "r.mat", recording=rec)
    back = open_result(tmp_path / "r.mat")
    assert_same_discharges(result, back)
    again = open_recording(tmp_path / "r.mat")
    np.testing.assert_allclose(again.emg_v, rec.emg_v, rtol=1e-5, atol=1e-12)
    np.testing.assert_array_equal(again.grid.channel_rc, rec.grid.channel_rc)
    # MUedit's view of the same file: the `signal` struct alone
    mat = scipy.io.loadmat(tmp_path / "r.mat", squeeze_me=False, struct_as_record=False)
    scipy.io.savemat(tmp_path / "muedit_only.mat", {"signal": mat["signal"]})
    muedit = open_recording(tmp_path / "muedit_only.mat")
    assert muedit.file_format == "muedit"
    assert muedit.grid.bad_channels == rec.grid.bad_channels
    np.testing.assert_allclose(muedit.aux["target"], rec.aux["force"])  # the force is MUedit's target
    np.testing.assert_allclose(muedit.aux["force"], rec.aux["force"])  # and keeps its name in signal.auxiliary
    np.testing.assert_array_equal(muedit.grid.channel_rc, rec.grid.channel_rc)
    assert_same_discharges(result, open_result(tmp_path / "muedit_only.mat"))
    # DEMUSE's view: SIG alone, channels found by position
    scipy.io.savemat(tmp_path / "demuse_only.mat", {k: mat[k] for k in ("SIG", "fsamp", "IED", "MUPulses", "IPTs")})
    demuse = open_recording(tmp_path / "demuse_only.mat")
    by_position = {tuple(rc): demuse.emg_v[k] for k, rc in enumerate(demuse.grid.channel_rc)}
    for k, rc in enumerate(rec.grid.channel_rc):
        np.testing.assert_allclose(by_position[tuple(rc)], rec.emg_v[k], rtol=1e-5, atol=1e-12)
    assert_same_discharges(result, open_result(tmp_path / "demuse_only.mat"), ids=False)
    assert mat["MUPulses"][0, 0].ravel()[0] == result.units[0].discharge_samples[0] + 1  # 1-based for MATLAB
    assert mat["IPTs"].shape == (3, N_SAMPLES)
    assert float(mat["fsamp"].squeeze()) == FS_HZ


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"x": np.ones(3)}, "a MATLAB file without a recording"),
        ({"SIG": np.ones((2, 2)), "fsamp": 2048.0, "IED": 8.0}, "cell array"),
        ({"SIG": _cell([np.ones((1, 5)), np.ones((1, 6))]), "fsamp": 2048.0, "IED": 8.0}, "differ in length"),
        ({"SIG": _cell([np.ones((1, 5))]), "fsamp": 2048.0}, "IED"),
        ({"signal": {"data": np.ones((5, 10)), "fsamp": 2048.0, "ngrid": 2.0}}, "cannot be split"),
    ],
)
def test_bad_mat_files_name_the_problem(tmp_path, variables, message) -> None:
    scipy.io.savemat(tmp_path / "bad.mat", variables)
    with pytest.raises(RecordingFormatError, match=message):
        open_recording(tmp_path / "bad.mat")


def test_truncated_mat_and_result_without_units(tmp_path) -> None:
    scipy.io.savemat(tmp_path / "ok.mat", _demuse_variables(np.random.default_rng(0)))
    payload = (tmp_path / "ok.mat").read_bytes()
    (tmp_path / "cut.mat").write_bytes(payload[: len(payload) // 2])
    with pytest.raises(RecordingFormatError, match=r"cut\.mat: not a readable MATLAB file"):
        open_recording(tmp_path / "cut.mat")
    scipy.io.savemat(tmp_path / "noresult.mat", {"SIG": _cell([np.ones((1, 5))]), "fsamp": 2048.0, "IED": 8.0})
    with pytest.raises(RecordingFormatError, match="without a decomposition"):
        open_result(tmp_path / "noresult.mat")


def _otb_export_variables(rng):
    """As OTBioLab+ exports (and openhdemg's sample holds): 64 EMG columns of a GR08MM1305 in µV,
    then per unit a 0/1 "Decomposition of" column and a "Source for decomposition" pulse train,
    then the force ("acquired data")."""
    n = 800
    emg = rng.normal(0, 20, (n, 64))
    emg[:, 12] += 1000.0  # amplifier channel 13: row 12, column 1 on the serpentine
    firing = [np.arange(50, n, 100), np.arange(75, n, 120)]
    binary = np.zeros((n, 2))
    ipts = np.abs(rng.normal(0, 0.05, (n, 2)))
    for j, f in enumerate(firing):
        binary[f, j] = 1
        ipts[f - 8, j] = 1.0  # OTBioLab+'s trains lead the discharges by the extension factor
    force = np.linspace(0, 30, n)[:, None]
    data = np.hstack([emg, binary, ipts, force])
    grid = "Vastus Lateralis - AUX 3 (Channel 1->1) - GR08MM1305"
    desc = ([f"{grid} ({k + 1})[uV]" for k in range(64)]
            + [f"1 - 2 - Decomposition of {grid} ({u})[a.u]" for u in (1, 2)]
            + [f"2 - Source for decomposition of {grid} ({u})[a.u]" for u in (1, 2)]
            + ["acquired data[ %(MVC)]"])
    return {"Data": _cell([data], shape=(1, 1)), "Description": _cell(desc, shape=(len(desc), 1)),
            "SamplingFrequency": 2048.0}, firing


def test_otb_export_gives_grid_units_and_force(tmp_path) -> None:
    variables, firing = _otb_export_variables(np.random.default_rng(5))
    scipy.io.savemat(tmp_path / "otb.mat", variables)
    rec = open_recording(tmp_path / "otb.mat")
    assert rec.file_format == "otb-mat"
    assert rec.grid.name == "GR08MM1305"
    assert rec.n_channels == 64
    loud = int(np.argmax(np.abs(rec.emg_v).mean(axis=1)))
    assert loud == 12
    assert tuple(rec.grid.channel_rc[loud]) == (12, 1)
    assert rec.emg_v[loud].mean() == pytest.approx(1e-3, rel=0.01)  # 1000 µV
    assert list(rec.aux) == ["acquired data[ %(MVC)]"]
    result = open_result(tmp_path / "otb.mat")
    assert [u.discharge_samples.tolist() for u in result.units] == [f.tolist() for f in firing]
    assert all(u.sil > 0.9 for u in result.units)  # pulse trains realigned onto the discharges


def test_values_of_unforeseen_types_still_name_the_file(tmp_path) -> None:
    scipy.io.savemat(tmp_path / "odd.mat", {"signal": {"data": np.ones((4, 10)), "fsamp": 2048.0, "IED": "eight"}})
    with pytest.raises(RecordingFormatError, match=r"odd\.mat: unexpected content"):
        open_recording(tmp_path / "odd.mat")
