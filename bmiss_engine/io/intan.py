"""Intan RHD2000 recordings (``.rhd``, "traditional" one-file format, versions 1.x to 3.x).

Layout (Intan's application note "RHD2000 data file formats", as BioSig's ``sopen_rhd2000_read``
and Intan's own loaders read it; little-endian):

- magic uint32 0xC6912702, version int16 major, int16 minor; sample rate float32; DSP enabled
  int16; actual DSP cutoff, lower and upper bandwidth, desired ones (float32 ×6); notch mode
  int16; desired and actual impedance test frequency (float32 ×2); three notes (QStrings);
  temperature sensor count int16 (version ≥ 1.1); board mode int16 (≥ 1.3); reference channel
  QString (≥ 2.0); number of signal groups int16;
- per group: name, prefix (QStrings), enabled, channel count, amplifier count (int16); per
  channel: native and custom name (QStrings), native order, custom order, signal type (0
  amplifier, 1 aux input, 2 supply, 3 board ADC, 4 digital in, 5 digital out), enabled, chip
  channel, board stream, 4 spike-trigger int16, impedance magnitude and phase (float32);
- data blocks of N samples (60 in version 1, else 128): timestamps int32 ×N; amplifiers uint16
  [channel][N]; aux inputs [channel][N/4]; supply [channel][1]; temperature [sensor][1]; board
  ADC [channel][N]; digital in uint16 ×N and digital out uint16 ×N when any such channel is on.

A QString is a uint32 byte count (0xFFFFFFFF: none) then UTF-16LE text. Amplifier samples are
``0.195 µV · (raw - 32768)``; board ADC volts depend on the board mode (``50.354 µV · raw``,
mode 1: ``152.59 µV · (raw - 32768)``, mode 13: ``312.5 µV · (raw - 32768)``). Amplifier
channels are the EMG (one column unless ``grid=`` lays them out, since the file holds no grid);
board ADC channels (force, torque) are auxiliary; the slower aux inputs, supply and temperature
are not kept.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bmiss_engine.errors import RecordingFormatError
from bmiss_engine.recording import ElectrodeGrid, Recording

MAGIC = 0xC6912702
MAGIC_BYTES = struct.pack("<I", MAGIC)
AMPLIFIER_V_PER_BIT = 0.195e-6


@dataclass(frozen=True)
class _Channel:
    name: str
    signal_type: int


class _Cursor:
    """Reads little-endian fields from the header bytes, naming the file when they run out."""

    def __init__(self, raw: bytes, path: Path) -> None:
        self.raw, self.path, self.pos = raw, path, 0

    def take(self, fmt: str) -> tuple[int | float, ...]:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.raw):
            raise RecordingFormatError(f"{self.path}: truncated inside the Intan header")
        values = struct.unpack_from(fmt, self.raw, self.pos)
        self.pos += size
        return values

    def qstring(self) -> str:
        (length,) = self.take("<I")
        if length == 0xFFFFFFFF:
            return ""
        if length > len(self.raw) - self.pos or length % 2:
            raise RecordingFormatError(f"{self.path}: truncated or damaged text in the Intan header")
        text = self.raw[self.pos : self.pos + int(length)].decode("utf-16-le", "replace")
        self.pos += int(length)
        return text


# long function: one pass over the RHD header and data blocks, in the order the format lays them out
def read_rhd(path: Path) -> Recording:
    """The amplifier channels (volts) and board ADC channels of an Intan ``.rhd`` file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RecordingFormatError(f"{path}: cannot read ({exc})") from None
    cur = _Cursor(raw, path)
    if cur.take("<I")[0] != MAGIC:
        raise RecordingFormatError(f"{path}: not an Intan RHD2000 file")
    major, minor = (int(v) for v in cur.take("<hh"))
    if not 1 <= major <= 3:
        raise RecordingFormatError(f"{path}: Intan RHD version {major}.{minor} is not supported (1.x to 3.x)")
    fs_hz = float(cur.take("<f")[0])
    cur.take("<hffffffhff")  # filter settings, notch, impedance test frequencies
    for _ in range(3):
        cur.qstring()
    n_temp = int(cur.take("<h")[0]) if (major, minor) >= (1, 1) else 0
    board_mode = int(cur.take("<h")[0]) if (major, minor) >= (1, 3) else 0
    if major >= 2:
        cur.qstring()  # reference channel
    channels: list[_Channel] = []
    (n_groups,) = cur.take("<h")
    for _ in range(int(n_groups)):
        cur.qstring()
        cur.qstring()
        enabled, n_in_group, _ = cur.take("<hhh")
        if not (enabled and n_in_group > 0):
            continue
        for _ in range(int(n_in_group)):
            native, custom = cur.qstring(), cur.qstring()
            _, _, signal_type, channel_enabled = cur.take("<hhhh")
            cur.take("<hhhhhhff")
            if channel_enabled:
                if not 0 <= signal_type <= 5:
                    raise RecordingFormatError(f"{path}: unknown Intan signal type {signal_type}")
                channels.append(_Channel(custom or native, int(signal_type)))
    if not fs_hz > 0 or n_temp < 0:
        raise RecordingFormatError(f"{path}: damaged Intan header (rate {fs_hz} Hz, {n_temp} temperature sensors)")
    per_block = 60 if major == 1 else 128
    count = {t: sum(c.signal_type == t for c in channels) for t in range(6)}
    if count[0] == 0:
        raise RecordingFormatError(f"{path}: no amplifier channel is enabled")
    sizes = {  # bytes of each part of a data block, in file order
        "time": 4 * per_block, "amp": 2 * per_block * count[0], "aux": 2 * (per_block // 4) * count[1],
        "supply": 2 * count[2], "temp": 2 * n_temp, "adc": 2 * per_block * count[3],
        "din": 2 * per_block * (count[4] > 0), "dout": 2 * per_block * (count[5] > 0),
    }
    block_bytes = sum(sizes.values())
    n_blocks = (len(raw) - cur.pos) // block_bytes
    if n_blocks == 0:
        raise RecordingFormatError(f"{path}: the file holds no complete data block")
    blocks = np.frombuffer(raw, dtype=np.uint8, count=n_blocks * block_bytes, offset=cur.pos).reshape(n_blocks, -1)
    offsets = np.cumsum([0, *sizes.values()])
    part = dict(zip(sizes, offsets[:-1], strict=True))

    def channels_of(name: str, n_channels: int) -> np.ndarray:
        """uint16 (n_channels, n_blocks · per_block) from the blocks' [channel][N] parts."""
        chunk = blocks[:, part[name] : part[name] + sizes[name]].copy().view("<u2")
        return chunk.reshape(n_blocks, n_channels, per_block).transpose(1, 0, 2).reshape(n_channels, -1)

    amp = (channels_of("amp", count[0]).astype(np.float64) - 32768.0) * AMPLIFIER_V_PER_BIT
    aux = {}
    if count[3]:
        adc = channels_of("adc", count[3]).astype(np.float64)
        if board_mode == 1:
            adc_v = (adc - 32768.0) * 152.59e-6
        elif board_mode == 13:
            adc_v = (adc - 32768.0) * 312.5e-6
        else:
            adc_v = adc * 50.354e-6
        for name, values in zip([c.name for c in channels if c.signal_type == 3], adc_v, strict=True):
            aux[name] = values.astype(np.float32)
    n = amp.shape[0]
    rc = np.stack([np.arange(n), np.zeros(n, dtype=np.int64)], axis=1)
    try:
        return Recording(amp.astype(np.float32), fs_hz, ElectrodeGrid(n, 1, 8.0, rc), aux, str(path), "intan-rhd")
    except RecordingFormatError as exc:
        raise RecordingFormatError(f"{path}: {exc}") from None
