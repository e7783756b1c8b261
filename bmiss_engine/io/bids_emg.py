"""BIDS EMG recordings: ``*_emg.edf`` / ``*_emg.bdf`` with their ``*_channels.tsv``,
``*_electrodes.tsv``, ``*_coordsystem.json`` and ``*_emg.json``; read, and written as BDF.

- ``*_channels.tsv`` (name, type, units, optional signal_electrode and status): channels of type
  EMG are the grid's, the others auxiliary; status "bad" marks bad channels. Without it, every
  signal is EMG.
- ``*_electrodes.tsv`` (name, x, y, optional coordinate_system and group): each EMG channel sits
  on its ``signal_electrode`` (or the electrode of the same name). The grid is laid out from the
  coordinates: distinct ``y`` give rows, distinct ``x`` columns, and the inter-electrode
  distance is the smallest step between them, in mm: the ``EMGCoordinateUnits`` of the
  ``*_space-<coordinate_system>_coordsystem.json`` (or of the one coordsystem without a space)
  converts m and cm; without one, mm is taken, as in BIDS's own grid example. Electrodes in
  several ``group`` s make one recording per group. Without the table, the channels are read as
  one column and ``grid=`` can give the layout.
- ``*_emg.json``: ``RecordingDuration`` trims the padding of the last data record.

Sidecars are found by BIDS's inheritance principle: in the data file's folder or any folder above
it up to the dataset's root (the folder with ``dataset_description.json``), a file with the
sidecar's suffix whose entities (``sub-``, ``ses-``, ``task-``, ``acq-``, ``run-``,
``recording-``) are all the data file's; the nearest folder wins, and in a folder the file
naming most entities. JSON sidecars found at several levels are merged, the nearer overriding.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.errors import BmissError, RecordingFormatError
from bmiss_engine.io.atomic import write_bytes_atomic, write_text_atomic
from bmiss_engine.io.edf import EdfSignal, bdf_bytes, read_edf
from bmiss_engine.recording import VOLTS_PER_UNIT, ElectrodeGrid, Recording

log = logging.getLogger(__name__)

_UNITS = {**VOLTS_PER_UNIT, "nV": 1e-9, "uv": 1e-6, "mv": 1e-3, "v": 1.0}
_MM_PER_UNIT = {"mm": 1.0, "cm": 10.0, "m": 1000.0}
# the entities of BIDS EMG file names, in BIDS's order
_ENTITY_ORDER = ("sub", "ses", "task", "acq", "run", "space", "recording")
_LABEL = re.compile(r"[^0-9A-Za-z]")
BIDS_VERSION = "1.11.0"  # the first with EMG


def bids_entities(name: str) -> tuple[dict[str, str], str]:
    """(entities, suffix) of a BIDS file name: ``sub-01_task-grip_emg.bdf`` →
    ``({"sub": "01", "task": "grip"}, "emg")``."""
    stem = name.split(".", 1)[0]
    parts = stem.split("_")
    entities = dict(part.split("-", 1) for part in parts[:-1] if "-" in part)
    return entities, parts[-1] if "-" not in parts[-1] else ""


def bids_name(entities: dict[str, str], suffix: str, extension: str) -> str:
    """A BIDS file name from ``entities`` (in BIDS's order), ``suffix`` and ``extension``."""
    ordered = [k for k in _ENTITY_ORDER if k in entities] + sorted(k for k in entities if k not in _ENTITY_ORDER)
    return "_".join([*(f"{k}-{entities[k]}" for k in ordered), suffix]) + extension


def dataset_root(path: str | os.PathLike[str]) -> Path | None:
    """The BIDS dataset ``path`` lies in (the nearest folder above it with
    ``dataset_description.json``), or None."""
    path = Path(path)
    for folder in path.parents:
        if (folder / "dataset_description.json").is_file():
            return folder
    return None


def _levels(path: Path) -> list[Path]:
    """The folders a sidecar of ``path`` may sit in, nearest first."""
    root = dataset_root(path)
    if root is None:
        return [path.parent]
    levels = []
    for folder in path.parents:
        levels.append(folder)
        if folder == root:
            break
    return levels


def _applicable(path: Path, suffix: str, extension: str, ignore: tuple[str, ...] = ()) -> list[list[Path]]:
    """Per level (nearest first), the files ``*_<suffix><extension>`` whose entities (less
    ``ignore``) are all ``path``'s, the most specific first."""
    wanted, _ = bids_entities(path.name)
    out = []
    for folder in _levels(path):
        found = []
        try:
            names = sorted(p.name for p in folder.iterdir() if p.name.endswith(f"{suffix}{extension}"))
        except OSError:
            continue
        for name in names:
            entities, sfx = bids_entities(name)
            if sfx != suffix or name.split(".", 1)[1:] != [extension.lstrip(".")]:
                continue
            if all(wanted.get(k) == v for k, v in entities.items() if k not in ignore):
                found.append((len(entities), folder / name))
        out.append([p for _, p in sorted(found, key=lambda item: -item[0])])
    return out


def inherited_sidecar(path: str | os.PathLike[str], suffix: str, extension: str = ".tsv") -> Path | None:
    """The ``*_<suffix><extension>`` that applies to the data file ``path`` by BIDS's
    inheritance principle (see the module's notes), or None."""
    for level in _applicable(Path(path), suffix, extension):
        if level:
            return level[0]
    return None


def inherited_json(path: str | os.PathLike[str], suffix: str = "emg") -> tuple[dict[str, Any], tuple[Path, ...]]:
    """The ``*_<suffix>.json`` metadata of ``path``, merged over every level (the nearer and the
    more specific overriding), and the files it came from."""
    files = [p for level in reversed(_applicable(Path(path), suffix, ".json")) for p in reversed(level)]
    merged: dict[str, Any] = {}
    for f in files:
        try:
            value = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("%s: unreadable JSON sidecar, ignored (%s)", f, exc)
            continue
        if isinstance(value, dict):
            merged.update(value)
    return merged, tuple(files)


def coordsystems(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """The ``*_coordsystem.json`` that apply to ``path``, by their ``space-`` label ("" for
    one without), the nearest of each label."""
    out: dict[str, dict[str, Any]] = {}
    for level in _applicable(Path(path), "coordsystem", ".json", ignore=("space", "run")):
        for f in level:
            space = bids_entities(f.name)[0].get("space", "")
            if space in out:
                continue
            try:
                value = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                raise RecordingFormatError(f"{f}: not a readable JSON file") from None
            if isinstance(value, dict):
                out[space] = value
    return out


def sidecar_files(path: str | os.PathLike[str]) -> tuple[Path, ...]:
    """The files a BIDS EMG data file's reading depends on and that exist: its channels and
    electrodes tables, its ``*_emg.json`` (the true duration) and coordinate systems, found by
    inheritance."""
    path = Path(path)
    tables = [inherited_sidecar(path, "channels"), inherited_sidecar(path, "electrodes")]
    coords = [f for level in _applicable(path, "coordsystem", ".json", ignore=("space", "run")) for f in level]
    return tuple(p for p in (*tables, *inherited_json(path)[1], *coords) if p is not None)


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
    channels_tsv, electrodes_tsv = inherited_sidecar(path, "channels"), inherited_sidecar(path, "electrodes")
    rows = _table(channels_tsv) if channels_tsv else [{"name": s.label, "type": "EMG"} for s in signals]
    missing = [r.get("name") for r in rows if r.get("name") not in by_name]
    if missing:
        raise RecordingFormatError(f"{channels_tsv}: channels {missing[:3]} are not in {path.name}")
    emg_rows = [r for r in rows if (r.get("type") or "EMG").upper() == "EMG"]
    if not emg_rows:
        raise RecordingFormatError(f"{path}: no channel of type EMG")
    fs = by_name[emg_rows[0]["name"]].sampling_rate_hz
    aux = {}
    for r in rows:
        s = by_name[r["name"]]
        if r not in emg_rows and s.sampling_rate_hz == fs:
            aux[s.label] = s.values.astype(np.float32)
    electrodes = {e["name"]: e for e in _table(electrodes_tsv)} if electrodes_tsv else {}
    mm_per_unit = _mm_per_coordinate_unit(path, electrodes) if electrodes else {}
    groups: dict[str, list[dict[str, str]]] = {}
    for r in emg_rows:
        electrode = electrodes.get(r.get("signal_electrode") or r["name"], {})
        groups.setdefault(electrode.get("group", ""), []).append(r)
    recordings = []
    for members in groups.values():
        emg_v = np.stack([_volts(by_name[r["name"]], r, fs, path) for r in members])
        bad = tuple(i for i, r in enumerate(members) if (r.get("status") or "good").lower() == "bad")
        grid = _grid(members, electrodes, bad, electrodes_tsv or path, mm_per_unit)
        try:
            recordings.append(Recording(emg_v.astype(np.float32), fs, grid, aux, str(path), "bids-emg"))
        except RecordingFormatError as exc:
            raise RecordingFormatError(f"{path}: {exc}") from None
    return tuple(recordings)


def _mm_per_coordinate_unit(path: Path, electrodes: dict[str, dict[str, str]]) -> dict[str, float]:
    """Millimetres per coordinate unit for each ``coordinate_system`` the electrodes name, from
    the coordsystem files that apply ("" stands for electrodes that name none)."""
    systems = coordsystems(path)
    out = {}
    for space in {e.get("coordinate_system") or "" for e in electrodes.values()}:
        system = systems.get(space, systems.get("", {}) if len(systems) <= 1 else {})
        unit = str(system.get("EMGCoordinateUnits", "mm"))
        if unit not in _MM_PER_UNIT:
            raise RecordingFormatError(f"{path}: coordinate system {space or '(unnamed)'} is in {unit!r}; "
                                       "the grid needs lengths (mm, cm or m)")
        out[space] = _MM_PER_UNIT[unit]
    return out


def _trimmed(signals: list[EdfSignal], path: Path) -> list[EdfSignal]:
    """Cut the zero padding of the last record when ``*_emg.json`` states the true duration."""
    try:
        duration_s = float(inherited_json(path)[0]["RecordingDuration"])
    except (ValueError, KeyError, TypeError):
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
    members: list[dict[str, str]], electrodes: dict[str, dict[str, str]], bad: tuple[int, ...], source: Path,
    mm_per_unit: dict[str, float],
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
    xy *= np.asarray([[mm_per_unit.get(electrodes[n].get("coordinate_system") or "", 1.0)] for n in names])
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


# long function: the BIDS files of one recording written together, so a failure leaves none half-written
def write_bids_emg(
    recording: Recording | Sequence[Recording], path: str | os.PathLike[str], task_name: str | None = None
) -> None:
    """Write ``recording`` as BIDS EMG: ``path`` (name it ``sub-<label>[_ses-<label>]_task-<label>
    [_acq-, _run-, _recording-]_emg.bdf``, BIDS's recommended form) with ``*_channels.tsv``,
    ``*_electrodes.tsv``, ``*_emg.json`` and one ``*_space-<grid>_coordsystem.json`` per grid
    beside it (no ``run-`` in the coordsystem's name: BIDS gives it none), each written atomically.

    ``recording`` may be the grids of one session (same rate and length; the auxiliary channels
    of the first are written): each grid becomes an electrode group, read back as its own
    recording. EMG goes in µV, auxiliary channels (type MISC) in their own unit. Electrodes sit at
    ``x = column · ied``, ``y = row · ied``, ``z = 0`` (mm) in the grid's own coordinate system
    (``EMGCoordinateSystem`` "Other", described); bad channels get status "bad". The placement
    scheme is "Other", described in ``EMGPlacementSchemeDescription`` as BIDS requires. The BDF's
    last one-second record is padded with zeros; ``RecordingDuration`` in ``*_emg.json`` gives
    the true length, and :func:`read_bids_emg` trims to it. ``task_name`` defaults to the
    ``task-`` label of the name.
    """
    path = Path(path)
    if path.suffix != ".bdf" or not path.name.endswith("_emg.bdf"):
        raise BmissError(f"{path}: name BIDS EMG files *_emg.bdf")
    grids = [recording] if isinstance(recording, Recording) else list(recording)
    if not grids:
        raise BmissError(f"{path}: no recording to write")
    first = grids[0]
    for other in grids[1:]:
        if other.sampling_rate_hz != first.sampling_rate_hz or other.n_samples != first.n_samples:
            raise BmissError(f"{path}: the grids of one BIDS EMG file must share their rate and length")
    entities, _ = bids_entities(path.name)
    labels = _space_labels(grids)
    names: list[str] = []
    channels = ["name\ttype\tunits\tsignal_electrode\tgroup\tstatus"]
    electrodes = ["name\tx\ty\tz\tcoordinate_system\tgroup"]
    for rec, label in zip(grids, labels, strict=True):
        g, bad = rec.grid, set(rec.grid.bad_channels)
        for k, (r, c) in enumerate(g.channel_rc):
            n = len(names) + 1
            channels.append(f"emg{n}\tEMG\tuV\tE{n}\t{label}\t{'bad' if k in bad else 'good'}")
            electrodes.append(f"E{n}\t{c * g.ied_mm:g}\t{r * g.ied_mm:g}\t0\t{label}\t{label}")
            names.append(f"emg{n}")
    aux_names = list(first.aux)
    channels += [f"{a}\tMISC\tn/a\tn/a\tn/a\tgood" for a in aux_names]
    values = np.vstack([*(rec.emg_v.astype(np.float64) / 1e-6 for rec in grids),
                        *[first.aux[a].astype(np.float64)[None, :] for a in aux_names]])
    try:
        payload = bdf_bytes([*names, *aux_names], ["uV"] * len(names) + ["n/a"] * len(aux_names), values,
                            first.sampling_rate_hz)
    except ValueError as exc:
        raise BmissError(f"{path}: {exc}") from None
    sidecar = {
        "TaskName": task_name or entities.get("task", "task"), "SamplingFrequency": first.sampling_rate_hz,
        "EMGChannelCount": len(names), "MISCChannelCount": len(aux_names),
        "EMGReference": "n/a", "EMGGround": "n/a", "PowerLineFrequency": "n/a", "SoftwareFilters": "n/a",
        "RecordingType": "continuous", "RecordingDuration": first.n_samples / first.sampling_rate_hz,
        "EMGPlacementScheme": "Other",
        "EMGPlacementSchemeDescription": "; ".join(_placement(rec, label) for rec, label in zip(grids, labels, strict=True)),
    }
    base = {k: v for k, v in entities.items() if k != "space"}
    write_bytes_atomic(path, payload)
    write_text_atomic(path.with_name(bids_name(base, "channels", ".tsv")), "\n".join(channels) + "\n")
    write_text_atomic(path.with_name(bids_name(base, "electrodes", ".tsv")), "\n".join(electrodes) + "\n")
    write_text_atomic(path.with_suffix(".json"), json.dumps(sidecar, indent=2, ensure_ascii=False) + "\n")
    no_run = {k: v for k, v in base.items() if k != "run"}
    for rec, label in zip(grids, labels, strict=True):
        coordsystem = {
            "EMGCoordinateSystem": "Other", "EMGCoordinateUnits": "mm",
            "EMGCoordinateSystemDescription": (
                f"The plane of electrode grid {rec.grid.name or label}: x = grid column × inter-electrode distance, "
                f"y = grid row × inter-electrode distance, from the electrode in row 0, column 0; the muscle fibres "
                f"run along the grid's {rec.grid.fibre_axis}"),
        }
        name = bids_name({**no_run, "space": label}, "coordsystem", ".json")
        write_text_atomic(path.with_name(name), json.dumps(coordsystem, indent=2, ensure_ascii=False) + "\n")


def _space_labels(grids: list[Recording]) -> list[str]:
    """A distinct BIDS label (letters and digits) per grid, from its name."""
    labels: list[str] = []
    for i, rec in enumerate(grids):
        label = _LABEL.sub("", rec.grid.name) or f"grid{i + 1}"
        while label in labels:
            label += str(i + 1)
        labels.append(label)
    return labels


def _placement(rec: Recording, label: str) -> str:
    g = rec.grid
    return (f"{label}: high-density electrode grid{' ' + g.name if g.name and g.name != label else ''} of "
            f"{g.n_rows} × {g.n_columns} electrodes, {g.ied_mm:g} mm apart; electrode positions in *_electrodes.tsv "
            "are on the grid, in its own coordinate system")
