"""European Data Format (``.edf``, EDF+) and BioSemi's 24-bit variant (``.bdf``, BDF+), read
with NumPy alone (https://www.edfplus.info/specs/edf.html, https://www.biosemi.com/faq/file_format.htm).

Layout: a 256-byte ASCII header (version, patient, recording, start, header size, reserved —
"EDF+C"/"EDF+D"/"24BIT" —, number of data records, record duration in s, number of signals ns),
then ns 256-byte signal headers stored field by field (label, transducer, physical dimension,
physical min/max, digital min/max, prefiltering, samples per record, reserved), then the data
records: in each, every signal's samples in turn, little-endian int16 (EDF) or 24-bit (BDF).
``physical = (digital - dig_min) · (phys_max - phys_min) / (dig_max - dig_min) + phys_min``.
Annotation signals ("EDF Annotations", "BDF Annotations") are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.errors import RecordingFormatError

_FIELDS = (("label", 16), ("transducer", 80), ("dimension", 8), ("physical_min", 8), ("physical_max", 8),
           ("digital_min", 8), ("digital_max", 8), ("prefiltering", 80), ("samples_per_record", 8),
           ("reserved", 32))


@dataclass(frozen=True)
class EdfSignal:
    """One signal: its label, unit ("uV", "mV", ...), sampling rate and physical values, float64 (n,)."""

    label: str
    dimension: str
    sampling_rate_hz: float
    values: NDArray[np.float64]


# long function: one pass over the EDF header and records, in the order the format lays them out
def read_edf(path: Path) -> list[EdfSignal]:
    """Every data signal of an EDF/BDF file, annotations excluded."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RecordingFormatError(f"{path}: cannot read ({exc})") from None
    if len(raw) < 256:
        raise RecordingFormatError(f"{path}: too short for an EDF/BDF header")
    is_bdf = raw[0] == 0xFF and raw[1:8] == b"BIOSEMI"
    try:
        header_bytes = int(raw[184:192])
        reserved = raw[192:236].decode("ascii", "replace").strip()
        n_records = int(raw[236:244])
        record_s = float(raw[244:252])
        ns = int(raw[252:256])
    except ValueError:
        raise RecordingFormatError(f"{path}: not an EDF/BDF file (unreadable header numbers)") from None
    if reserved.startswith("EDF+D") or reserved.startswith("BDF+D"):
        raise RecordingFormatError(f"{path}: discontinuous EDF+D/BDF+D recordings are not supported")
    if ns < 1 or header_bytes != 256 * (ns + 1):
        raise RecordingFormatError(f"{path}: inconsistent EDF/BDF header ({ns} signals, {header_bytes} header bytes)")
    if len(raw) < header_bytes:
        raise RecordingFormatError(f"{path}: truncated inside the header ({len(raw)} of {header_bytes} bytes)")
    fields: dict[str, list[str]] = {}
    offset = 256
    for name, width in _FIELDS:
        block = raw[offset : offset + width * ns].decode("latin-1")
        fields[name] = [block[i * width : (i + 1) * width].strip() for i in range(ns)]
        offset += width * ns
    try:
        spr = [int(v) for v in fields["samples_per_record"]]
        pmin, pmax = ([float(v) for v in fields[k]] for k in ("physical_min", "physical_max"))
        dmin, dmax = ([float(v) for v in fields[k]] for k in ("digital_min", "digital_max"))
    except ValueError:
        raise RecordingFormatError(f"{path}: unreadable signal header numbers") from None
    width = 3 if is_bdf else 2
    record_bytes = width * sum(spr)
    available = (len(raw) - header_bytes) // record_bytes if record_bytes else 0
    if n_records < 0 or n_records > available:
        n_records = available  # -1 while recording, or a truncated file: keep the whole records
    if n_records == 0 or not record_s > 0:
        raise RecordingFormatError(f"{path}: the file holds no complete data record")
    body = np.frombuffer(raw, dtype=np.uint8, count=n_records * record_bytes, offset=header_bytes)
    if is_bdf:
        b = body.reshape(-1, 3).astype(np.int32)
        digital = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        digital = np.where(digital >= 1 << 23, digital - (1 << 24), digital)
    else:
        digital = body.view("<i2").astype(np.int32)
    records = digital.reshape(n_records, sum(spr))
    signals = []
    start = 0
    for i in range(ns):
        samples = records[:, start : start + spr[i]].ravel()
        start += spr[i]
        if fields["label"][i] in ("EDF Annotations", "BDF Annotations"):
            continue
        if dmax[i] == dmin[i]:
            raise RecordingFormatError(f"{path}: signal {fields['label'][i]!r} has equal digital min and max")
        gain = (pmax[i] - pmin[i]) / (dmax[i] - dmin[i])
        values = ((samples - dmin[i]) * gain + pmin[i]).astype(np.float64)
        signals.append(EdfSignal(fields["label"][i], fields["dimension"][i], spr[i] / record_s, values))
    return signals


def bdf_bytes(labels: list[str], dimensions: list[str], values: NDArray[np.float64], sampling_rate_hz: float) -> bytes:
    """A BDF file (24-bit) of ``values`` (n_signals, n_samples), one data record per second.

    BDF needs whole records: the last second is padded with zeros (the caller records the true
    duration). Each signal's physical range is its own largest magnitude, so the 24-bit step is
    at most 1/8,388,607 of it.
    """
    n_signals, n = values.shape
    spr = round(sampling_rate_hz)
    if abs(spr - sampling_rate_hz) > 1e-9 or spr < 1:
        raise ValueError(f"BDF records of one second need a whole sampling rate, got {sampling_rate_hz} Hz")
    n_records = max(1, -(-n // spr))
    padded = np.zeros((n_signals, n_records * spr))
    padded[:, :n] = values
    peak = np.abs(values).max(axis=1) if n else np.zeros(n_signals)
    peak_text = [_range_text(float(p) if p > 0 else 1.0) for p in peak]
    peak = np.asarray([float(t) for t in peak_text])  # scale by what the header says, not the exact peak
    dmax, dmin = 2**23 - 1, -(2**23)
    digital = np.rint(padded / peak[:, None] * dmax).astype(np.int64).clip(dmin, dmax)

    def field(items: list[str], width: int) -> bytes:
        return b"".join(i.encode("latin-1", "replace")[:width].ljust(width) for i in items)

    header = (b"\xffBIOSEMI" + field(["X X X X"], 80) + field(["Startdate X X X X"], 80) + b"01.01.85" + b"00.00.00"
              + field([str(256 * (n_signals + 1))], 8) + field(["24BIT"], 44) + field([str(n_records)], 8)
              + field(["1"], 8) + field([str(n_signals)], 4))
    header += (field(labels, 16) + field([""] * n_signals, 80) + field(dimensions, 8)
               + field(["-" + t for t in peak_text], 8) + field(peak_text, 8)
               + field([str(dmin)] * n_signals, 8) + field([str(dmax)] * n_signals, 8)
               + field([""] * n_signals, 80) + field([str(spr)] * n_signals, 8) + field([""] * n_signals, 32))
    records = digital.reshape(n_signals, n_records, spr).transpose(1, 0, 2).ravel()
    u = (records & 0xFFFFFF).astype(np.uint32)
    body = np.stack([u & 0xFF, (u >> 8) & 0xFF, (u >> 16) & 0xFF], axis=1).astype(np.uint8).tobytes()
    return header + body


def _range_text(peak: float) -> str:
    """The shortest decimal of at most 7 characters (a sign still fits the 8-character field) that
    is not below ``peak``."""
    for digits in range(7, 0, -1):
        text = f"{peak:.{digits}g}"
        if float(text) < peak:
            text = f"{peak * (1 + 10.0 ** -(digits - 1)):.{digits}g}"
        if len(text) <= 7:
            return text
    raise ValueError(f"cannot write {peak} in an EDF header field")
