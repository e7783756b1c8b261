"""The .otb+ reader, on archives built here to the layout OTBioLab+ writes."""

from __future__ import annotations

import gzip
import io
import tarfile

import numpy as np
import pytest

from bmiss_engine import RecordingFormatError
from bmiss_engine.io import open_recording
from bmiss_engine.io.grids import otb_channel_rc
from bmiss_engine.io.otb import read_otb_plus

N_TOTAL = 408  # a Quattrocento frame: 384 EMG inputs, 16 AUX, 8 control
N_SAMPLES = 50
FS_HZ = 2048.0


def _device_xml(adapters: str, name: str = "QUATTROCENTO", bits: int = 16) -> bytes:
    return (
        f'<Device Name="{name}" SampleFrequency="{FS_HZ:g}" DeviceTotalChannels="{N_TOTAL}" ad_bits="{bits}">'
        f"<Channels>{adapters}</Channels></Device>"
    ).encode()


def _adapter(start: int, gain: float, channel_ids: list[str], adapter_id: str = "AdapterQuattrocento") -> str:
    chans = "".join(
        f'<Channel Index="{i}" ID="{cid}" Prefix="MULTIPLE IN 1" Muscle="VL" Description="ch"/>'
        for i, cid in enumerate(channel_ids)
    )
    return (f'<Adapter ID="{adapter_id}" Description="adapter" Gain="{gain:g}" ChannelStartIndex="{start}">'
            f"{chans}</Adapter>")


def _otb_plus(path, xml: bytes, raw: np.ndarray) -> None:
    """Write ``raw`` (n_total, n_samples) interleaved sample by sample, as the .sig holds it."""
    members = {"abstract.xml": b"<Abstract/>", "trial.xml": xml, "trial.sig": raw.T.astype("<i2").tobytes()}
    with tarfile.open(path, "w") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))


def _raw_frames() -> np.ndarray:
    """Input k carries the value k+1 plus a ramp: each channel is recognisable."""
    return (np.arange(N_TOTAL)[:, None] + 1 + np.arange(N_SAMPLES)[None, :] % 3).astype(np.int16)


def test_two_grids_and_force_are_mapped_and_scaled(tmp_path) -> None:
    adapters = (
        _adapter(0, 150, ["GR08MM1305"] * 64)
        + _adapter(64, 150, ["GR10MM0808"] * 64)
        + _adapter(384, 0.5, ["Force"], "Direct connection to Auxiliary Input")
    )
    _otb_plus(tmp_path / "t.otb+", _device_xml(adapters), _raw_frames())
    a, b = read_otb_plus(tmp_path / "t.otb+")
    lsb_v = 5.0 / 2**16 / 150  # Quattrocento: 5 V reference, 16 bits, gain 150
    assert a.grid.name == "GR08MM1305"
    assert a.grid.shape == (13, 5)
    assert a.grid.ied_mm == 8.0
    assert b.grid.name == "GR10MM0808"
    assert b.grid.shape == (8, 8)
    assert b.grid.ied_mm == 10.0
    assert a.sampling_rate_hz == FS_HZ
    assert a.n_samples == N_SAMPLES
    # channel number (1-based) found at each electrode, against openhdemg's 180° table
    number_at = {tuple(rc): round(float(a.emg_v[k, 0]) / lsb_v) for k, rc in enumerate(a.grid.channel_rc)}
    assert (0, 0) not in number_at
    assert len(number_at) == 64
    expected = {(1, 0): 1, (12, 0): 12, (12, 1): 13, (0, 1): 25, (0, 2): 26, (12, 2): 38, (12, 3): 39,
                (0, 3): 51, (0, 4): 52, (12, 4): 64}
    assert {rc: number_at[rc] for rc in expected} == expected
    number_at_b = {tuple(rc): round(float(b.emg_v[k, 0]) / lsb_v) - 64 for k, rc in enumerate(b.grid.channel_rc)}
    assert number_at_b[(7, 0)] == 1
    assert number_at_b[(0, 0)] == 8
    assert number_at_b[(0, 7)] == 64
    np.testing.assert_allclose(a.emg_v[0, :3], np.array([1, 2, 3]) * lsb_v, rtol=1e-6)
    force_v = 385 * 5.0 / 2**16 / 0.5
    assert a.aux["Force"][0] == pytest.approx(force_v, rel=1e-6)
    assert set(b.aux) == {"Force"}
    assert open_recording(tmp_path / "t.otb+", grid_index=1).grid.name == "GR10MM0808"


@pytest.mark.parametrize(("device", "adc_range_v"), [("SESSANTAQUATTRO", 4.8), ("QUATTRO+", 3.3), ("DUE", 5.0)])
def test_adc_range_follows_ot_conversion_table(tmp_path, device, adc_range_v) -> None:
    _otb_plus(tmp_path / "s.otb+", _device_xml(_adapter(0, 256, ["HD08MM1305"] * 64), device), _raw_frames())
    rec = open_recording(tmp_path / "s.otb+")
    assert rec.emg_v[0, 0] == pytest.approx(1 * adc_range_v / 2**16 / 256, rel=1e-6)
    np.testing.assert_array_equal(rec.grid.channel_rc, otb_channel_rc("HD08MM1305", 64))
    assert tuple(rec.grid.channel_rc[0]) == (1, 4)
    assert tuple(rec.grid.channel_rc[63]) == (12, 0)


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (b"<Device", "not valid XML"),
        (_device_xml(_adapter(0, 1, ["Force"])), "no channel belongs to a known electrode grid"),
        (_device_xml(_adapter(400, 150, ["GR08MM1305"] * 64)), "outside the 408 channels"),
        (_device_xml(_adapter(0, 150, ["GR08MM1305"] * 64), bits=12), "ad_bits=12"),
        (b'<Device SampleFrequency="2048" ad_bits="16"/>', "DeviceTotalChannels"),
    ],
)
def test_bad_archives_name_the_problem(tmp_path, xml, message) -> None:
    _otb_plus(tmp_path / "bad.otb+", xml, _raw_frames())
    with pytest.raises(RecordingFormatError, match=message):
        open_recording(tmp_path / "bad.otb+")


def test_not_a_tar_and_no_sig(tmp_path) -> None:
    (tmp_path / "x.otb+").write_bytes(b"something")
    with pytest.raises(RecordingFormatError, match=r"not an \.otb\+ archive"):
        open_recording(tmp_path / "x.otb+")
    with tarfile.open(tmp_path / "e.otb+", "w") as tar:
        info = tarfile.TarInfo("abstract.xml")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"<a/"))
    with pytest.raises(RecordingFormatError, match=r"no \.sig"):
        open_recording(tmp_path / "e.otb+")


def test_channel_gain_multiplies_and_control_channels_stay_counts(tmp_path) -> None:
    grid = _adapter(0, 150, ["GR08MM1305"] * 64).replace('Description="ch"', 'Description="ch" Gain="2"')
    control = _adapter(400, 1, ["Buffer", "Ramp"], "AdapterControl")
    _otb_plus(tmp_path / "g.otb+", _device_xml(grid + control), _raw_frames())
    rec = open_recording(tmp_path / "g.otb+")
    assert rec.emg_v[0, 0] == pytest.approx(1 * 5.0 / 2**16 / 300, rel=1e-6)
    assert rec.aux["Buffer"][0] == 401
    assert rec.aux["Ramp"][0] == 402


def _track(subtitle: str, n_channels: int, gain: float, adc_range_v: float = 5.0) -> str:
    chans = "".join(f"<ChannelRapresentation><Index>{i}</Index><Label>{i + 1}</Label></ChannelRapresentation>"
                    for i in range(n_channels))
    return (f"<TrackInfo><Device>Novecento;1</Device><SamplingFrequency>2048</SamplingFrequency>"
            f"<TimeDuration>0.0244</TimeDuration><ADC_Range>{adc_range_v}</ADC_Range><ADC_Nbits>16</ADC_Nbits>"
            f"<SubTitle>{subtitle}</SubTitle><Title>{subtitle}</Title><Gain>{gain}</Gain>"
            f"<NumberOfChannels>{n_channels}</NumberOfChannels><SignalStreamPath>data.sig</SignalStreamPath>"
            f"<Channels>{chans}</Channels></TrackInfo>")


def test_otb4_grid_and_aux_tracks(tmp_path) -> None:
    device = (b"<DeviceParameters><AdBits>16</AdBits><SamplingFrequency>2048</SamplingFrequency>"
              b"<Gain>1</Gain></DeviceParameters>")
    tracks = ("<ArrayOfTrackInfo>" + _track("GR08MM1305", 64, 150) + _track("AUX Torque", 1, 0.5)
              + _track("Buffer", 1, 1, adc_range_v=1.0) + "</ArrayOfTrackInfo>").encode()
    frames = (np.arange(66)[:, None] + 1 + np.arange(N_SAMPLES)[None, :] % 3).astype("<i2")
    buf = {"DeviceParameters.xml": device, "Tracks_000.xml": tracks, "data.sig": frames.T.tobytes()}
    with tarfile.open(tmp_path / "t.otb4", "w") as tar:
        for name, payload in buf.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    rec = open_recording(tmp_path / "t.otb4")
    assert rec.file_format == "otb4"
    assert rec.grid.name == "GR08MM1305"
    assert rec.n_channels == 64
    np.testing.assert_array_equal(rec.grid.channel_rc, otb_channel_rc("GR08MM1305", 64))
    assert rec.emg_v[12, 0] == pytest.approx(13 * 5.0 / 2**16 / 150, rel=1e-6)
    assert rec.aux["AUX Torque"][0] == pytest.approx(65 * 5.0 / 2**16 / 0.5, rel=1e-6)
    assert set(rec.aux) == {"AUX Torque", "Buffer"}
    (tmp_path / "bad.otb4").write_bytes(b"not a tar at all")
    with pytest.raises(RecordingFormatError, match=r"not an \.otb4 archive"):
        open_recording(tmp_path / "bad.otb4")


def test_description_wider_than_the_frames_is_refused(tmp_path) -> None:
    """The .sig holds 72-channel frames (a Quattro) but the XML declares the Quattrocento's 408:
    read on, every channel would be another's data, so the reader refuses in one line."""
    frames = (np.arange(72)[:, None] + np.arange(N_SAMPLES + 2)[None, :]).astype(np.int16)  # 7488 B: 9.2 frames
    _otb_plus(tmp_path / "w.otb+", _device_xml(_adapter(0, 150, ["GR08MM1305"] * 64)), frames)
    with pytest.raises(RecordingFormatError, match="declares 408 channels") as info:
        open_recording(tmp_path / "w.otb+")
    assert "\n" not in str(info.value)


def test_random_bytes_are_one_line_and_gzip_archives_open(tmp_path) -> None:
    (tmp_path / "r.otb+").write_bytes(np.random.default_rng(3).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(RecordingFormatError, match=r"r\.otb\+: not an \.otb\+ archive") as info:
        open_recording(tmp_path / "r.otb+")
    assert "\n" not in str(info.value)
    _otb_plus(tmp_path / "plain.otb+", _device_xml(_adapter(0, 150, ["GR08MM1305"] * 64)), _raw_frames())
    (tmp_path / "z.otb+").write_bytes(gzip.compress((tmp_path / "plain.otb+").read_bytes()))
    assert open_recording(tmp_path / "z.otb+").n_samples == N_SAMPLES
