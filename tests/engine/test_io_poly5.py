"""TMSi Poly5, written here byte by byte to the layout TMSi's and FieldTrip's readers read."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from bmiss_engine import RecordingFormatError
from bmiss_engine.io import open_recording
from bmiss_engine.io.poly5 import volts_per_unit
from bmiss_engine.recording import ElectrodeGrid


def _pascal(text: str, width: int, encoding: str = "latin-1") -> bytes:
    raw = text.encode(encoding)
    return (bytes([len(raw)]) + raw).ljust(width, b"\0")


def write_poly5(path, names, units, values, fs_hz=2000, per_block=100, version=203, encoding="latin-1") -> None:
    """``values`` (n_channels, n) in each channel's unit, stored as raw = value · 10 (ADC ±1e6 ↔ ±1e5);
    the names and units encoded in ``encoding`` (TMSi's older software: Latin-1; its SDK may write UTF-8)."""
    n_ch, n = values.shape
    n_blocks = -(-n // per_block)
    block_bytes = per_block * n_ch * 4
    ident = b"POLY SAMPLE FILEversion 2.03\r\n\x1a" if version == 203 else b"POLY SAMPLE FILEversion 2.04\r\n\x1a\0"
    header = ident + struct.pack("<h", version) + _pascal("trial", 81)
    header += struct.pack("<hhBhi", fs_hz, fs_hz, 0, 2 * n_ch, n) + b"\0" * 4 + b"\0" * 14
    header += struct.pack("<iHHh", n_blocks, per_block, block_bytes, 0) + b"\0" * 64
    assert len(header) == (217 if version == 203 else 218)
    descriptions = b""
    for name, unit in zip(names, units, strict=True):
        for half in ("(Lo) ", "(Hi) "):
            descriptions += (_pascal(half + name, 41, encoding) + b"\0" * 4 + _pascal(unit, 11, encoding)
                             + struct.pack("<4f", -1e5, 1e5, -1e6, 1e6) + struct.pack("<hh", 0, 0) + b"\0" * 60)
    padded = np.zeros((n_ch, n_blocks * per_block), dtype="<f4")
    padded[:, :n] = values * 10.0
    blocks = b""
    for b in range(n_blocks):
        chunk = padded[:, b * per_block : (b + 1) * per_block].T.astype("<f4").tobytes()  # channel-interleaved
        blocks += struct.pack("<i", b) + b"\0" * 4 + b"\0" * 14 + b"\0" * 64 + chunk
    path.write_bytes(header + descriptions + blocks)


@pytest.mark.parametrize("version", [203, 204])
def test_poly5_emg_and_aux(tmp_path, version) -> None:
    rng = np.random.default_rng(7)
    emg_uv = rng.normal(0, 50, (4, 950))
    aux = np.linspace(0, 3, 950)[None, :]
    write_poly5(tmp_path / "t.poly5", ["UNI 1", "UNI 2", "UNI 3", "UNI 4", "AUX 1-1"], ["µV"] * 4 + ["V"],
                np.vstack([emg_uv, aux]), version=version)
    rec = open_recording(tmp_path / "t.poly5")
    assert rec.file_format == "poly5"
    assert rec.sampling_rate_hz == 2000.0
    assert rec.n_samples == 950
    np.testing.assert_allclose(rec.emg_v, emg_uv * 1e-6, rtol=1e-5, atol=1e-11)
    assert rec.aux["AUX 1-1"][-1] == pytest.approx(3.0, rel=1e-5)
    laid_out = open_recording(tmp_path / "t.poly5", grid=ElectrodeGrid.full(2, 2, 8.75))
    assert laid_out.grid.shape == (2, 2)
    assert laid_out.grid.ied_mm == 8.75


def test_poly5_without_emg_or_blocks(tmp_path) -> None:
    write_poly5(tmp_path / "a.poly5", ["AUX 1"], ["V"], np.zeros((1, 100)))
    with pytest.raises(RecordingFormatError, match="no EMG channel"):
        open_recording(tmp_path / "a.poly5")
    write_poly5(tmp_path / "b.poly5", ["UNI 1"], ["µV"], np.zeros((1, 100)))
    payload = (tmp_path / "b.poly5").read_bytes()
    (tmp_path / "c.poly5").write_bytes(payload[:500])
    with pytest.raises(RecordingFormatError, match="no complete data block"):
        open_recording(tmp_path / "c.poly5")


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
@pytest.mark.parametrize(("unit", "volts"), [("µVolt", 1e-6), ("\u03bcV", 1e-6), ("uV", 1e-6), ("mVolt", 1e-3),
                                             ("Volt", 1.0), ("V", 1.0)])
def test_unit_strings_in_either_encoding_are_voltages(tmp_path, encoding, unit, volts) -> None:
    if unit.startswith("\u03bc") and encoding == "latin-1":
        pytest.skip("Latin-1 has no Greek mu")
    values = np.full((1, 200), 3.0)
    write_poly5(tmp_path / "u.poly5", ["UNI 1"], [unit], values, encoding=encoding)
    rec = open_recording(tmp_path / "u.poly5")
    np.testing.assert_allclose(rec.emg_v, 3.0 * volts, rtol=1e-5)


def test_a_unit_that_is_no_voltage_is_refused_in_one_line(tmp_path) -> None:
    write_poly5(tmp_path / "n.poly5", ["UNI 1"], ["Newton"], np.zeros((1, 100)))
    with pytest.raises(RecordingFormatError, match=r"'Newton', not a voltage") as info:
        open_recording(tmp_path / "n.poly5")
    assert "\n" not in str(info.value)


def test_volts_per_unit() -> None:
    assert volts_per_unit("µV") == volts_per_unit("uVolt") == volts_per_unit(" \u03bcVolts ") == 1e-6
    assert volts_per_unit("nV") == 1e-9
    for other in ("", "-", "%", "MV", "kg", "Ohm"):
        assert volts_per_unit(other) is None
