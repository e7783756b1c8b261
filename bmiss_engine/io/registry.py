"""Pick the reader for a recording or result file: by content first (magic bytes), then by
extension for the text formats that have none."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from bmiss_engine.errors import RecordingFormatError
from bmiss_engine.recording import ElectrodeGrid, Recording
from bmiss_engine.results import DecompositionResult

log = logging.getLogger(__name__)

_MAT_V5 = b"MATLAB 5.0 MAT-file"
_MAT_V73 = b"MATLAB 7.3 MAT-file"
_HDF5 = b"\x89HDF\r\n\x1a\n"
_ZIP = b"PK\x03\x04"
_GZIP = b"\x1f\x8b"
_NPY = b"\x93NUMPY"
_EDF = b"0       "
_BDF = b"\xffBIOSEMI"
_POLY5 = b"POLY SAMPLE FILE"
_RHD = b"\x02\x27\x91\xc6"  # Intan's magic number 0xC6912702, little-endian

SUPPORTED = (
    ".otb+, .otb4, DEMUSE/MUedit/OTBioLab+ .mat, openhdemg .json, BIDS EMG .edf/.bdf, TMSi .poly5, Intan .rhd, .npz, "
    "and .npy/.csv with a grid description"
)


def _check_file(path: Path) -> bytes:
    """The first 1 KiB of ``path``, after ruling out a missing, folder or empty path."""
    if not path.exists():
        raise RecordingFormatError(f"{path}: no such file")
    if path.is_dir():
        raise RecordingFormatError(f"{path}: is a folder, not a recording file")
    try:
        with path.open("rb") as fh:
            head = fh.read(1024)
    except OSError as exc:
        raise RecordingFormatError(f"{path}: cannot read ({exc})") from None
    if not head:
        raise RecordingFormatError(f"{path}: the file is empty")
    return head


def file_kind(path: Path, head: bytes) -> str:
    """One of "npz", "otb+", "mat", "openhdemg", "npy", "edf", "poly5", "rhd", "otb4", "csv", or "" when unknown."""
    suffix = path.name.lower().rsplit(".", 1)[-1] if "." in path.name else ""
    if head.startswith(_ZIP):
        return "npz"
    if head.startswith((_MAT_V5, _MAT_V73)) or head.startswith(_HDF5) or head[512:520] == _HDF5:
        return "mat"
    if suffix in ("otb+", "otb"):
        return "otb+"  # a tar archive, possibly gzip-compressed
    if head.startswith(_GZIP) or suffix == "json":
        return "openhdemg"
    if head.startswith(_NPY):
        return "npy"
    if head.startswith(_BDF) or (head.startswith(_EDF) and suffix not in ("csv", "txt", "tsv")):
        return "edf"
    if head.startswith(_POLY5) or suffix == "poly5":
        return "poly5"
    if head.startswith(_RHD) or suffix == "rhd":
        return "rhd"
    if suffix == "otb4":
        return "otb4"
    if suffix in ("otb+", "otb") or (len(head) >= 512 and head[257:262] == b"ustar"):
        return "otb+"
    if suffix in ("npz", "npy"):
        return suffix  # a broken .npz or .npy: let its reader name the problem
    if suffix in ("csv", "txt", "tsv"):
        return "csv"
    if suffix == "mat":
        return "mat"
    return ""


def open_recordings(
    path: str | os.PathLike[str],
    *,
    grid: ElectrodeGrid | None = None,
    sampling_rate_hz: float | None = None,
    emg_unit: str = "uV",
) -> tuple[Recording, ...]:
    """Every grid of a recording file, one :class:`Recording` each, in the file's order (one for
    the formats that hold one grid). The arguments are those of :func:`open_recording`; ``grid``
    replaces the layout of each.

    An application that lets the user choose a grid reads the file once with this, shows each
    recording's ``grid.name`` and ``n_channels``, and keeps the one chosen.
    """
    path = Path(path)
    head = _check_file(path)
    kind = file_kind(path, head)
    with _unforeseen_content(path, kind):
        recordings = _read(kind, path, grid, sampling_rate_hz, emg_unit)
    return tuple(_as_described(rec, path, grid, sampling_rate_hz) for rec in recordings)


def open_recordings_with_units(
    path: str | os.PathLike[str],
    *,
    grid: ElectrodeGrid | None = None,
    sampling_rate_hz: float | None = None,
    emg_unit: str = "uV",
) -> tuple[tuple[Recording, ...], tuple[DecompositionResult | None, ...]]:
    """Every grid of a recording file (as :func:`open_recordings`) and, for each, the
    decomposition another tool kept beside the EMG (DEMUSE, MUedit or OTBioLab+ ``.mat``,
    openhdemg ``.json``; as :func:`open_result` with that ``grid_index``), from one reading of
    the file. A grid's entry is None where the file keeps no units or they cannot be read (why
    is logged): the recording still opens. Files of other formats keep no units: all None.
    """
    path = Path(path)
    head = _check_file(path)
    kind = file_kind(path, head)
    units: list[Callable[[], DecompositionResult]] = []  # per grid: its units from what was read
    with _unforeseen_content(path, kind):
        if kind == "mat":
            from bmiss_engine.io.matfiles import mat_recordings, mat_result, read_mat_variables

            variables = read_mat_variables(path)
            recordings = mat_recordings(variables, path)
            units = [partial(mat_result, variables, path, g) for g in range(len(recordings))]
        elif kind == "openhdemg":
            from bmiss_engine.io.openhdemg import openhdemg_recording, openhdemg_result, read_openhdemg_file

            emgfile = read_openhdemg_file(path)
            recordings = (openhdemg_recording(emgfile, path),)
            units = [partial(openhdemg_result, emgfile, path)]
        else:
            recordings = _read(kind, path, grid, sampling_rate_hz, emg_unit)
    described = tuple(_as_described(rec, path, grid, sampling_rate_hz) for rec in recordings)
    if not units:
        return described, (None,) * len(described)
    return described, tuple(_units_or_none(read, g, path, kind) for g, read in enumerate(units))


def _units_or_none(read: Callable[[], DecompositionResult], grid_index: int, path: Path,
                   kind: str) -> DecompositionResult | None:
    try:
        with _unforeseen_content(path, kind):
            return read()
    except RecordingFormatError as exc:
        log.info("%s: no decomposition for grid %d beside the EMG (%s)", path, grid_index, exc)
        return None


def open_recording(
    path: str | os.PathLike[str],
    *,
    grid: ElectrodeGrid | None = None,
    sampling_rate_hz: float | None = None,
    grid_index: int = 0,
    emg_unit: str = "uV",
) -> Recording:
    """Open a recording file, whatever its supported format.

    ``grid`` and ``sampling_rate_hz`` describe files that do not (``.npy``, ``.csv``); for the
    other formats ``grid`` replaces the file's own layout (it must have as many channels), and a
    ``sampling_rate_hz`` that contradicts the file is an error. ``grid_index`` (from 0) picks one
    grid of a file that holds several (``.otb+``, ``.otb4``, MUedit and OTBioLab+ ``.mat``, BIDS
    EMG with several electrode groups); :func:`open_recordings` gives them all. ``emg_unit``
    ("V", "mV", "uV") is the unit of bare ``.npy``/``.csv`` matrices; the other formats state or
    imply theirs.

    Raises :class:`RecordingFormatError` naming the file and the problem, on one line, for
    anything that cannot be read: a missing file, a folder, an empty or truncated file, a wrong
    layout, a grid index the file does not have.
    """
    if grid_index < 0:
        raise RecordingFormatError(f"{path}: grid index {grid_index}: grids are counted from 0")
    return pick_grid(open_recordings(path, grid=grid, sampling_rate_hz=sampling_rate_hz, emg_unit=emg_unit),
                     grid_index, Path(path))


def pick_grid(recordings: tuple[Recording, ...], grid_index: int, path: Path) -> Recording:
    """Grid ``grid_index`` of the ``recordings`` of ``path``, or one line saying which there are."""
    n = len(recordings)
    if not 0 <= grid_index < n:
        which = "only grid 0" if n == 1 else f"grids 0 to {n - 1}"
        raise RecordingFormatError(f"{path}: holds {n} grid{'s' if n != 1 else ''} ({which}); there is no grid {grid_index}")
    return recordings[grid_index]


def _as_described(
    rec: Recording, path: Path, grid: ElectrodeGrid | None, sampling_rate_hz: float | None
) -> Recording:
    """``rec`` checked against the rate given and with the layout given."""
    if sampling_rate_hz is not None and abs(rec.sampling_rate_hz - sampling_rate_hz) > 1e-6 * sampling_rate_hz:
        raise RecordingFormatError(
            f"{path}: the file says {rec.sampling_rate_hz:g} Hz but {sampling_rate_hz:g} Hz was given"
        )
    if grid is not None and grid is not rec.grid:
        if grid.n_channels != rec.n_channels:
            raise RecordingFormatError(
                f"{path}: the given grid has {grid.n_channels} channels, the file {rec.n_channels}"
            )
        rec = Recording(rec.emg_v, rec.sampling_rate_hz, grid, rec.aux, rec.source, rec.file_format)
    return rec


def _read(
    kind: str, path: Path, grid: ElectrodeGrid | None, fs_hz: float | None, emg_unit: str
) -> tuple[Recording, ...]:
    if kind == "npz":
        from bmiss_engine.io.npz import read_npz

        return (read_npz(path),)
    if kind == "otb+":
        from bmiss_engine.io.otb import read_otb_plus

        return read_otb_plus(path)
    if kind == "otb4":
        from bmiss_engine.io.otb4 import read_otb4

        return read_otb4(path)
    if kind == "mat":
        from bmiss_engine.io.matfiles import read_mat_recordings

        return read_mat_recordings(path)
    if kind == "openhdemg":
        from bmiss_engine.io.openhdemg import read_openhdemg_recording

        return (read_openhdemg_recording(path),)
    if kind == "edf":
        from bmiss_engine.io.bids_emg import read_bids_emg

        return read_bids_emg(path)
    if kind == "poly5":
        from bmiss_engine.io.poly5 import read_poly5

        return (read_poly5(path),)
    if kind == "rhd":
        from bmiss_engine.io.intan import read_rhd

        return (read_rhd(path),)
    if kind in ("npy", "csv"):
        from bmiss_engine.io.tabular import read_tabular

        return (read_tabular(path, kind, grid, fs_hz, emg_unit),)
    raise RecordingFormatError(f"{path}: unsupported format '{path.suffix or 'no extension'}'; BMISS reads {SUPPORTED}")


def open_result(path: str | os.PathLike[str], *, grid_index: int = 0) -> DecompositionResult:
    """Open a decomposition result: ours (``.npz``), DEMUSE or MUedit ``.mat`` (``grid_index``
    picks a MUedit grid), openhdemg ``.json``, a BIDS ``*_events.tsv`` or our discharge ``.csv``.

    Results imported from other tools have no separation model; from the tables (CSV, TSV) they
    also lack pulse trains, and their length ends at the last discharge.
    """
    path = Path(path)
    head = _check_file(path)
    kind = file_kind(path, head)
    with _unforeseen_content(path, kind):
        return _read_result(kind, path, grid_index)


def _read_result(kind: str, path: Path, grid_index: int) -> DecompositionResult:
    if kind == "npz":
        from bmiss_engine.io.export import read_result_npz

        return read_result_npz(path)
    if kind == "mat":
        from bmiss_engine.io.matfiles import read_mat_result

        return read_mat_result(path, grid_index)
    if kind == "openhdemg":
        from bmiss_engine.io.openhdemg import read_openhdemg_result

        return read_openhdemg_result(path)
    if kind == "csv" and path.suffix.lower() == ".tsv":
        from bmiss_engine.io.bids_events import read_bids_events

        return read_bids_events(path)
    if kind == "csv":
        from bmiss_engine.io.discharge_tables import read_discharges_csv

        return read_discharges_csv(path)
    raise RecordingFormatError(
        f"{path}: not a result file BMISS reads (.npz, DEMUSE/MUedit .mat, openhdemg .json, *_events.tsv, .csv)"
    )


@contextmanager
def _unforeseen_content(path: Path, kind: str) -> Iterator[None]:
    """Readers name the problems they know of; foreign files can still hold values of shapes and
    types no reader foresaw (a text where a number belongs, a matrix where a vector does). Those
    surface as these built-in errors, which become one RecordingFormatError naming the file, with
    the traceback kept in the debug log for whoever fixes the reader."""
    try:
        yield
    except RecordingFormatError as exc:
        text = str(exc)
        if "\n" in text or "\r" in text:  # a library's message quoted whole: errors are one line
            raise RecordingFormatError(" ".join(text.split())) from None
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        log.debug("reading %s as %s failed", path, kind, exc_info=True)
        raise RecordingFormatError(
            f"{path}: unexpected content for a {kind or 'recording'} file ({type(exc).__name__}: {' '.join(str(exc).split())})"
        ) from None
