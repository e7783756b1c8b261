"""MUedit .mat files (Avrillon et al.'s MUedit): one struct ``signal``.

Recording: ``signal.data`` (n_channels×n, mV, as MUedit's OTB reader converts), ``signal.fsamp``,
``signal.ngrid`` grids of ``n_channels / ngrid`` consecutive channels each, named by
``signal.gridname`` (OTB codes). A grid's layout comes from ``signal.coordinates{g}`` when
present (n×2, 1-based row and column of each channel, as MUedit's ``formatsignalHDEMG`` makes
them), else from the grid code (:mod:`bmiss_engine.io.grids`); the distance from ``signal.IED``
or the code. ``signal.EMGmask{g}`` (1 = discarded) marks bad channels. ``signal.target``,
``signal.path`` and the rows of ``signal.auxiliary`` (named by ``signal.auxiliaryname``) are
kept as auxiliary channels.

Decomposition: ``signal.Pulsetrain{g}`` (n_units×n) and ``signal.Dischargetimes{g, u}``
(1-based samples) for grid g.

MUedit's editor opens a file with ``load(file, 'parameters', 'signal')`` and its Save writes
``signal``, ``parameters`` and ``edition`` back; so a file for it needs the top-level struct
``parameters`` (the decomposition's settings, :func:`muedit_parameters`) besides ``signal``, and
``signal.data`` with ``signal.EMGmask`` for the editor to show the units at all.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.errors import RecordingFormatError
from bmiss_engine.io.grids import is_grid_code, otb_grid
from bmiss_engine.io.imported import imported_result
from bmiss_engine.io.matlab import MatValue, cells, scalar, vector
from bmiss_engine.recording import ElectrodeGrid, Recording
from bmiss_engine.results import DecompositionResult

log = logging.getLogger(__name__)

VOLTS_PER_MV = 1e-3


def has_muedit_signal(data: dict[str, MatValue]) -> bool:
    return isinstance(data.get("signal"), dict) and "data" in data["signal"]


def has_muedit_result(data: dict[str, MatValue]) -> bool:
    return isinstance(data.get("signal"), dict) and "Dischargetimes" in data["signal"]


def muedit_recordings(data: dict[str, MatValue], path: Path) -> tuple[Recording, ...]:
    """One recording per grid of ``signal``."""
    signal: dict[str, MatValue] = data["signal"]
    emg = np.asarray(signal["data"])
    if emg.ndim != 2 or not np.issubdtype(emg.dtype, np.number):
        raise RecordingFormatError(f"{path}: 'signal.data' must be a numeric channels × samples matrix")
    fs = scalar(signal.get("fsamp"), "signal.fsamp", path)
    n_grids = int(scalar(signal.get("ngrid", 1), "signal.ngrid", path))
    if n_grids < 1 or emg.shape[0] % n_grids:
        raise RecordingFormatError(f"{path}: {emg.shape[0]} channels cannot be split into {n_grids} grids")
    per_grid = emg.shape[0] // n_grids
    names = [str(n) for n in cells(signal.get("gridname", np.empty((1, 0), dtype=object)))]
    aux = _aux(signal, emg.shape[1], path)
    recordings = []
    for g in range(n_grids):
        grid = _grid(signal, g, names[g] if g < len(names) else "", per_grid, path)
        emg_v = emg[g * per_grid : (g + 1) * per_grid].astype(np.float64) * VOLTS_PER_MV
        try:
            recordings.append(Recording(emg_v.astype(np.float32), fs, grid, aux, str(path), "muedit"))
        except RecordingFormatError as exc:
            raise RecordingFormatError(f"{path}: {exc}") from None
    return tuple(recordings)


def _grid(signal: dict[str, MatValue], g: int, name: str, n_channels: int, path: Path) -> ElectrodeGrid:
    ied = _per_grid(signal.get("IED"), g)
    bad: tuple[int, ...] = ()
    masks = cells(signal["EMGmask"]) if "EMGmask" in signal else []
    if g < len(masks):
        mask = vector(masks[g], "signal.EMGmask", path)
        if mask.size == n_channels:
            bad = tuple(int(i) for i in np.flatnonzero(mask))
    coords = cells(signal["coordinates"]) if "coordinates" in signal else []
    try:
        coded = otb_grid(name, n_channels) if is_grid_code(name) else None
        if g < len(coords) and np.asarray(coords[g]).shape == (n_channels, 2):
            rc = np.rint(np.asarray(coords[g], dtype=np.float64)).astype(np.int64) - 1
            rows, cols = int(rc[:, 0].max()) + 1, int(rc[:, 1].max()) + 1
            if coded is not None:
                rows, cols = max(rows, coded.n_rows), max(cols, coded.n_columns)
            return ElectrodeGrid(rows, cols, ied or (coded.ied_mm if coded else 8.0), rc, bad, name=name)
        if coded is not None:
            return ElectrodeGrid(coded.n_rows, coded.n_columns, ied or coded.ied_mm, coded.channel_rc, bad, name=name)
    except (ValueError, RecordingFormatError) as exc:
        raise RecordingFormatError(f"{path}: grid {g + 1} ({name}): {exc}") from None
    log.warning("%s: grid %d (%r) has no known layout; its channels are read as one column", path, g + 1, name)
    return ElectrodeGrid(n_channels, 1, ied or 8.0, np.stack([np.arange(n_channels), np.zeros(n_channels)], 1),
                         bad, name=name)


def _per_grid(value: MatValue, g: int) -> float | None:
    if value is None:
        return None
    arr = np.asarray(value, dtype=np.float64).ravel()
    if arr.size == 0:
        return None
    return float(arr[min(g, arr.size - 1)]) if arr[min(g, arr.size - 1)] > 0 else None


def _aux(signal: dict[str, MatValue], n_samples: int, path: Path) -> dict[str, NDArray[np.float32]]:
    aux: dict[str, NDArray[np.float32]] = {}
    if "auxiliary" in signal:
        rows = np.atleast_2d(np.asarray(signal["auxiliary"], dtype=np.float64))
        names = [str(n) for n in cells(signal.get("auxiliaryname", np.empty((1, 0), dtype=object)))]
        if rows.shape[1] == n_samples:
            for i, row in enumerate(rows):
                aux[names[i] if i < len(names) and names[i] else f"aux{i}"] = row.astype(np.float32)
    for key in ("target", "path"):
        if key in signal:
            values = vector(signal[key], f"signal.{key}", path)
            if values.size == n_samples:
                aux[key] = values.astype(np.float32)
    return aux


def muedit_result(data: dict[str, MatValue], path: Path, grid_index: int = 0) -> DecompositionResult:
    """The units MUedit found on grid ``grid_index``."""
    signal: dict[str, MatValue] = data["signal"]
    fs = scalar(signal.get("fsamp"), "signal.fsamp", path)
    times = signal["Dischargetimes"]
    if isinstance(times, np.ndarray) and times.dtype == object:
        table = times if times.ndim == 2 else times.reshape(1, -1)
        if table.shape[0] <= grid_index:
            raise RecordingFormatError(f"{path}: no discharge times for grid {grid_index + 1}")
        row = [t for t in table[grid_index]]
    else:
        row = [times]
    pulses = [vector(t, "signal.Dischargetimes", path) - 1 for t in row]
    trains = cells(signal["Pulsetrain"]) if "Pulsetrain" in signal else []
    ipts = np.atleast_2d(np.asarray(trains[grid_index], dtype=np.float64)) if grid_index < len(trains) else None
    if ipts is not None and ipts.size == 0:
        ipts = None
    # MUedit pads the cell with empty entries for grids with fewer units
    keep = [i for i, p in enumerate(pulses) if p.size or (ipts is not None and i < ipts.shape[0])]
    pulses = [pulses[i] for i in keep]
    if ipts is not None:
        n_samples = int(ipts.shape[1])
    elif "data" in signal:
        n_samples = int(np.asarray(signal["data"]).shape[1])
    else:
        n_samples = int(max((p.max() for p in pulses if p.size), default=0)) + 1
    ids = None
    if "unit_id" in signal:
        ids = [int(i) for i in vector(signal["unit_id"], "signal.unit_id", path)]
    return imported_result(path, pulses, fs, n_samples, ipts, ids, "muedit")


def muedit_signal(result: DecompositionResult, recording: Recording | None = None) -> dict[str, Any]:
    """MUedit's ``signal`` struct (one grid) for ``scipy.io.savemat``. Without a recording it
    holds only the decomposition (MUedit's editor needs ``data`` to display units)."""
    n = len(result.units)
    times = np.empty((1, n), dtype=object)
    for i, u in enumerate(result.units):
        times[0, i] = (u.discharge_samples + 1).astype(np.float64)[None, :]
    trains = np.empty((1, 1), dtype=object)
    trains[0, 0] = np.stack([u.pulse_train for u in result.units]).astype(np.float64) if n else np.zeros((0, 0))
    signal: dict[str, Any] = {
        "fsamp": float(result.sampling_rate_hz),
        "ngrid": 1.0,
        "Pulsetrain": trains,
        "Dischargetimes": times,
        "unit_id": np.asarray([u.unit_id for u in result.units], dtype=np.float64),
    }
    if recording is not None:
        g = recording.grid
        mask = np.zeros((g.n_channels, 1))
        mask[list(g.bad_channels)] = 1.0
        signal.update({
            "data": recording.emg_v.astype(np.float64) / VOLTS_PER_MV,
            "nChan": float(g.n_channels),
            "gridname": _cell([g.name or f"{g.n_rows}x{g.n_columns}"]),
            "muscle": _cell([""]),
            "coordinates": _cell([(g.channel_rc + 1).astype(np.float64)]),
            "IED": float(g.ied_mm),
            "EMGmask": _cell([mask]),
            "emgtype": 1.0,
        })
        if recording.aux:  # as MUedit's own OTB reader keeps AUX inputs
            signal["auxiliary"] = np.stack([v.astype(np.float64) for v in recording.aux.values()])
            signal["auxiliaryname"] = _cell(list(recording.aux))
        # MUedit plots the force target and path under the units: always give both
        reference = recording.aux.get("target", next(iter(recording.aux.values()), np.zeros(recording.n_samples)))
        signal["target"] = np.asarray(reference, dtype=np.float64)[None, :]
        signal["path"] = np.asarray(recording.aux.get("path", reference), dtype=np.float64)[None, :]
    return signal


def muedit_parameters(result: DecompositionResult) -> dict[str, Any]:
    """MUedit's top-level ``parameters`` struct for ``scipy.io.savemat``: the fields MUedit's
    decomposition sets (``HDEMGdecomposition``), from the settings that made ``result`` where
    they correspond (iterations, contrast, SIL and CoV thresholds, peel-off, duplicate
    threshold, extended channels), MUedit's own defaults for the rest."""
    config = result.config
    n_ext = 1000.0
    if result.model is not None:
        n_ext = float(result.model.extension_factor * len(result.model.channels))
    return {
        "checkEMG": 0.0,
        "peeloff": float(bool(_setting(config, "separation", "peel_off", True))),
        "covfilter": 1.0,
        "initialization": 1.0,
        "refineMU": 1.0,
        "NITER": float(_setting(config, "separation", "n_iterations", 150)),
        "nwindows": 1.0,
        "thresholdtarget": 0.9,
        "nbextchan": n_ext,
        "duplicatesthresh": float(_setting(config, "acceptance", "duplicate_roa", 0.3)),
        "silthr": float(_setting(config, "acceptance", "sil_threshold", 0.9)),
        "covthr": float(_setting(config, "acceptance", "max_cov_isi", 0.5)),
        "CoVDR": 0.3,
        "edges": 0.5,
        "contrastfunc": str(_setting(config, "separation", "contrast", "skew")),
        "peeloffwin": 0.025,
    }


def _setting(config: dict[str, Any], section: str, key: str, default: Any) -> Any:
    """``config[section][key]``, or a flat ``config[key]`` (results written before the settings
    were nested), or ``default``; None counts as absent."""
    nested = config.get(section)
    value = nested.get(key) if isinstance(nested, dict) else config.get(key)
    return default if value is None else value


def _cell(items: list[Any]) -> NDArray[Any]:
    out = np.empty((1, len(items)), dtype=object)
    for i, item in enumerate(items):
        out[0, i] = item
    return out
