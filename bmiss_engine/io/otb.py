"""OT Bioelettronica ``.otb+`` recordings (OTBioLab+).

An ``.otb+`` file is a tar archive. The recording is a ``<name>.sig`` file of signed
little-endian integers (``ad_bits`` wide, 16 on the Quattrocento), interleaved sample by sample:
``DeviceTotalChannels`` values per sample. Next to it, ``<name>.xml`` describes it::

    <Device Name="QUATTROCENTO" SampleFrequency="2048" DeviceTotalChannels="408" ad_bits="16">
      <Channels>
        <Adapter ID="..." Gain="150" ChannelStartIndex="0" ...>
          <Channel Index="0" ID="GR08MM1305" Muscle="VL" Description="..." .../>
          ...

Channel ``ChannelStartIndex + Index`` of the ``.sig`` belongs to that adapter. A channel whose
``ID`` is a grid code (see :mod:`bmiss_engine.io.grids`) is an electrode of that grid; its
electrode number on the grid is its ``Index`` order within the adapter. Any other described
channel (AUX inputs: force, torque; the control adapter's ramps) is kept as an auxiliary channel
named by its ``ID``. Channels no adapter describes are unused inputs and are dropped. Other
members (``abstract.xml``, feedback ``.sip`` files) are ignored.

Conversion to volts, as OT's own MATLAB readers do: ``raw · V_ref / 2**ad_bits / gain`` with the
gain the file gives (the adapter's ``Gain`` times the channel's ``Gain`` when it has one). The
ADC range ``V_ref`` is not in the file: it comes from OT's conversion table
(``OpenOTBfilesConvFact.m``, as MNE-Python's ``read_raw_otb`` carries it): 5 V on the
Quattrocento, Quattro and Due and on AUX inputs ("Direct connection ..." adapters), 3.3 V on
the Due+ and Quattro+, 4.8 V on the other devices (Sessantaquattro, Muovi). For the Quattrocento
at gain 150 that is the 0.5086 µV step seen in openhdemg's sample. Auxiliary channels are
converted the same way (volts at the AUX input, not newtons); the control adapter's channels
(ramp, buffer) are kept as raw counts.
"""

from __future__ import annotations

import logging
import os
import tarfile
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.errors import RecordingFormatError
from bmiss_engine.io.grids import is_grid_code, otb_grid
from bmiss_engine.recording import Recording

log = logging.getLogger(__name__)

_GZIP = b"\x1f\x8b"


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (some libraries' messages span several)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def open_tar(path: Path) -> tarfile.TarFile:
    """The tar archive at ``path``, gzip-compressed or not: one method, not tarfile's "r:*",
    whose error lists one line per method it tried."""
    with path.open("rb") as fh:
        compressed = fh.read(2) == _GZIP
    return tarfile.open(path, "r:gz" if compressed else "r:")


def adc_range_v(device: str, adapter_id: str) -> float:
    """The ADC input range (V) of OT's conversion table for this device and adapter."""
    device, adapter_id = device.upper(), adapter_id.strip()
    if adapter_id.startswith("Direct connection"):
        return 5.0
    if device in ("QUATTRO", "QUATTROCENTO", "DUE") or device.startswith("EMG-USB"):
        return 5.0
    if device in ("DUE+", "QUATTRO+") or (device == "SYNCSTATION" and adapter_id in ("Due+", "Quattro+")):
        return 3.3
    return 4.8


@dataclass(frozen=True)
class _Channel:
    """One described input: where it sits in the .sig frame and its gain."""

    sig_index: int
    volts_per_count: float  # 1.0 for the control adapter's raw counts
    label: str
    adapter: int
    index_in_adapter: int


def read_otb_plus(path: str | os.PathLike[str]) -> tuple[Recording, ...]:
    """Read every grid of an ``.otb+`` file: one :class:`Recording` per grid, in file order.

    All share the sample clock; the auxiliary channels are attached to each of them.
    """
    path = Path(path)
    try:
        with open_tar(path) as tar:
            names = tar.getnames()
            sigs = sorted(n for n in names if n.lower().endswith(".sig"))
            if not sigs:
                raise RecordingFormatError(f"{path}: the .otb+ archive holds no .sig signal file")
            if len(sigs) > 1:
                log.warning("%s: %d signal files; reading %s", path, len(sigs), sigs[0])
            sig_name = sigs[0]
            xml_name = sig_name[: -len(".sig")] + ".xml"
            if xml_name not in names:
                raise RecordingFormatError(f"{path}: {sig_name} has no description {xml_name} beside it")
            xml_bytes = _member_bytes(tar, xml_name, path)
            sig_bytes = _member_bytes(tar, sig_name, path)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise RecordingFormatError(f"{path}: not an .otb+ archive, the tar file OTBioLab+ writes ({one_line(exc)})") from None
    except OSError as exc:
        raise RecordingFormatError(f"{path}: cannot read ({exc})") from None
    return _recordings(path, xml_bytes, sig_bytes)


def _member_bytes(tar: tarfile.TarFile, name: str, path: Path) -> bytes:
    fh = tar.extractfile(name)
    if fh is None:
        raise RecordingFormatError(f"{path}: {name} is not a regular file")
    return fh.read()


def _recordings(path: Path, xml_bytes: bytes, sig_bytes: bytes) -> tuple[Recording, ...]:
    try:
        device = ET.fromstring(xml_bytes)
    except ET.ParseError as exc:
        raise RecordingFormatError(f"{path}: the device description is not valid XML ({exc})") from None
    try:
        fs_hz = float(device.attrib["SampleFrequency"])
        n_total = int(device.attrib["DeviceTotalChannels"])
        ad_bits = int(device.attrib["ad_bits"])
    except KeyError as exc:
        raise RecordingFormatError(f"{path}: the device description lacks {exc.args[0]}") from None
    except ValueError as exc:
        raise RecordingFormatError(f"{path}: bad number in the device description ({exc})") from None
    if n_total < 1:
        raise RecordingFormatError(f"{path}: DeviceTotalChannels must be positive, got {n_total}")
    raw = sig_samples(sig_bytes, n_total, ad_bits, path)  # (n_total, n_samples)
    channels = _described_channels(device, n_total, ad_bits, path)

    def volts(ch: _Channel) -> NDArray[np.float64]:
        out: NDArray[np.float64] = raw[ch.sig_index].astype(np.float64) * ch.volts_per_count
        return out

    grids: dict[tuple[int, str], list[_Channel]] = {}
    aux: dict[str, NDArray[np.float32]] = {}
    for ch in channels:
        if is_grid_code(ch.label):
            grids.setdefault((ch.adapter, ch.label), []).append(ch)
        else:
            name = ch.label or f"aux{ch.sig_index}"
            while name in aux:
                name += "'"
            aux[name] = volts(ch).astype(np.float32)
    if not grids:
        raise RecordingFormatError(f"{path}: no channel belongs to a known electrode grid (IDs like GR08MM1305)")
    recordings = []
    for (_, code), members in grids.items():
        members.sort(key=lambda c: c.index_in_adapter)
        try:
            grid = otb_grid(code, len(members))
        except ValueError as exc:
            raise RecordingFormatError(f"{path}: {exc}") from None
        emg_v = np.stack([volts(c) for c in members]).astype(np.float32)
        try:
            recordings.append(Recording(emg_v, fs_hz, grid, aux, str(path), "otb+"))
        except RecordingFormatError as exc:
            raise RecordingFormatError(f"{path}: {exc}") from None
    return tuple(recordings)


def sig_samples(sig: bytes, n_total: int, ad_bits: int, path: Path) -> NDArray[np.int32]:
    """The .sig stream as int32 (n_total, n_samples); a trailing partial frame is dropped."""
    if ad_bits not in (16, 24, 32):
        raise RecordingFormatError(f"{path}: unsupported sample width ad_bits={ad_bits} (16, 24 or 32)")
    width = ad_bits // 8
    frame = width * n_total
    n_samples = len(sig) // frame
    if n_samples == 0:
        raise RecordingFormatError(f"{path}: the signal file holds no complete sample of {n_total} channels")
    if len(sig) % frame:
        # the frames are not as wide as the description says: read on, every channel would be another's data
        raise RecordingFormatError(
            f"{path}: the description declares {n_total} channels of {width} bytes per sample, but the signal "
            f"file's {len(sig)} bytes are not a whole number of such samples: the description does not match the data"
        )
    body = np.frombuffer(sig, dtype=np.uint8, count=n_samples * n_total * width)
    if width == 2:
        values = body.view("<i2").astype(np.int32)
    elif width == 4:
        values = body.view("<i4").astype(np.int32)
    else:  # packed little-endian 24-bit: sign-extend from the top byte
        b = body.reshape(-1, 3).astype(np.int32)
        values = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        values = np.where(values >= 1 << 23, values - (1 << 24), values)
    return values.reshape(n_samples, n_total).T


def _described_channels(device: ET.Element, n_total: int, ad_bits: int, path: Path) -> list[_Channel]:
    channels: list[_Channel] = []
    device_name = device.attrib.get("Name", "")
    for a, adapter in enumerate(device.iter("Adapter")):
        adapter_id = adapter.attrib.get("ID", "")
        try:
            adapter_gain = float(adapter.attrib.get("Gain", "1"))
            start = int(adapter.attrib.get("ChannelStartIndex", "0"))
        except ValueError as exc:
            raise RecordingFormatError(f"{path}: adapter {a}: bad Gain or ChannelStartIndex ({exc})") from None
        for ch in adapter.iter("Channel"):
            try:
                index = int(ch.attrib["Index"])
                gain = adapter_gain * float(ch.attrib.get("Gain", "1"))
            except (KeyError, ValueError):
                raise RecordingFormatError(f"{path}: adapter {a} has a channel without a valid Index or Gain") from None
            if not gain > 0:
                raise RecordingFormatError(f"{path}: adapter {a} has gain {gain}; it must be > 0")
            if adapter_id == "AdapterControl":
                volts_per_count = 1.0
            else:
                volts_per_count = adc_range_v(device_name, adapter_id) / 2.0**ad_bits / gain
            sig_index = start + index
            if not 0 <= sig_index < n_total:
                raise RecordingFormatError(
                    f"{path}: channel {sig_index} lies outside the {n_total} channels of the device"
                )
            label = ch.attrib.get("ID", "").strip()
            channels.append(_Channel(sig_index, volts_per_count, label, a, index))
    return channels
