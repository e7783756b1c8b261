"""Damaged files of every format: truncated or with corrupted bytes, each must either still open
or raise RecordingFormatError naming the file — never another exception (a traceback for users)."""

from __future__ import annotations

import gzip
import io
import json
import tarfile

import numpy as np
import pytest
import scipy.io

from bmiss_engine import RecordingFormatError
from bmiss_engine.io import open_recording, open_result, write_npz, write_result
from tests.engine.io_helpers import small_recording, small_result, write_mat73
from tests.engine.test_io_bids_emg import write_edf
from tests.engine.test_io_intan import write_rhd
from tests.engine.test_io_poly5 import write_poly5


def _valid_files(tmp_path) -> dict[str, bytes]:
    rec, result = small_recording(), small_result()
    files: dict[str, bytes] = {}
    write_npz(rec, tmp_path / "a.npz")
    write_result(result, tmp_path / "a.mat", recording=rec)
    write_result(result, tmp_path / "a.json", recording=rec)
    write_result(result, tmp_path / "a_events.tsv")
    write_mat73(tmp_path / "b.mat", {"SIG": np.array([[np.ones((1, 50))]], dtype=object), "fsamp": 2048.0, "IED": 8.0})
    write_edf(tmp_path / "c_emg.bdf", ["a", "b"], ["uV", "uV"], np.zeros((2, 2048)), bdf=True)
    write_poly5(tmp_path / "e.poly5", ["UNI 1", "AUX 1"], ["µV", "V"], np.ones((2, 500)))
    write_rhd(tmp_path / "f.rhd", np.full((2, 256), 32768, np.uint16), np.zeros((1, 256), np.uint16))
    xml = (b'<Device Name="QUATTROCENTO" SampleFrequency="2048" DeviceTotalChannels="64" ad_bits="16"><Channels>'
           b'<Adapter Gain="150" ChannelStartIndex="0">'
           + b"".join(b'<Channel Index="%d" ID="GR08MM1305"/>' % k for k in range(64)) + b"</Adapter></Channels></Device>")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, payload in {"t.xml": xml, "t.sig": np.ones((200, 64), "<i2").tobytes()}.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    files["d.otb+"] = buf.getvalue()
    tracks = (b"<ArrayOfTrackInfo><TrackInfo><SubTitle>GR10MM0808</SubTitle><NumberOfChannels>64</NumberOfChannels>"
              b"<Gain>150</Gain><ADC_Range>5</ADC_Range><ADC_Nbits>16</ADC_Nbits></TrackInfo></ArrayOfTrackInfo>")
    device = b"<DeviceParameters><AdBits>16</AdBits><SamplingFrequency>2048</SamplingFrequency></DeviceParameters>"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        members = {"DeviceParameters.xml": device, "Tracks_000.xml": tracks, "s.sig": np.ones((200, 64), "<i2").tobytes()}
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    files["g.otb4"] = buf.getvalue()
    for name in ("a.npz", "a.mat", "a.json", "a_events.tsv", "b.mat", "c_emg.bdf", "e.poly5", "f.rhd"):
        files[name] = (tmp_path / name).read_bytes()
    return files


def _damaged(payload: bytes, rng: np.random.Generator) -> list[bytes]:
    n = len(payload)
    out = [payload[: n // 3], payload[: n - 7], payload[:300]]
    for _ in range(4):
        b = bytearray(payload)
        idx = rng.integers(0, n, size=max(1, n // 200))
        for i in idx:
            b[i] = int(rng.integers(0, 256))
        out.append(bytes(b))
    return out


def test_damaged_files_fail_cleanly(tmp_path) -> None:
    rng = np.random.default_rng(0)
    source = tmp_path / "src"
    source.mkdir()
    checked = 0
    for name, payload in _valid_files(source).items():
        for k, bad in enumerate(_damaged(payload, rng)):
            path = tmp_path / f"{k}_{name}"
            path.write_bytes(bad)
            for opener in (open_recording, open_result):
                try:
                    opener(path)
                    message = None
                except RecordingFormatError as exc:
                    message = str(exc)
                # read as something, or refused naming the file
                assert message is None or path.name in message, (name, k, message)
                checked += 1
    assert checked == 2 * 10 * 7


def test_plain_json_and_gzip_with_wrong_content(tmp_path) -> None:
    (tmp_path / "list.json").write_text(json.dumps([1, 2, 3]))
    (tmp_path / "gz.json").write_bytes(gzip.compress(b"\xff\xfe not utf-8"))
    for name in ("list.json", "gz.json"):
        with pytest.raises(RecordingFormatError, match="not an openhdemg"):
            open_recording(tmp_path / name)
    scipy.io.savemat(tmp_path / "num.mat", {"signal": np.ones((3, 3))})
    with pytest.raises(RecordingFormatError, match="without a recording"):
        open_recording(tmp_path / "num.mat")
