"""BIDS EMG: EDF and BDF files written here byte by byte to the published specifications, with
the channels and electrodes tables of the BIDS EMG example."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bmiss_engine import RecordingFormatError
from bmiss_engine.io import open_recording

FS_HZ = 2048.0
RECORD_S = 0.5


def _field(values: list[str], width: int) -> bytes:
    return b"".join(v.encode("latin-1")[:width].ljust(width) for v in values)


def write_edf(path, labels, dims, physical, bdf: bool = False, phys_range=(-5000.0, 5000.0)) -> None:
    """``physical`` (n_signals, n_samples) in each signal's unit; one record per 0.5 s."""
    n_sig, n = physical.shape
    spr = int(FS_HZ * RECORD_S)
    n_records = n // spr
    dmax = 2**23 - 1 if bdf else 32767
    dmin = -dmax - 1
    pmin, pmax = phys_range
    digital = np.rint((physical - pmin) / (pmax - pmin) * (dmax - dmin) + dmin).astype(np.int64)
    header = (
        (b"\xffBIOSEMI" if bdf else b"0".ljust(8))
        + _field(["X X X X"], 80) + _field(["Startdate X X X X"], 80) + b"01.01.24" + b"00.00.00"
        + _field([str(256 * (n_sig + 1))], 8) + _field(["24BIT" if bdf else "EDF+C"], 44)
        + _field([str(n_records)], 8) + _field([str(RECORD_S)], 8) + _field([str(n_sig)], 4)
    )
    header += (_field(labels, 16) + _field(["AgAgCl electrode"] * n_sig, 80) + _field(dims, 8)
               + _field([f"{pmin:g}"] * n_sig, 8) + _field([f"{pmax:g}"] * n_sig, 8)
               + _field([str(dmin)] * n_sig, 8) + _field([str(dmax)] * n_sig, 8)
               + _field(["HP:10Hz LP:500Hz"] * n_sig, 80) + _field([str(spr)] * n_sig, 8) + _field([""] * n_sig, 32))
    records = digital[:, : n_records * spr].reshape(n_sig, n_records, spr).transpose(1, 0, 2).ravel()
    if bdf:
        u = (records & 0xFFFFFF).astype(np.uint32)
        body = np.stack([u & 0xFF, (u >> 8) & 0xFF, (u >> 16) & 0xFF], axis=1).astype(np.uint8).tobytes()
    else:
        body = records.astype("<i2").tobytes()
    path.write_bytes(header + body)


def _write_tables(base, names, grid_xy, bad=()) -> None:
    rows = ["name\ttype\tunits\tsignal_electrode\tstatus"]
    rows += [f"{n}\tEMG\tuV\tE{i + 1}\t{'bad' if i in bad else 'good'}" for i, n in enumerate(names)]
    rows += ["force\tMISC\tN\tn/a\tgood"]
    (base.parent / f"{base.name}_channels.tsv").write_text("\n".join(rows) + "\n")
    lines = ["name\tx\ty\tcoordinate_system\tgroup"]
    lines += [f"E{i + 1}\t{x}\t{y}\tVolarForearm\tgrid1" for i, (x, y) in enumerate(grid_xy)]
    (base.parent / f"{base.name}_electrodes.tsv").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("bdf", [False, True])
def test_bids_emg_grid_from_electrodes(tmp_path, bdf) -> None:
    rng = np.random.default_rng(3)
    # a 3×2 grid, 10 mm, electrodes listed column by column
    xy = [(x, y) for x in (0.0, 10.0) for y in (0.0, 10.0, 20.0)]
    emg_uv = rng.normal(0, 100, (6, 2048))
    emg_uv[4] += 1000.0  # electrode E5 at x=10, y=10: row 1, column 1
    force = np.linspace(0, 40, 2048)[None, :]
    names = [f"emg{i + 1}" for i in range(6)]
    base = tmp_path / "sub-01_task-ramp"
    path = tmp_path / f"sub-01_task-ramp_emg.{'bdf' if bdf else 'edf'}"
    write_edf(path, [*names, "force"], ["uV"] * 6 + ["N"], np.vstack([emg_uv, force]), bdf=bdf)
    _write_tables(base, names, xy, bad=(2,))
    rec = open_recording(path)
    assert rec.file_format == "bids-emg"
    assert rec.sampling_rate_hz == FS_HZ
    assert rec.n_samples == 2048
    assert rec.grid.shape == (3, 2)
    assert rec.grid.ied_mm == 10.0
    assert rec.grid.bad_channels == (2,)
    assert tuple(rec.grid.channel_rc[4]) == (1, 1)
    lsb_uv = 10000.0 / (2**24 if bdf else 2**16)
    np.testing.assert_allclose(rec.emg_v, emg_uv * 1e-6, atol=lsb_uv * 1e-6)
    assert rec.aux["force"][-1] == pytest.approx(40.0, abs=lsb_uv)  # one step of the ±5000 range


def test_edf_without_tables_and_bad_files(tmp_path) -> None:
    path = tmp_path / "x_emg.edf"
    write_edf(path, ["a", "b"], ["mV", "mV"], np.ones((2, 1024)), phys_range=(-5.0, 5.0))
    rec = open_recording(path)
    assert rec.grid.shape == (2, 1)
    assert rec.emg_v[0, 0] == pytest.approx(1e-3, rel=1e-3)
    (tmp_path / "x_channels.tsv").write_text("name\ttype\tunits\nzz\tEMG\tuV\n")
    with pytest.raises(RecordingFormatError, match=r"not in x_emg\.edf"):
        open_recording(path)
    payload = path.read_bytes()
    (tmp_path / "cut_emg.edf").write_bytes(payload[:600])
    with pytest.raises(RecordingFormatError, match="truncated inside the header"):
        open_recording(tmp_path / "cut_emg.edf")
    (tmp_path / "short_emg.edf").write_bytes(payload[:900])
    with pytest.raises(RecordingFormatError, match="no complete data record"):
        open_recording(tmp_path / "short_emg.edf")


def test_written_bids_emg_reads_back(tmp_path) -> None:
    from bmiss_engine.io import write_bids_emg
    from tests.engine.io_helpers import small_recording

    rec = small_recording()
    path = tmp_path / "sub-01_task-ramp_emg.bdf"
    write_bids_emg(rec, path, task_name="ramp")
    back = open_recording(path)
    assert back.n_samples == rec.n_samples  # the padded last record is trimmed
    np.testing.assert_array_equal(back.grid.channel_rc, rec.grid.channel_rc)
    assert back.grid.shape == rec.grid.shape
    assert back.grid.ied_mm == rec.grid.ied_mm
    assert back.grid.bad_channels == rec.grid.bad_channels
    step = np.abs(rec.emg_v).max() / (2**23 - 1)
    np.testing.assert_allclose(back.emg_v, rec.emg_v, atol=2 * step)
    np.testing.assert_allclose(back.aux["force"], rec.aux["force"], atol=1e-6)
    sidecar = json.loads((tmp_path / "sub-01_task-ramp_emg.json").read_text())
    assert sidecar["SamplingFrequency"] == rec.sampling_rate_hz
    assert sidecar["EMGChannelCount"] == rec.n_channels
    assert (tmp_path / "sub-01_task-ramp_space-test4x3_coordsystem.json").exists()
    raw = path.read_bytes()
    assert raw[:8] == b"\xffBIOSEMI"
    assert raw[192:197] == b"24BIT"
