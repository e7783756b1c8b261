""".mat files exported by OTBioLab+ (the form openhdemg's ``emg_from_otb`` and its sample use).

Variables: ``Data``, an n_samples × n_columns matrix (sometimes inside a 1×1 cell);
``Description``, one text per column; ``SamplingFrequency`` (Hz). A column is

- EMG when its description names a grid code (e.g. "Vastus Lateralis - AUX 3 (Channel 1->1) -
  GR08MM1305 (1)[uV]"); consecutive EMG
  columns of one code form one grid (a new grid starts when the code changes or the grid is
  full), in the amplifier's channel order, mapped by :mod:`bmiss_engine.io.grids`. The unit is
  read from "[uV]", "[mV]" or "[V]" in the description (µV when none is given);
- a discharge train (0/1) when it contains "Decomposition of" ("1 - 4 - Decomposition of ...");
- a pulse train when it contains "Source for decomposition";
- otherwise an auxiliary channel named by its description ("acquired data" is the force).

OTBioLab+'s pulse trains lead its discharge trains by the extension factor (openhdemg shifts the
discharges back by it, 8 by default). Here the discharges stay where OTBioLab+ put them, on the
EMG's time axis, and each pulse train is delayed by the lag (0-64 samples) that best lines its
peaks up with them, so that SIL and PNR mean what they mean for BMISS's own units.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.errors import RecordingFormatError
from bmiss_engine.io.grids import KNOWN_GRIDS, otb_grid
from bmiss_engine.io.imported import imported_result
from bmiss_engine.io.matlab import MatValue, cells, scalar
from bmiss_engine.recording import VOLTS_PER_UNIT, Recording
from bmiss_engine.results import DecompositionResult

_CODE = re.compile(r"(GR|HD)\d{2}MM\d{4}", re.IGNORECASE)
_UNIT = re.compile(r"\[(uV|µV|mV|V)\]")
_MAX_LAG = 64


def has_otb_export(data: dict[str, MatValue]) -> bool:
    return {"Data", "Description", "SamplingFrequency"} <= set(data)


def _columns(data: dict[str, MatValue], path: Path) -> tuple[NDArray[np.float64], list[str]]:
    matrix = data["Data"]
    if isinstance(matrix, np.ndarray) and matrix.dtype == object and matrix.size == 1:
        matrix = matrix.flat[0]
    try:
        values = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError):
        raise RecordingFormatError(f"{path}: 'Data' must be a numeric matrix") from None
    descriptions = [str(d).strip() for d in cells(data["Description"])]
    if values.ndim != 2 or values.shape[1] != len(descriptions):
        raise RecordingFormatError(
            f"{path}: 'Data' has shape {values.shape} but 'Description' names {len(descriptions)} columns"
        )
    return values, descriptions


def otb_export_recordings(data: dict[str, MatValue], path: Path) -> tuple[Recording, ...]:
    """One recording per grid found in the EMG columns."""
    values, descriptions = _columns(data, path)
    fs = scalar(data["SamplingFrequency"], "SamplingFrequency", path)
    grids: list[tuple[str, list[int]]] = []
    aux = {}
    for j, text in enumerate(descriptions):
        code = _CODE.search(text)
        if _role(text) == "emg" and code is not None:
            name = code.group(0).upper()
            full = bool(grids) and name in KNOWN_GRIDS and len(grids[-1][1]) >= KNOWN_GRIDS[name][3]
            if not grids or grids[-1][0] != name or full:
                grids.append((name, []))
            grids[-1][1].append(j)
        elif _role(text) == "emg":
            label = text or f"column{j + 1}"
            while label in aux:
                label += "'"
            aux[label] = values[:, j].astype(np.float32)
    if not grids:
        raise RecordingFormatError(f"{path}: no column of 'Data' is EMG from a known grid (descriptions name none)")
    recordings = []
    for name, cols in grids:
        unit = _UNIT.search(descriptions[cols[0]])
        volts = VOLTS_PER_UNIT[unit.group(1) if unit else "uV"]
        try:
            grid = otb_grid(name, len(cols))
            emg_v = (values[:, cols].T * volts).astype(np.float32)
            recordings.append(Recording(emg_v, fs, grid, aux, str(path), "otb-mat"))
        except (ValueError, RecordingFormatError) as exc:
            raise RecordingFormatError(f"{path}: grid {name}: {exc}") from None
    return tuple(recordings)


def has_otb_export_result(data: dict[str, MatValue]) -> bool:
    return has_otb_export(data) and any(_role(str(d)) == "discharges" for d in cells(data["Description"]))


def _role(description: str) -> str:
    """"discharges", "pulse_train" or "emg" (EMG or auxiliary) for a column description such as
    "1 - 4 - Decomposition of Vastus Lateralis - ... - GR08MM1305 (1)[a.u]"."""
    if "Source for decomposition" in description:
        return "pulse_train"
    if "Decomposition of" in description:
        return "discharges"
    return "emg"


def otb_export_result(data: dict[str, MatValue], path: Path) -> DecompositionResult:
    """The units of the "Decomposition of" columns, with their "Source for decomposition" trains."""
    values, descriptions = _columns(data, path)
    fs = scalar(data["SamplingFrequency"], "SamplingFrequency", path)
    trains = [j for j, d in enumerate(descriptions) if _role(d) == "discharges"]
    sources = [j for j, d in enumerate(descriptions) if _role(d) == "pulse_train"]
    discharges = [np.flatnonzero(values[:, j] > 0.5) for j in trains]
    ipts = None
    if len(sources) == len(trains):
        ipts = np.stack([_aligned(values[:, s], d) for s, d in zip(sources, discharges, strict=True)])
    return imported_result(path, discharges, fs, values.shape[0], ipts, None, "otb-mat")


def _aligned(train: NDArray[np.float64], discharges: NDArray[np.int64]) -> NDArray[np.float64]:
    """``train`` delayed by the lag that maximises its mean value at ``discharges``."""
    if discharges.size == 0:
        return train
    n = train.size
    scores = [train[discharges[discharges >= lag] - lag].mean() for lag in range(_MAX_LAG + 1)]
    lag = int(np.argmax(scores))
    out = np.zeros(n)
    out[lag:] = train[: n - lag]
    return out
