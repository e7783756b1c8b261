"""OT Bioelettronica ``.otb4`` recordings (OTBioLab+ 4 / Novecento era).

A tar archive like ``.otb+``, described differently (as MNE-Python's ``read_raw_otb`` reads it,
after OT's MATLAB code):

- ``DeviceParameters.xml``: ``<DeviceParameters>`` with ``AdBits`` (sample width),
  ``SamplingFrequency`` and the device ``Gain``;
- ``Tracks_000.xml``: one ``<TrackInfo>`` per adapter, in recording order, with ``SubTitle``
  (the grid code for electrode grids, else the adapter's name), ``NumberOfChannels``, ``Gain``,
  ``ADC_Range`` (V), ``ADC_Nbits``, ``SamplingFrequency`` and ``SignalStreamPath``;
- one ``.sig`` file: signed little-endian samples, every track's channels in turn per sample.

``volts = raw · ADC_Range / 2**ADC_Nbits / (track Gain · device Gain)``. Tracks whose
``SubTitle`` is a grid code become recordings (mapped by :mod:`bmiss_engine.io.grids`); the others
(AUX inputs, load cells, ramps, quaternions) become auxiliary channels named by ``SubTitle``.
Files split over several ``.sig`` streams (Novecento+) are not read yet.
"""

from __future__ import annotations

import logging
import tarfile
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.errors import RecordingFormatError
from bmiss_engine.io.grids import is_grid_code, otb_grid
from bmiss_engine.io.otb import one_line, open_tar, sig_samples
from bmiss_engine.recording import Recording

log = logging.getLogger(__name__)


def _text(node: ET.Element, tag: str, path: Path) -> str:
    found = node.find(tag)
    if found is None or found.text is None:
        raise RecordingFormatError(f"{path}: the .otb4 description lacks <{tag}>")
    return found.text.strip()


def _number(node: ET.Element, tag: str, path: Path) -> float:
    try:
        return float(_text(node, tag, path).replace(",", "."))
    except ValueError:
        raise RecordingFormatError(f"{path}: <{tag}> is not a number") from None


# long function: one pass over the OTB4 archive, in the order the format lays it out
def read_otb4(path: Path) -> tuple[Recording, ...]:
    """One recording per grid track of an ``.otb4`` file, all with the auxiliary tracks."""
    try:
        with open_tar(path) as tar:
            names = tar.getnames()
            sigs = sorted(n for n in names if n.lower().endswith(".sig"))
            for needed in ("DeviceParameters.xml", "Tracks_000.xml"):
                if needed not in names:
                    raise RecordingFormatError(f"{path}: the .otb4 archive has no {needed}")
            if len(sigs) != 1:
                raise RecordingFormatError(
                    f"{path}: {len(sigs)} signal files; this reader takes .otb4 files with exactly one (.sig)"
                )
            members = {}
            for name in ("DeviceParameters.xml", "Tracks_000.xml", sigs[0]):
                fh = tar.extractfile(name)
                if fh is None:
                    raise RecordingFormatError(f"{path}: {name} is not a regular file")
                members[name] = fh.read()
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise RecordingFormatError(f"{path}: not an .otb4 archive, the tar file OTBioLab+ 4 writes ({one_line(exc)})") from None
    except OSError as exc:
        raise RecordingFormatError(f"{path}: cannot read ({exc})") from None
    try:
        device = ET.fromstring(members["DeviceParameters.xml"])
        tracks = ET.fromstring(members["Tracks_000.xml"])
    except ET.ParseError as exc:
        raise RecordingFormatError(f"{path}: the .otb4 description is not valid XML ({exc})") from None
    ad_bits = int(_number(device, "AdBits", path))
    fs_hz = _number(device, "SamplingFrequency", path)
    device_gain = _number(device, "Gain", path) if device.find("Gain") is not None else 1.0
    infos = list(tracks.iter("TrackInfo"))
    if not infos:
        raise RecordingFormatError(f"{path}: Tracks_000.xml describes no track")
    layout = []  # (label, first channel, channel count, volts per count)
    first = 0
    for info in infos:
        n = int(_number(info, "NumberOfChannels", path))
        gain = _number(info, "Gain", path) * device_gain
        if n < 1 or not gain > 0:
            raise RecordingFormatError(f"{path}: track with {n} channels and gain {gain}")
        volts_per_count = _number(info, "ADC_Range", path) / 2.0 ** _number(info, "ADC_Nbits", path) / gain
        layout.append((_text(info, "SubTitle", path), first, n, volts_per_count))
        first += n
    raw = sig_samples(members[sigs[0]], first, ad_bits, path)

    def volts(start: int, n: int, factor: float) -> NDArray[np.float64]:
        out: NDArray[np.float64] = raw[start : start + n].astype(np.float64) * factor
        return out

    aux: dict[str, NDArray[np.float32]] = {}
    grids = []
    for label, start, n, factor in layout:
        if is_grid_code(label):
            grids.append((label, volts(start, n, factor)))
            continue
        for k, values in enumerate(volts(start, n, factor)):
            name = label if n == 1 else f"{label}_{k}"
            while name in aux:
                name += "'"
            aux[name] = values.astype(np.float32)
    if not grids:
        raise RecordingFormatError(f"{path}: no track is an electrode grid (SubTitle like GR08MM1305)")
    recordings = []
    for code, emg_v in grids:
        try:
            recordings.append(Recording(emg_v.astype(np.float32), fs_hz, otb_grid(code, emg_v.shape[0]), aux,
                                        str(path), "otb4"))
        except (ValueError, RecordingFormatError) as exc:
            raise RecordingFormatError(f"{path}: grid {code}: {exc}") from None
    return tuple(recordings)
