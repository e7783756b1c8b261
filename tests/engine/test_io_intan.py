"""Intan .rhd, written here to the layout of Intan's "RHD2000 data file formats" note."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from bmiss_engine import RecordingFormatError
from bmiss_engine.io import open_recording
from bmiss_engine.recording import ElectrodeGrid


def _qstring(text: str) -> bytes:
    raw = text.encode("utf-16-le")
    return struct.pack("<I", len(raw)) + raw


def _channel(name: str, signal_type: int, enabled: int = 1) -> bytes:
    return (_qstring(name) + _qstring(name) + struct.pack("<hhhh", 0, 0, signal_type, enabled)
            + struct.pack("<hhhhhhff", 0, 0, 0, 0, 0, 0, 1e5, 0.0))


def write_rhd(path, amp_raw: np.ndarray, adc_raw: np.ndarray, version=(3, 0), fs_hz=2000.0) -> None:
    """``amp_raw`` uint16 (n_amp, n), ``adc_raw`` uint16 (n_adc, n); n a multiple of the block size.
    One aux-input channel, one supply channel and a digital input are enabled too, to exercise the
    block layout; a disabled amplifier channel is listed and must be skipped."""
    major, minor = version
    n_amp, n = amp_raw.shape
    per_block = 60 if major == 1 else 128
    head = struct.pack("<Ihh", 0xC6912702, major, minor) + struct.pack("<fhffffff", fs_hz, 1, 1.0, 10.0, 500.0,
                                                                          1.0, 10.0, 500.0)
    head += struct.pack("<hff", 0, 1000.0, 1000.0) + _qstring("note") + _qstring("") + struct.pack("<I", 0xFFFFFFFF)
    if (major, minor) >= (1, 1):
        head += struct.pack("<h", 1)  # one temperature sensor
    if (major, minor) >= (1, 3):
        head += struct.pack("<h", 0)  # board mode 0
    if major >= 2:
        head += _qstring("Hardware")
    amp_group = b"".join(_channel(f"A-{k:03d}", 0) for k in range(n_amp)) + _channel("A-099", 0, enabled=0)
    head += struct.pack("<h", 3)
    head += _qstring("Port A") + _qstring("A") + struct.pack("<hhh", 1, n_amp + 1 + 2, n_amp + 1)
    head += amp_group + _channel("A-AUX1", 1) + _channel("A-VDD1", 2)
    head += _qstring("Board ADC Inputs") + _qstring("ADC") + struct.pack("<hhh", 1, adc_raw.shape[0], 0)
    head += b"".join(_channel(f"FORCE-{k}", 3) for k in range(adc_raw.shape[0]))
    head += _qstring("Board Digital Inputs") + _qstring("DIN") + struct.pack("<hhh", 1, 1, 0) + _channel("DIN-00", 4)
    body = b""
    for b in range(n // per_block):
        sl = slice(b * per_block, (b + 1) * per_block)
        body += np.arange(b * per_block, (b + 1) * per_block, dtype="<i4").tobytes()
        body += amp_raw[:, sl].astype("<u2").tobytes()  # [channel][N]
        body += np.full(per_block // 4, 7, "<u2").tobytes() + np.full(1, 9, "<u2").tobytes()
        if (major, minor) >= (1, 1):
            body += np.full(1, 2500, "<i2").tobytes()  # temperature
        body += adc_raw[:, sl].astype("<u2").tobytes()
        body += np.zeros(per_block, "<u2").tobytes()
    path.write_bytes(head + body)


@pytest.mark.parametrize("version", [(1, 0), (1, 3), (3, 0)])
def test_rhd_amplifiers_are_emg_and_adc_is_aux(tmp_path, version) -> None:
    rng = np.random.default_rng(11)
    n = 60 * 128 // 4  # whole blocks for both block sizes
    amp = rng.integers(30000, 35000, (4, n)).astype(np.uint16)
    adc = rng.integers(0, 65535, (1, n)).astype(np.uint16)
    write_rhd(tmp_path / "r.rhd", amp, adc, version=version)
    rec = open_recording(tmp_path / "r.rhd")
    assert rec.file_format == "intan-rhd"
    assert rec.sampling_rate_hz == 2000.0
    assert rec.n_channels == 4
    np.testing.assert_allclose(rec.emg_v, (amp.astype(float) - 32768) * 0.195e-6, rtol=1e-6)
    np.testing.assert_allclose(rec.aux["FORCE-0"], adc[0] * 50.354e-6, rtol=1e-6)
    assert open_recording(tmp_path / "r.rhd", grid=ElectrodeGrid.full(2, 2, 4.0)).grid.shape == (2, 2)


def test_rhd_damaged(tmp_path) -> None:
    amp = np.full((2, 256), 32768, np.uint16)
    write_rhd(tmp_path / "r.rhd", amp, np.zeros((1, 256), np.uint16))
    payload = (tmp_path / "r.rhd").read_bytes()
    (tmp_path / "h.rhd").write_bytes(payload[:100])
    with pytest.raises(RecordingFormatError, match=r"truncated .*Intan header"):
        open_recording(tmp_path / "h.rhd")
    (tmp_path / "v.rhd").write_bytes(payload[:4] + struct.pack("<hh", 9, 0) + payload[8:])
    with pytest.raises(RecordingFormatError, match=r"version 9\.0 is not supported"):
        open_recording(tmp_path / "v.rhd")
