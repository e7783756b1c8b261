""".mat files: tell DEMUSE, MUedit and OTBioLab+ exports apart by their variables, read any of
them, and write one file that DEMUSE and MUedit both open."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from bmiss_engine.errors import RecordingFormatError
from bmiss_engine.io.atomic import write_bytes_atomic
from bmiss_engine.io.demuse import (
    demuse_recording,
    demuse_result,
    demuse_variables,
    has_demuse_result,
    has_demuse_signal,
)
from bmiss_engine.io.matlab import MatValue, load_mat
from bmiss_engine.io.muedit import (
    has_muedit_result,
    has_muedit_signal,
    muedit_parameters,
    muedit_recordings,
    muedit_result,
    muedit_signal,
)
from bmiss_engine.io.otb_mat import has_otb_export, has_otb_export_result, otb_export_recordings, otb_export_result
from bmiss_engine.io.unit_model import from_mat_struct, mat_struct, with_unit_models
from bmiss_engine.recording import Recording
from bmiss_engine.results import DecompositionResult


def read_mat_variables(path: str | os.PathLike[str]) -> dict[str, MatValue]:
    """Every variable of a .mat file (v5 or v7.3), read once: :func:`mat_recordings` and
    :func:`mat_result` take them, so a file with the EMG and the units is not read twice."""
    path = Path(path)
    try:
        return load_mat(path)
    except FileNotFoundError:
        raise RecordingFormatError(f"{path}: no such file") from None


def read_mat_recordings(path: str | os.PathLike[str]) -> tuple[Recording, ...]:
    """The recording(s) of a DEMUSE (``SIG``), MUedit (``signal.data``) or OTBioLab+-exported
    (``Data``/``Description``) file; MUedit and OTB files give one recording per grid."""
    path = Path(path)
    return mat_recordings(read_mat_variables(path), path)


def mat_recordings(data: dict[str, MatValue], path: Path) -> tuple[Recording, ...]:
    """:func:`read_mat_recordings` of the variables already read from ``path``."""
    # MUedit's struct first: it keeps the channel order and the bad channels, SIG keeps neither
    if has_muedit_signal(data):
        return muedit_recordings(data, path)
    if has_demuse_signal(data):
        return (demuse_recording(data, path),)
    if has_otb_export(data):
        return otb_export_recordings(data, path)
    raise RecordingFormatError(
        f"{path}: a MATLAB file without a recording: not DEMUSE's 'SIG', MUedit's 'signal.data' nor an "
        f"OTBioLab+ export ('Data', 'Description') "
        f"(variables: {', '.join(sorted(data)) or 'none'})"
    )


def read_mat_result(path: str | os.PathLike[str], grid_index: int = 0) -> DecompositionResult:
    """The decomposition of a DEMUSE (``MUPulses``), MUedit (``signal.Dischargetimes``) or
    OTBioLab+-exported ("Decomposition of" columns) file."""
    path = Path(path)
    return mat_result(read_mat_variables(path), path, grid_index)


def mat_result(data: dict[str, MatValue], path: Path, grid_index: int = 0) -> DecompositionResult:
    """:func:`read_mat_result` of the variables already read from ``path``."""
    if has_demuse_result(data):
        return _with_bmiss_struct(demuse_result(data, path), data)
    if has_muedit_result(data):
        return _with_bmiss_struct(muedit_result(data, path, grid_index), data)
    if has_otb_export_result(data):
        return otb_export_result(data, path)
    raise RecordingFormatError(
        f"{path}: a MATLAB file without a decomposition: not DEMUSE's 'MUPulses', MUedit's "
        f"'signal.Dischargetimes' nor OTBioLab+'s 'Decomposition of' columns"
    )


def _with_bmiss_struct(result: DecompositionResult, data: dict[str, MatValue]) -> DecompositionResult:
    """``result`` with the origin, θ and θ's sd that our ``bmiss`` struct keeps per unit id,
    when the file is one BMISS wrote (see :func:`~bmiss_engine.io.unit_model.mat_struct`)."""
    if "bmiss" not in data:
        return result
    return with_unit_models(result, from_mat_struct(data["bmiss"], len(result.units)))


def write_mat(
    result: DecompositionResult,
    path: str | os.PathLike[str],
    recording: Recording | None = None,
    *,
    ref_mvc: float | None = None,
) -> None:
    """MAT v5 that DEMUSE, openhdemg's ``emg_from_demuse`` and MUedit all open: DEMUSE's
    top-level variables (``MUPulses`` 1-based, ``IPTs``, ``fsamp``; with a recording ``SIG``,
    ``IED``, ``ref_signal``), MUedit's ``signal`` and ``parameters`` structs, and BMISS's per-unit
    ``unit_id``, ``SIL``, ``PNR``, ``CoV_ISI``, ``status`` and the ``bmiss`` struct (origin, θ,
    θ's sd: :func:`~bmiss_engine.io.unit_model.mat_struct`), which the other tools pass over.

    Pass the decomposed ``recording``: the EMG (in mV) is stored only then, and without it the
    other tools cannot open the file for editing (openhdemg's loader reads ``IED`` and ``SIG``,
    MUedit's editor ``signal.data`` and ``signal.EMGmask``); the units alone still read back here.
    ``ref_signal`` is the recording's reference channel in % MVC (``ref_mvc``, in that channel's
    unit, when known; else % of its peak in this recording, see
    :func:`~bmiss_engine.io.reference.percent_of_mvc`); MUedit's ``signal.auxiliary`` keeps every
    auxiliary channel as recorded.
    """
    variables: dict[str, Any] = demuse_variables(result, recording, ref_mvc)
    variables["signal"] = muedit_signal(result, recording)
    variables["parameters"] = muedit_parameters(result)
    status = np.empty((1, len(result.units)), dtype=object)
    for i, u in enumerate(result.units):
        status[0, i] = u.status
    variables.update({
        "SIL": np.asarray([u.sil for u in result.units], dtype=np.float64),
        "PNR": np.asarray([u.pnr_db for u in result.units], dtype=np.float64),
        "CoV_ISI": np.asarray([u.cov_isi for u in result.units], dtype=np.float64),
        "status": status,
        "bmiss": mat_struct(result.units),
    })
    _save(variables, Path(path))


def write_muedit_mat(
    result: DecompositionResult,
    path: str | os.PathLike[str],
    recording: Recording | None = None,
    *,
    ref_mvc: float | None = None,
) -> None:
    """MAT v5 in MUedit's layout alone: the ``signal`` struct (one grid; with the ``recording``
    its EMG in mV, mask, coordinates and auxiliary channels) and the ``parameters`` struct MUedit's
    editor loads and saves back. Half the size of :func:`write_mat`'s file, which also holds
    DEMUSE's copy of the EMG. Pass the ``recording``: MUedit's editor needs ``signal.data``.
    ``ref_mvc`` is accepted for a common signature and not used: MUedit rescales its reference
    (``signal.target``) itself. The units' origin, θ and θ's sd go in a top-level ``bmiss``
    struct (:func:`~bmiss_engine.io.unit_model.mat_struct`): MUedit loads only ``signal`` and
    ``parameters``, and saves only those (and ``edition``) back."""
    _save({"signal": muedit_signal(result, recording), "parameters": muedit_parameters(result),
           "bmiss": mat_struct(result.units)}, Path(path))


def _save(variables: dict[str, Any], path: Path) -> None:
    import scipy.io

    buf = io.BytesIO()
    scipy.io.savemat(buf, variables, do_compression=True, long_field_names=True)
    write_bytes_atomic(path, buf.getvalue())
