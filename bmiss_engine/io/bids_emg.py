"""BIDS EMG recordings: ``*_emg.edf`` / ``*_emg.bdf`` with the ``*_channels.tsv`` and
``*_electrodes.tsv`` beside them (same name up to the suffix); read, and written as BDF.

- ``*_channels.tsv`` (name, type, units, optional signal_electrode and status): channels of type
  EMG are the grid's, the others auxiliary; status "bad" marks bad channels. Without it, every
  signal is EMG.
- ``*_electrodes.tsv`` (name, x, y, optional group): each EMG channel sits on its
  ``signal_electrode`` (or the electrode of the same name). The grid is laid out from the
  coordinates: distinct ``y`` give rows, distinct ``x`` columns, and the inter-electrode
  distance is the smallest step between them (in the file's unit, taken as mm, as in BIDS's
  own grid example). Electrodes in several ``group`` s make one recording per group.
  Without it, the channels are read as one column and ``grid=`` can give the layout.

Only files beside the data file are read (not the BIDS inheritance chain).
"""

from __future__ import annotations

import csv
import json
import logging
import os
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.errors import BmissError, RecordingFormatError
from bmiss_engine.io.atomic import write_bytes_atomic, write_text_atomic
from bmiss_engine.io.edf import EdfSignal, bdf_bytes, read_edf
from bmiss_engine.recording import VOLTS_PER_UNIT, ElectrodeGrid, Recording

log = logging.getLogger(__name__)

_UNITS = {**VOLTS_PER_UNIT, "nV": 1e-9, "uv": 1e-6, "mv": 1e-3, "v": 1.0}


def _sidecar(path: Path, suffix: str) -> Path:
    stem = path.name[: -len(path.suffix)]
    base = stem[: -len("_emg")] if stem.endswith("_emg") else stem
    return path.with_name(f"{base}_{suffix}.tsv")


def sidecar_files(path: str | os.PathLike[str]) -> tuple[Path, ...]:
    """The files beside a BIDS EMG data file that its reading depends on and that exist:
    ``*_channels.tsv``, ``*_electrodes.tsv`` and ``*_emg.json`` (the true duration)."""
    path = Path(path)
    candidates = (_sidecar(path, "channels"), _sidecar(path, "electrodes"), path.with_suffix(".json"))
    return tuple(p for p in candidates if p.is_file())


def is_bids_dataset(root: str | os.PathLike[str]) -> bool:
    """Whether ``root`` is the top folder of a BIDS dataset (it holds ``dataset_description.json``)."""
    return (Path(root) / "dataset_description.json").is_file()


def bids_emg_files(root: str | os.PathLike[str]) -> list[Path]:
    """The EMG data files of a BIDS dataset, by its layout: ``sub-*/[ses-*/]emg/*_emg.edf|bdf``,
    sorted. ``derivatives/``, ``sourcedata/`` and the sidecars are not walked into."""
    root = Path(root)
    found = [*root.glob("sub-*/emg/*_emg.*"), *root.glob("sub-*/ses-*/emg/*_emg.*")]
    return sorted(p for p in found if p.suffix.lower() in (".edf", ".bdf") and p.is_file())


def _table(path: Path) -> list[dict[str, str]]:
    try:
        return list(csv.DictReader(path.read_text(encoding="utf-8").splitlines(), delimiter="\t"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordingFormatError(f"{path}: cannot read ({exc})") from None


def read_bids_emg(path: Path) -> tuple[Recording, ...]:
    """One recording per electrode group of a BIDS EMG file."""
    signals = _trimmed(read_edf(path), path)
    by_name = {s.label: s for s in signals}
    channels_tsv, electrodes_tsv = _sidecar(path, "channels"), _sidecar(path, "electrodes")
    rows = _table(channels_tsv) if channels_tsv.exists() else [{"name": s.label, "type": "EMG"} for s in signals]
    missing = [r["name"] for r in rows if r.get("name") not in by_name]
    if missing:
        raise RecordingFormatError(f"{channels_tsv}: channels {missing[:3]} are not in {path.name}")
    emg_rows = [r for r in rows if r.get("type", "EMG").upper() == "EMG"]
    if not emg_rows:
        raise RecordingFormatError(f"{path}: no channel of type EMG")
    fs = by_name[emg_rows[0]["name"]].sampling_rate_hz
    aux = {}
    for r in rows:
        s = by_name[r["name"]]
        if r not in emg_rows and s.sampling_rate_hz == fs:
            aux[s.label] = s.values.astype(np.float32)
    electrodes = {e["name"]: e for e in _table(electrodes_tsv)} if electrodes_tsv.exists() else {}
    groups: dict[str, list[dict[str, str]]] = {}
    for r in emg_rows:
        electrode = electrodes.get(r.get("signal_electrode") or r["name"], {})
        groups.setdefault(electrode.get("group", ""), []).append(r)
    recordings = []
    for members in groups.values():
        emg_v = np.stack([_volts(by_name[r["name"]], r, fs, path) for r in members])
        bad = tuple(i for i, r in enumerate(members) if r.get("status", "good").lower() == "bad")
        grid = _grid(members, electrodes, bad, electrodes_tsv)
        try:
            recordings.append(Recording(emg_v.astype(np.float32), fs, grid, aux, str(path), "bids-emg"))
        except RecordingFormatError as exc:
            raise RecordingFormatError(f"{path}: {exc}") from None
    return tuple(recordings)


def _trimmed(signals: list[EdfSignal], path: Path) -> list[EdfSignal]:
    """Cut the zero padding of the last record when ``*_emg.json`` states the true duration."""
    try:
        duration_s = float(json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))["RecordingDuration"])
    except (OSError, ValueError, KeyError, TypeError):
        return signals
    out = []
    for s in signals:
        n = round(duration_s * s.sampling_rate_hz)
        out.append(EdfSignal(s.label, s.dimension, s.sampling_rate_hz, s.values[:n]) if 0 < n <= s.values.size else s)
    return out


def _volts(signal: EdfSignal, row: dict[str, str], fs: float, path: Path) -> NDArray[np.float64]:
    if signal.sampling_rate_hz != fs:
        raise RecordingFormatError(
            f"{path}: EMG channel {signal.label!r} is sampled at {signal.sampling_rate_hz:g} Hz, others at {fs:g} Hz"
        )
    unit = (row.get("units") or signal.dimension or "uV").strip()
    if unit not in _UNITS:
        raise RecordingFormatError(f"{path}: channel {signal.label!r} has unit {unit!r}; expected V, mV or uV")
    return signal.values * _UNITS[unit]


def _grid(
    members: list[dict[str, str]], electrodes: dict[str, dict[str, str]], bad: tuple[int, ...], source: Path
) -> ElectrodeGrid:
    names = [r.get("signal_electrode") or r["name"] for r in members]
    if not electrodes or any(n not in electrodes for n in names):
        if electrodes:
            log.warning("%s: some EMG channels have no electrode; channels read as one column", source)
        rc = np.stack([np.arange(len(members)), np.zeros(len(members), dtype=np.int64)], axis=1)
        return ElectrodeGrid(len(members), 1, 8.0, rc, bad)
    try:
        xy = np.asarray([[float(electrodes[n]["x"]), float(electrodes[n]["y"])] for n in names])
    except (KeyError, ValueError):
        raise RecordingFormatError(f"{source}: electrodes need numeric x and y") from None
    xs, ys = np.unique(np.round(xy[:, 0], 6)), np.unique(np.round(xy[:, 1], 6))
    steps = np.concatenate([np.diff(xs), np.diff(ys)])
    ied = float(steps.min()) if steps.size else 1.0
    cols = np.rint((xy[:, 0] - xs[0]) / ied).astype(np.int64)
    rows = np.rint((xy[:, 1] - ys[0]) / ied).astype(np.int64)
    group = electrodes[names[0]].get("group", "")
    try:
        return ElectrodeGrid(int(rows.max()) + 1, int(cols.max()) + 1, ied, np.stack([rows, cols], 1), bad, name=group)
    except RecordingFormatError as exc:
        raise RecordingFormatError(f"{source}: {exc}") from None


def write_bids_emg(recording: Recording, path: str | os.PathLike[str], task_name: str = "task") -> None:
    """Write ``recording`` as BIDS EMG: ``path`` (name it ``*_emg.bdf``, BIDS's recommended form)
    with ``*_channels.tsv``, ``*_electrodes.tsv``, ``*_coordsystem.json`` and ``*_emg.json``
    beside it, each written atomically.

    EMG goes in µV, auxiliary channels (type MISC) in their own unit. Electrodes sit at
    ``x = column · ied``, ``y = row · ied`` (mm) in a grid coordinate system; bad channels get
    status "bad". The BDF's last one-second record is padded with zeros; ``RecordingDuration`` in
    ``*_emg.json`` gives the true length, and :func:`read_bids_emg` trims to it.
    """
    path = Path(path)
    if path.suffix != ".bdf" or not path.name.endswith("_emg.bdf"):
        raise BmissError(f"{path}: name BIDS EMG files *_emg.bdf")
    g = recording.grid
    names = [f"emg{k + 1}" for k in range(recording.n_channels)]
    aux_names = list(recording.aux)
    values = np.vstack([recording.emg_v.astype(np.float64) / 1e-6,
                        *[recording.aux[a].astype(np.float64)[None, :] for a in aux_names]])
    try:
        payload = bdf_bytes([*names, *aux_names], ["uV"] * len(names) + ["n/a"] * len(aux_names), values,
                            recording.sampling_rate_hz)
    except ValueError as exc:
        raise BmissError(f"{path}: {exc}") from None
    group = g.name or "grid1"
    bad = set(g.bad_channels)
    channels = ["name\ttype\tunits\tsignal_electrode\tstatus"]
    channels += [f"{n}\tEMG\tuV\tE{k + 1}\t{'bad' if k in bad else 'good'}" for k, n in enumerate(names)]
    channels += [f"{a}\tMISC\tn/a\tn/a\tgood" for a in aux_names]
    electrodes = ["name\tx\ty\tcoordinate_system\tgroup"]
    electrodes += [f"E{k + 1}\t{c * g.ied_mm:g}\t{r * g.ied_mm:g}\t{group}\t{group}"
                   for k, (r, c) in enumerate(g.channel_rc)]
    coordsystem = {group: {
        "EMGCoordinateSystem": "Other", "EMGCoordinateUnits": "mm",
        "EMGCoordinateSystemDescription": "x = grid column × inter-electrode distance, y = grid row × "
                                          f"inter-electrode distance; the fibres run along the grid's {g.fibre_axis}",
    }}
    sidecar = {
        "TaskName": task_name, "SamplingFrequency": recording.sampling_rate_hz,
        "EMGChannelCount": recording.n_channels, "MISCChannelCount": len(aux_names),
        "EMGReference": "n/a", "EMGGround": "n/a", "PowerLineFrequency": "n/a", "SoftwareFilters": "n/a",
        "RecordingType": "continuous", "RecordingDuration": recording.n_samples / recording.sampling_rate_hz,
        "EMGPlacementScheme": "Other",
    }
    write_bytes_atomic(path, payload)
    write_text_atomic(_sidecar(path, "channels"), "\n".join(channels) + "\n")
    write_text_atomic(_sidecar(path, "electrodes"), "\n".join(electrodes) + "\n")
    write_text_atomic(_sidecar(path, "coordsystem").with_suffix(".json"), json.dumps(coordsystem, indent=2) + "\n")
    write_text_atomic(path.with_suffix(".json"), json.dumps(sidecar, indent=2) + "\n")
