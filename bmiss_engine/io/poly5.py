"""TMSi Poly5 recordings (``.poly5``; TMSi SAGA, Porti, Refa), versions 2.03 and 2.04.

Layout, as TMSi's ``tms_read`` and FieldTrip's ``read_tmsi_poly5`` read it (little-endian):

- header, 217 bytes (218 in 2.04, whose identification text is one byte longer):
  identification "POLY SAMPLE FILE..." (31/32 bytes), version int16 (203/204), measurement
  name (Pascal string in 81 bytes), sampling rate int16, storage rate int16, storage type
  uint8, number of signals int16 (two per 32-bit channel, "(Lo) name" and "(Hi) name"),
  number of sample periods int32, 4 reserved bytes, start time (7 int16), number of blocks
  int32, sample periods per block uint16, data bytes per block uint16, delta compression int16,
  64 reserved bytes;
- one 136-byte description per signal: name (Pascal string in 41 bytes), 4 reserved, unit
  (Pascal string in 11 bytes), unit low, unit high, ADC low, ADC high (float32), index int16,
  cache offset int16, 60 reserved;
- blocks: an 86-byte block header, then float32 samples, channel-interleaved.

``value = (raw - ADC_low) / (ADC_high - ADC_low) · (unit_high - unit_low) + unit_low`` in the
channel's unit. Poly5 knows nothing of grids: channels named "UNI ..." or "BIP ..." (TMSi's ExG
inputs) are the EMG, read as one column unless ``open_recording(..., grid=...)`` lays them out;
the other channels (AUX, STATUS, COUNTER, ...) are auxiliary.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import numpy as np

from bmiss_engine.errors import RecordingFormatError
from bmiss_engine.recording import ElectrodeGrid, Recording

log = logging.getLogger(__name__)

MAGIC = b"POLY SAMPLE FILE"
_DESCRIPTION_BYTES = 136
_BLOCK_HEADER_BYTES = 86
_VOLTS_PER_PREFIX = {"": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


def _pascal(raw: bytes) -> str:
    """A length-prefixed string. TMSi's older software writes Latin-1 ("µ" one byte), its SDK
    may write UTF-8 ("µ" two bytes): UTF-8 first, then Latin-1, which decodes any bytes."""
    text = raw[1 : 1 + raw[0]] if raw else b""
    try:
        return text.decode("utf-8").strip()
    except UnicodeDecodeError:
        return text.decode("latin-1").strip()


def volts_per_unit(unit: str) -> float | None:
    """The factor to volts of a Poly5 channel unit, or None when it is no voltage: "V", "mV",
    "uV", "µV" (micro sign or Greek mu), "nV", and the same with "Volt" ("µVolt", as TMSi's
    SDK writes)."""
    text = unit.strip().replace("\u03bc", "u").replace("\u00b5", "u")
    for suffix in ("Volts", "Volt", "V"):
        if text.endswith(suffix):
            prefix = text[: -len(suffix)]
            return _VOLTS_PER_PREFIX.get(prefix)
    return None


# long function: one pass over the Poly5 header, signal descriptions and blocks, in the order the format lays them out
def read_poly5(path: Path) -> Recording:
    """The EMG (UNI/BIP channels, in volts) and auxiliary channels of a Poly5 file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RecordingFormatError(f"{path}: cannot read ({exc})") from None
    if not raw.startswith(MAGIC):
        raise RecordingFormatError(f"{path}: not a Poly5 file")
    if len(raw) < 218:
        raise RecordingFormatError(f"{path}: truncated inside the header ({len(raw)} of 217 bytes)")
    if struct.unpack_from("<h", raw, 31)[0] == 203:
        offset = 31
    elif struct.unpack_from("<h", raw, 32)[0] == 204:
        offset = 32
    else:
        raise RecordingFormatError(f"{path}: unknown Poly5 version (2.03 and 2.04 are read)")
    fs_hz = struct.unpack_from("<h", raw, offset + 2 + 81)[0]
    n_signals = struct.unpack_from("<h", raw, offset + 2 + 81 + 5)[0]
    n_periods = struct.unpack_from("<i", raw, offset + 2 + 81 + 7)[0]
    n_blocks, _, block_bytes = struct.unpack_from("<iHH", raw, offset + 2 + 81 + 29)
    header_bytes = offset + 186
    n_channels = n_signals // 2
    if n_channels < 1 or fs_hz <= 0:
        raise RecordingFormatError(f"{path}: Poly5 header holds {n_signals} signals at {fs_hz} Hz")
    descriptions_end = header_bytes + n_signals * _DESCRIPTION_BYTES
    if len(raw) < descriptions_end:
        raise RecordingFormatError(f"{path}: truncated inside the signal descriptions")
    names, units, scale, shift = [], [], [], []
    for k in range(n_channels):
        d = header_bytes + 2 * k * _DESCRIPTION_BYTES  # the "(Lo)" half describes the 32-bit channel
        name = _pascal(raw[d : d + 41]).removeprefix("(Lo) ")
        unit = _pascal(raw[d + 45 : d + 56])
        unit_low, unit_high, adc_low, adc_high = struct.unpack_from("<4f", raw, d + 56)
        if adc_high == adc_low:
            raise RecordingFormatError(f"{path}: channel {name!r} has equal ADC low and high")
        names.append(name)
        units.append(unit)
        scale.append((unit_high - unit_low) / (adc_high - adc_low))
        shift.append(unit_low - adc_low * scale[-1])
    per_block = block_bytes // (4 * n_channels)
    if per_block == 0 or block_bytes % (4 * n_channels):
        raise RecordingFormatError(f"{path}: Poly5 blocks of {block_bytes} bytes do not hold whole samples of "
                                   f"{n_channels} channels")
    stride = _BLOCK_HEADER_BYTES + block_bytes
    complete = min(n_blocks, (len(raw) - descriptions_end) // stride)
    if complete < n_blocks:
        log.warning("%s: %d of %d blocks present; reading those", path, complete, n_blocks)
    if complete <= 0:
        raise RecordingFormatError(f"{path}: the file holds no complete data block")
    blocks = np.frombuffer(raw, dtype=np.uint8, count=complete * stride, offset=descriptions_end).reshape(complete, stride)
    samples = blocks[:, _BLOCK_HEADER_BYTES:].copy().view("<f4").reshape(complete * per_block, n_channels)
    n = min(samples.shape[0], n_periods) if n_periods > 0 else samples.shape[0]
    values = samples[:n].T.astype(np.float64) * np.asarray(scale)[:, None] + np.asarray(shift)[:, None]
    exg = [k for k, nm in enumerate(names) if nm.upper().startswith(("UNI", "BIP"))]
    if not exg:
        raise RecordingFormatError(f"{path}: no EMG channel (TMSi names them UNI or BIP)")
    emg = []
    for k in exg:
        factor = volts_per_unit(units[k])
        if factor is None:
            raise RecordingFormatError(f"{path}: channel {names[k]!r} has unit {units[k]!r}, not a voltage "
                                       "(V, mV, µV or nV)")
        emg.append(values[k] * factor)
    aux = {names[k]: values[k].astype(np.float32) for k in range(n_channels) if k not in exg}
    rc = np.stack([np.arange(len(exg)), np.zeros(len(exg), dtype=np.int64)], axis=1)
    log.info("%s: Poly5 keeps no grid layout; pass grid= to lay out its %d channels", path, len(exg))
    try:
        return Recording(np.stack(emg).astype(np.float32), float(fs_hz), ElectrodeGrid(len(exg), 1, 8.0, rc),
                         aux, str(path), "poly5")
    except RecordingFormatError as exc:
        raise RecordingFormatError(f"{path}: {exc}") from None
