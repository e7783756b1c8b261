"""Damaged files that must be refused, a few per format: cut short inside their header, random
bytes under the format's name (with and without its magic number), and sizes that contradict
each other. Each gives exactly one RecordingFormatError, on one line, naming the file; and
``bmiss info`` on it prints that one line and exits 2. (tests/engine/test_io_damaged.py damages
files at random, where some still open; these never may.)"""

from __future__ import annotations

import gzip
import io
import json
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from bmiss_engine import RecordingFormatError
from bmiss_engine.cli import main
from bmiss_engine.io import open_recording, open_result, write_npz, write_result
from bmiss_engine.recording import ElectrodeGrid
from tests.engine.io_helpers import small_recording, small_result
from tests.engine.test_io_bids_emg import write_edf
from tests.engine.test_io_intan import write_rhd
from tests.engine.test_io_poly5 import write_poly5


def _noise(n: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def _otb_plus(n_declared: int = 64, frame_channels: int = 64, n_samples: int = 201) -> bytes:
    xml = (f'<Device Name="QUATTROCENTO" SampleFrequency="2048" DeviceTotalChannels="{n_declared}" ad_bits="16">'
           '<Channels><Adapter Gain="150" ChannelStartIndex="0">'
           + "".join(f'<Channel Index="{k}" ID="GR08MM1305"/>' for k in range(64))
           + "</Adapter></Channels></Device>").encode()
    return _tar({"t.xml": xml, "t.sig": np.ones((n_samples, frame_channels), "<i2").tobytes()})


def _otb4(track_channels: int = 64, frame_channels: int = 64) -> bytes:
    tracks = (f"<ArrayOfTrackInfo><TrackInfo><SubTitle>GR10MM0808</SubTitle><NumberOfChannels>{track_channels}"
              "</NumberOfChannels><Gain>150</Gain><ADC_Range>5</ADC_Range><ADC_Nbits>16</ADC_Nbits></TrackInfo>"
              "</ArrayOfTrackInfo>").encode()
    device = b"<DeviceParameters><AdBits>16</AdBits><SamplingFrequency>2048</SamplingFrequency></DeviceParameters>"
    return _tar({"DeviceParameters.xml": device, "Tracks_000.xml": tracks,
                 "s.sig": np.ones((201, frame_channels), "<i2").tobytes()})


def _mat(variables: dict) -> bytes:
    buf = io.BytesIO()
    scipy.io.savemat(buf, variables)
    return buf.getvalue()


def _cells(items: list) -> np.ndarray:
    out = np.empty((1, len(items)), dtype=object)
    for i, item in enumerate(items):
        out[0, i] = item
    return out


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def _written(tmp: Path, name: str, write) -> bytes:
    write(tmp / name)
    return (tmp / name).read_bytes()


def _cases(tmp: Path) -> dict[str, bytes]:
    """File name → content that no reader may accept."""
    rec, result = small_recording(), small_result()
    npz = _written(tmp, "v.npz", lambda p: write_npz(rec, p))
    mat = _written(tmp, "v.mat", lambda p: write_result(result, p, recording=rec))
    ohd = _written(tmp, "v.json", lambda p: write_result(result, p, recording=rec))
    bdf = _written(tmp, "v_emg.bdf", lambda p: write_edf(p, ["a", "b"], ["uV", "uV"], np.zeros((2, 2048)), bdf=True))
    poly5 = _written(tmp, "v.poly5", lambda p: write_poly5(p, ["UNI 1", "AUX 1"], ["µV", "V"], np.ones((2, 500))))
    rhd = _written(tmp, "v.rhd", lambda p: write_rhd(p, np.full((2, 256), 32768, np.uint16),
                                                      np.zeros((1, 256), np.uint16)))
    outer = json.loads(gzip.decompress(ohd))
    raw = json.loads(outer["RAW_SIGNAL"])
    raw["data"][5] = raw["data"][5][:-1]  # one row a value short
    ragged = gzip.compress(json.dumps({**outer, "RAW_SIGNAL": json.dumps(raw)}).encode())
    n_signals_at = 31 + 2 + 81 + 5  # Poly5 2.03: number of signals, int16
    return {
        # .otb+: cut inside the archive; noise; frames narrower than declared; no channel
        "cut.otb+": _otb_plus()[:700],
        "noise.otb+": _noise(5000),
        "wide.otb+": _otb_plus(n_declared=408, frame_channels=72, n_samples=52),
        "none.otb+": _otb_plus(n_declared=0),
        "cut.otb4": _otb4()[:700],
        "noise.otb4": _noise(5000, 1),
        "wide.otb4": _otb4(track_channels=64, frame_channels=40),
        # MATLAB: cut; MATLAB's header over noise; SIG channels of unequal length; data not in whole grids
        "cut.mat": mat[:200],
        "noise.mat": mat[:128] + _noise(3000, 2),
        "sig.mat": _mat({"SIG": _cells([np.ones((1, 5)), np.ones((1, 6))]), "fsamp": 2048.0, "IED": 8.0}),
        "grids.mat": _mat({"signal": {"data": np.ones((5, 10)), "fsamp": 2048.0, "ngrid": 2.0}}),
        # openhdemg: cut gzip; gzip of noise; a ragged table
        "cut.json": ohd[: len(ohd) // 2],
        "noise.json": gzip.compress(_noise(3000, 3)),
        "ragged.json": ragged,
        # EDF/BDF: cut inside the header; noise under the BDF magic; a header counting more signals than it describes
        "cut_emg.bdf": bdf[:300],
        "noise_emg.bdf": b"\xffBIOSEMI" + _noise(3000, 4),
        "count_emg.bdf": bdf[:252] + b"9   " + bdf[256:768],
        # Poly5: cut in the header; magic over noise; more signals announced than described
        "cut.poly5": poly5[:100],
        "noise.poly5": poly5[:16] + _noise(3000, 5),
        "count.poly5": poly5[:n_signals_at] + struct.pack("<h", 40) + poly5[n_signals_at + 2 :],
        # Intan: cut in the header; magic over noise
        "cut.rhd": rhd[:40],
        "noise.rhd": rhd[:4] + _noise(3000, 6),
        # NumPy: cut; noise; pickled objects; 1-D EMG; a layout for fewer channels than the EMG has
        "cut.npz": npz[: len(npz) // 2],
        "noise.npz": _noise(3000, 7),
        "objects.npz": _npz(emg=np.array([{"a": 1}], dtype=object), fs_hz=2048.0),
        "flat.npz": _npz(emg=np.ones(100), fs_hz=2048.0, grid_shape=[1, 1], ied_mm=8.0),
        "rc.npz": _npz(emg=np.ones((4, 100)), fs_hz=2048.0, grid_shape=[2, 2], ied_mm=8.0, channel_rc=[[0, 0], [0, 1]]),
        "cut.npy": _npy(np.ones((4, 100)))[:100],
        "objects.npy": _npy(np.array([{"a": 1}], dtype=object)),
        "noise.npy": _noise(3000, 8),
        # CSV: rows of unequal length, text where numbers belong
        "ragged.csv": b"1,2,3,4\n5,6,7\n8,9,10,11\n",
        "text.csv": b"1,2,3,4\n5,six,7,8\n",
    }


_DESCRIBED = {"grid": ElectrodeGrid.full(2, 2, 8.0), "sampling_rate_hz": 2048.0}  # for .npy and .csv


@pytest.fixture(scope="module")
def damaged(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("damaged")
    source = tmp_path_factory.mktemp("valid")
    paths = {}
    for name, payload in _cases(source).items():
        (folder / name).write_bytes(payload)
        paths[name] = folder / name
    return paths


def _open(path: Path) -> None:
    options = _DESCRIBED if path.suffix in (".npy", ".csv") else {}
    open_recording(path, **options)


def test_each_format_has_damaged_cases(damaged) -> None:
    formats = {p.name.split(".", 1)[1] for p in damaged.values()}
    assert formats == {"otb+", "otb4", "mat", "json", "bdf", "poly5", "rhd", "npz", "npy", "csv"}


def test_every_damaged_file_is_one_line_naming_it(damaged) -> None:
    failures = []
    for name, path in damaged.items():
        try:
            _open(path)
        except RecordingFormatError as exc:
            message = str(exc)
            if "\n" in message or "\r" in message or name not in message:
                failures.append(f"{name}: {message!r}")
            if "allow_pickle" in message:
                failures.append(f"{name}: numpy's advice leaks: {message!r}")
        else:
            failures.append(f"{name}: opened")
    assert failures == []


def test_damaged_results_are_one_line_too(damaged) -> None:
    for name in ("cut.mat", "noise.mat", "cut.json", "noise.json", "cut.npz", "noise.npz", "objects.npz"):
        with pytest.raises(RecordingFormatError) as info:
            open_result(damaged[name])
        assert "\n" not in str(info.value)
        assert name in str(info.value)
        assert "allow_pickle" not in str(info.value)


@pytest.mark.parametrize("name", ["noise.otb+", "wide.otb+", "noise.mat", "count_emg.bdf", "count.poly5",
                                  "objects.npz", "noise.npz", "ragged.json"])
def test_info_prints_the_one_line_and_exits_2(damaged, name, capsys) -> None:
    assert main(["info", str(damaged[name])]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("bmiss: error: ")
