"""The ``bmiss`` command line: decompose, simulate, info, export, batch.

Every expected failure (bad file, bad setting, a missing optional dependency, a full disk, a
closed pipe) ends with one line on stderr and exit code 2; an interrupted run (Ctrl+C) exits
with 130; ``batch`` exits with 1 when some recordings failed (the summary says which and why).
Results are written before anything is printed, so a broken output never loses them. ``--json``
(``info``, ``decompose``) prints one JSON object on stdout instead of the table; progress bars
go to stderr, and only when it is a terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from bmiss_engine import __version__
from bmiss_engine.config import DEFAULT_METHOD, FORWARD_MODELS, LIMBS, Method
from bmiss_engine.errors import BmissError
from bmiss_engine.io.registry import SUPPORTED
from bmiss_engine.resources import bundled_path

if TYPE_CHECKING:
    from bmiss_engine.recording import Recording
    from bmiss_engine.results import DecompositionResult

DEMO_RECORDING = bundled_path("resources", "demo_recording.npz")

_WRITERS = ("the extension picks the writer: .csv (one row per discharge), *_summary.csv (one row per unit), "
            ".mat (DEMUSE, MUedit and openhdemg read it), *_muedit.mat (MUedit's layout alone), *_events.tsv (BIDS), "
            ".json (openhdemg) or .npz (BMISS)")
# the optional dependencies and the extra that installs each
_EXTRAS = {"dask": "batch", "distributed": "batch", "nibabel": "mri", "pydicom": "mri", "skimage": "mri"}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bmiss", description="Decompose HD-sEMG into motor units.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log engine steps")
    sub = p.add_subparsers(dest="command")

    d = sub.add_parser("decompose", help="decompose a recording and print its units",
                       description=f"Decompose a recording into motor units. Readable formats: {SUPPORTED}.")
    d.add_argument("file", nargs="?", help="the recording, in any readable format (default: the bundled demo)")
    d.add_argument("--out", help=f"write the result; {_WRITERS}")
    d.add_argument("--method", choices=get_args(Method),
                   help="joint (default): FastICA's units decoded all at once and the units they hide found on "
                        "what they leave; fastica: blind source separation alone (faster); hybrid: FastICA's "
                        "units refined by the biophysical model; bmiss: the model's inversion alone")
    d.add_argument("--json", action="store_true", help="print a JSON summary (recording, units) instead of the table")
    d.add_argument("--device", default=None, help="auto, cpu or cuda (default: auto)")
    d.add_argument("--config", help="JSON file of settings (see DecomposerConfig)")
    d.add_argument("--iterations", type=int, help="separation vectors to try at most")
    d.add_argument("--sil", type=float, help="SIL acceptance threshold (default 0.90)")
    d.add_argument("--no-progress", action="store_true", help="no progress bar (none either when stderr is not a terminal)")
    m = d.add_argument_group("forward model (methods hybrid and bmiss; also the JSON settings' keys)")
    m.add_argument("--forward-model", choices=FORWARD_MODELS,
                   help="analytic: planar layers (default); surrogate: its neural network; cylindrical: bone, muscle, "
                        "fat and skin as concentric cylinders")
    _add_limb_flags(m)

    s = sub.add_parser("simulate", help="simulate a recording with ground truth")
    s.add_argument("out", help="output .npz; the truth goes to <out>_truth.npz")
    s.add_argument("--units", type=int, default=20)
    s.add_argument("--duration", type=float, default=20.0, help="seconds")
    s.add_argument("--snr", type=float, default=20.0, help="dB")
    s.add_argument("--fs", type=float, default=2048.0, help="sampling rate in Hz")
    s.add_argument("--rows", type=int, default=13)
    s.add_argument("--columns", type=int, default=5)
    s.add_argument("--ied", type=float, default=None,
                   help="inter-electrode distance in mm (default 8; with --grid-around, along the fibres only)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--compact", action="store_true", help="store EMG as float16 µV (half the size)")
    sm = s.add_argument_group("MUAPs")
    sm.add_argument("--forward-model", choices=("line_source", "analytic", "cylindrical"), default="line_source",
                    help="line_source (default), analytic (planar layers) or cylindrical (bone, muscle, fat and skin as "
                         "concentric cylinders; units 1-12 mm into the muscle)")
    _add_limb_flags(sm)

    i = sub.add_parser("info", help="describe a recording file",
                       description=f"Describe a recording: grid, sampling rate, duration. Readable formats: {SUPPORTED}.")
    i.add_argument("file", help="the recording, in any readable format")
    i.add_argument("--json", action="store_true", help="print the description as JSON")

    e = sub.add_parser("export", help="convert a stored decomposition to another tool's format",
                       description="Convert a decomposition made here or in another tool, to be opened in any of them.")
    e.add_argument("file", help="the decomposition: a BMISS session (.bmiss) or result (.npz), a DEMUSE or MUedit "
                                ".mat, an openhdemg .json, a BIDS *_events.tsv or a discharge .csv")
    e.add_argument("--out", required=True, help=_WRITERS)
    e.add_argument("--recording", help="the recording the units were found in, for the formats that carry the EMG "
                                       "(.mat, .json); default: the session's recording, or the EMG the file holds")
    e.add_argument("--grid-index", type=_grid_index, default=0,
                   help="which grid of a file holding several, from 0 (default 0)")

    b = sub.add_parser("batch", help="decompose every recording of a study on Dask (resumable)")
    b.add_argument("inputs", nargs="+", metavar="STUDY_DIR_OR_GLOB",
                   help="folders (a BIDS dataset is walked by its layout), glob patterns or files")
    b.add_argument("--out", required=True, help="output folder: results mirror the study's layout, "
                                                "plus batch_summary.csv and batch_summary.md")
    b.add_argument("--scheduler", help="address of a running Dask scheduler (default: start a LocalCluster)")
    b.add_argument("--workers", type=int, help="local workers (default: one per GPU, else one per core)")
    b.add_argument("--formats", default="", help="exports besides the result .npz, comma-separated: "
                                                 "csv, summary, mat, tsv, json")
    b.add_argument("--method", choices=get_args(Method), help="joint (default), fastica, hybrid or bmiss (see decompose)")
    b.add_argument("--device", default=None, help="auto, cpu or cuda (default: auto)")
    b.add_argument("--config", help="JSON file of settings (see DecomposerConfig)")
    b.add_argument("--iterations", type=int, help="separation vectors to try at most")
    b.add_argument("--sil", type=float, help="SIL acceptance threshold (default 0.90)")
    b.add_argument("--no-progress", action="store_true", help="no progress bars (none either when stderr is not a terminal)")
    for command in (d, i, b):
        _add_grid_flags(command)
    return p


def _add_limb_flags(p: argparse._ArgumentGroup) -> None:
    """The cylinder's limb and layers (forward model cylindrical; skin and fat for any)."""
    p.add_argument("--limb", choices=LIMBS,
                   help="the cylinder's default limb: its radius, bone, skin and fat (default forearm)")
    p.add_argument("--radius-mm", type=_positive, help="the cylinder's muscle radius (to the muscle-fat interface), mm")
    p.add_argument("--bone-radius-mm", type=_non_negative, help="the cylinder's central bone radius, mm (0: no bone)")
    p.add_argument("--skin-mm", type=_positive, help="skin thickness, mm")
    p.add_argument("--fat-mm", type=_positive, help="subcutaneous fat thickness, mm")
    p.add_argument("--grid-around", action="store_true",
                   help="the grid is wrapped once around the limb, its columns spread evenly over the circumference")


def _positive(text: str) -> float:
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text}: must be more than 0")
    return value


def _non_negative(text: str) -> float:
    value = _number(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text}: must be 0 or more")
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text}: not a finite number")
    return value


def _limb_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The limb flags given, by their settings' names."""
    names = {"limb": "limb", "radius_mm": "muscle_radius_mm", "bone_radius_mm": "bone_radius_mm",
             "skin_mm": "skin_mm", "fat_mm": "fat_mm"}
    values = {name: getattr(args, flag) for flag, name in names.items() if getattr(args, flag, None) is not None}
    if getattr(args, "grid_around", False):
        values["grid_around"] = True
    return values


def _grid_index(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value}: grids are counted from 0")
    return value


def _add_grid_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--grid-index", type=_grid_index, default=0,
                   help="which grid of a file holding several (.otb+, .otb4, MUedit .mat, ...), from 0 (default 0); "
                        "`bmiss info` says how many a file holds")
    g = p.add_argument_group("grid description (for .npy/.csv, or to replace a file's own layout)")
    g.add_argument("--fs-hz", type=float, help="sampling rate in Hz")
    g.add_argument("--grid-rows", type=int, help="rows of the electrode grid")
    g.add_argument("--grid-cols", type=int, help="columns of the electrode grid")
    g.add_argument("--ied-mm", type=float, default=8.0, help="inter-electrode distance in mm (default 8)")


def _open(args: argparse.Namespace) -> tuple[Recording, int]:
    """The recording named on the command line, with the grid flags applied (``--grid-index``
    picks its grid), and how many grids the file holds."""
    from bmiss_engine.io.registry import open_recordings, pick_grid
    from bmiss_engine.recording import ElectrodeGrid

    grid = None
    if (args.grid_rows is None) != (args.grid_cols is None):
        raise BmissError("give both --grid-rows and --grid-cols")
    if args.grid_rows is not None:
        grid = ElectrodeGrid.full(args.grid_rows, args.grid_cols, args.ied_mm)
    file = Path(DEMO_RECORDING if args.file is None else args.file)
    recordings = open_recordings(file, grid=grid, sampling_rate_hz=args.fs_hz)
    return pick_grid(recordings, args.grid_index, file), len(recordings)


def _load_config(args: argparse.Namespace) -> Any:
    from bmiss_engine.decomposer import DecomposerConfig

    values: dict[str, Any] = {}
    if args.config:
        try:
            values = json.loads(Path(args.config).read_text())
        except FileNotFoundError:
            raise BmissError(f"{args.config}: no such config file") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise BmissError(f"{args.config}: not a JSON settings file ({exc})") from None
        if not isinstance(values, dict):
            raise BmissError(f"{args.config}: settings must be a JSON object")
    if args.method:
        values["method"] = args.method
    values.setdefault("method", DEFAULT_METHOD)
    if args.device:
        values["device"] = args.device
    if args.iterations is not None:
        values["n_iterations"] = args.iterations
    if args.sil is not None:
        values["sil_threshold"] = args.sil
    if getattr(args, "forward_model", None):
        values["forward_model"] = args.forward_model
    values.update(_limb_settings(args))
    return DecomposerConfig.from_dict(values)


def _decompose(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from bmiss_engine.decomposer import Decomposer
    from bmiss_engine.io.export import result_writer

    if args.out:
        result_writer(args.out)  # an unknown extension fails now, not after the decomposition
    config = _load_config(args)
    recording, n_grids = _open(args)
    decomposer = Decomposer(config)
    gen = decomposer.iterate(recording)
    # disable=None: no bar when stderr is not a terminal (a log file, a pipe, a batch system)
    bar = tqdm(total=config.separation.n_iterations, unit="vec", disable=True if args.no_progress else None,
               file=sys.stderr, desc="decomposing", dynamic_ncols=True)
    try:
        while True:
            try:
                state = next(gen)
            except StopIteration as stop:
                result = stop.value
                break
            bar.n = state.iteration
            bar.set_postfix_str(f"{len(state.units)} units")
    finally:
        gen.close()
        bar.close()
    if args.out:
        _write(result, args.out, recording)
    if args.json:
        _print_json(_decomposition_summary(recording, result, args.out, (args.grid_index, n_grids)))
        return 0
    grid = f" (grid {args.grid_index} of {n_grids})" if n_grids > 1 else ""
    print(f"{recording.source}{grid}: {recording.n_channels} channels, {recording.duration_s:.1f} s at "
          f"{recording.sampling_rate_hz:g} Hz; {result.n_units} motor units in "
          f"{result.provenance['wall_time_s']:.1f} s on {result.provenance['device']}")
    print(f"{'unit':>4} {'discharges':>10} {'rate_hz':>8} {'cov_isi':>8} {'sil':>6} {'pnr_db':>7}")
    for u in result.units:
        print(f"{u.unit_id:>4} {u.n_discharges:>10} {u.mean_rate_hz:>8.1f} {u.cov_isi:>8.2f} {u.sil:>6.3f} {u.pnr_db:>7.1f}")
    if args.out:
        print(f"wrote {args.out}")
    return 0


def _write(result: DecompositionResult, out: str, recording: Recording | None) -> None:
    """Write ``result`` to ``out`` (the writer by its extension); a full disk or a read-only
    folder is one line naming the file."""
    from bmiss_engine.io import write_result

    try:
        write_result(result, out, recording=recording)
    except OSError as exc:
        raise BmissError(f"{out}: cannot write ({exc.strerror or exc})") from None


def _decomposition_summary(
    recording: Recording, result: DecompositionResult, out: str | None, grids: tuple[int, int] = (0, 1)
) -> dict[str, Any]:
    return {
        "recording": _recording_summary(recording, grids),
        "method": result.config.get("method"),
        "device": result.provenance.get("device"),
        "wall_time_s": result.provenance.get("wall_time_s"),
        "n_units": result.n_units,
        "units": _unit_summaries(result),
        "out": out,
    }


def _unit_summaries(result: DecompositionResult) -> list[dict[str, Any]]:
    """One JSON object per unit: its numbers, its origin ("blind", "model" or "joint") and, when the
    forward model estimated them, ``theta`` (physical units) and ``theta_sd`` ([0, 1] scale)."""
    from bmiss_engine.io.unit_model import unit_model_summary

    return [
        {"unit_id": u.unit_id, "status": u.status, "n_discharges": u.n_discharges, "mean_rate_hz": u.mean_rate_hz,
         "cov_isi": u.cov_isi, "sil": u.sil, "pnr_db": u.pnr_db, **unit_model_summary(u)}
        for u in result.units
    ]


def _recording_summary(rec: Recording, grids: tuple[int, int] = (0, 1)) -> dict[str, Any]:
    """``grids``: the grid's index in the file and how many the file holds."""
    g = rec.grid
    return {
        "file": rec.source, "format": rec.file_format, "n_channels": rec.n_channels,
        "bad_channels": sorted(int(c) for c in g.bad_channels),
        "grid": {"rows": g.n_rows, "columns": g.n_columns, "ied_mm": g.ied_mm, "fibre_axis": g.fibre_axis},
        "grid_name": g.name, "grid_index": grids[0], "n_grids": grids[1],
        "sampling_rate_hz": rec.sampling_rate_hz, "duration_s": rec.duration_s, "n_samples": rec.n_samples,
        "aux": list(rec.aux),
    }


def _print_json(value: Any) -> None:
    """``value`` as strict JSON: numpy numbers as plain ones, nan and ±inf as null."""
    print(json.dumps(_plain(value), indent=2))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, str)) or value is None:
        return value
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (int, float)):
        return value
    return str(value)


def _simulate(args: argparse.Namespace) -> int:
    import numpy as np

    from bmiss_engine.io.npz import save_npz_atomic, write_npz
    from bmiss_engine.simulate import SimulationConfig, simulate_recording

    limb = _limb_settings(args)
    cylinder = args.forward_model == "cylindrical"
    if not cylinder and set(limb) - {"skin_mm", "fat_mm"}:
        raise BmissError("--limb, --radius-mm, --bone-radius-mm and --grid-around need --forward-model cylindrical")
    if args.forward_model == "line_source" and limb:
        raise BmissError("--skin-mm and --fat-mm need --forward-model analytic or cylindrical")
    cfg = SimulationConfig(n_units=args.units, duration_s=args.duration, snr_db=args.snr,
                           sampling_rate_hz=args.fs, grid_shape=(args.rows, args.columns),
                           ied_mm=8.0 if args.ied is None else args.ied, seed=args.seed,
                           muap_generator=args.forward_model, **limb)
    if cylinder:
        # the units lie 1-12 mm into the muscle; all around the limb under a grid around it
        layers = float(cfg.anatomy().skin_mm) + float(cfg.anatomy().fat_mm)
        cfg = dataclasses.replace(cfg, depth_range_mm=(layers + 1.0, layers + 12.0))
        if cfg.grid_around:
            cfg = dataclasses.replace(cfg, muscle_width_mm=cfg.across_span_mm(), missing_corner=False)
    recording, truth = simulate_recording(cfg)
    out = Path(args.out)
    if out.suffix.lower() != ".npz":
        raise BmissError(f"{out}: simulate writes the .npz layout; name the output *.npz")
    write_npz(recording, out, dtype=np.float16 if args.compact else np.float32)
    truth_path = out.with_name(out.stem + "_truth.npz")
    save_npz_atomic(truth_path, {**truth.as_npz_dict(), "fs_hz": np.float64(cfg.sampling_rate_hz)})
    counts = [len(d) for d in truth.discharge_samples]
    print(f"wrote {out} ({recording.n_channels} channels, {recording.duration_s:g} s) and {truth_path} "
          f"({cfg.n_units} units, {sum(c > 0 for c in counts)} firing, {sum(counts)} discharges)")
    if cylinder:
        g = truth.geometry
        where = "wrapped around the limb" if cfg.grid_around else "on an arc of the skin"
        print(f"cylinder: muscle radius {g['muscle_radius_mm']:g} mm, bone {g['bone_radius_mm']:g} mm, fat "
              f"{g['fat_mm']:g} mm, skin {g['skin_mm']:g} mm (skin radius {g['skin_radius_mm']:g} mm); grid {where}")
    return 0


def _info(args: argparse.Namespace) -> int:
    rec, n_grids = _open(args)
    result = _stored_units(Path(args.file), args.grid_index)
    if args.json:
        summary = _recording_summary(rec, (args.grid_index, n_grids))
        if result is not None:
            summary.update(n_units=result.n_units, units=_unit_summaries(result))
        _print_json(summary)
        return 0
    g = rec.grid
    print(f"file:          {rec.source}")
    print(f"format:        {rec.file_format}")
    print(f"channels:      {rec.n_channels} ({len(g.bad_channels)} marked bad)")
    if n_grids > 1:
        print(f"grids:         {n_grids} in the file; this is grid {args.grid_index} (choose with --grid-index)")
    name = f" {g.name}," if g.name else ""
    print(f"grid:         {name} {g.n_rows}×{g.n_columns}, {g.ied_mm:g} mm, fibres along {g.fibre_axis}")
    print(f"sampling rate: {rec.sampling_rate_hz:g} Hz")
    print(f"duration:      {rec.duration_s:.3f} s ({rec.n_samples} samples)")
    if rec.aux:
        print(f"auxiliary:     {', '.join(rec.aux)}")
    if result is not None:
        n_model = sum(u.origin == "model" for u in result.units)
        print(f"motor units:   {result.n_units} ({n_model} found through the forward model)")
    return 0


def _stored_units(path: Path, grid_index: int) -> DecompositionResult | None:
    """The decomposition a recording file holds beside its EMG (DEMUSE, MUedit and openhdemg
    files may), or None."""
    from bmiss_engine.io import open_result

    if path.suffix.lower() not in (".mat", ".json"):
        return None
    try:
        return open_result(path, grid_index=grid_index)
    except BmissError:  # the file holds the EMG alone
        return None


def _export(args: argparse.Namespace) -> int:
    """A stored decomposition (ours or another tool's) written by the writer ``--out`` names."""
    from bmiss_engine.io import load_session, open_result
    from bmiss_engine.io.export import result_format
    from bmiss_engine.io.session import SESSION_SUFFIX

    out_format = result_format(args.out)  # an unknown extension fails before anything is read
    source = Path(args.file)
    # where the EMG may come from: the recording named, the session's recording, or the file itself
    emg_source: Path | None = Path(args.recording) if args.recording else None
    if source.suffix.lower() == SESSION_SUFFIX:
        session = load_session(source)
        result = session.result
        if emg_source is None:
            emg_source = session.locate_recording(source)
    else:
        result = open_result(source, grid_index=args.grid_index)
        if emg_source is None and source.suffix.lower() in (".mat", ".json"):
            emg_source = source  # DEMUSE, MUedit and openhdemg files hold the EMG beside the units
    recording = None
    if out_format.carries_emg:
        if emg_source is not None:
            recording = _recording_of(result, emg_source, args.grid_index, named=bool(args.recording))
        if recording is None:
            print(f"bmiss: note: {args.out} carries the units without the EMG (name their recording with --recording)",
                  file=sys.stderr)
    _write(result, args.out, recording)
    emg = f" and the EMG of {recording.source}" if recording is not None else ""
    print(f"wrote {args.out}: {result.n_units} motor units from {source}{emg}")
    return 0


def _recording_of(result: DecompositionResult, path: Path, grid_index: int, named: bool) -> Recording | None:
    """The recording at ``path`` if ``result`` can be its decomposition (same sampling rate and
    length). A recording the user ``named`` must be; otherwise (the session's recording, the
    EMG inside the input file) a missing or different one is None."""
    from bmiss_engine.io import open_recording

    try:
        rec = open_recording(path, grid_index=grid_index)
        if abs(rec.sampling_rate_hz - result.sampling_rate_hz) > 1e-6 * result.sampling_rate_hz:
            raise BmissError(f"{path}: recorded at {rec.sampling_rate_hz:g} Hz, but the units were found at "
                             f"{result.sampling_rate_hz:g} Hz: not their recording")
        if rec.n_samples != result.n_samples:
            raise BmissError(f"{path}: {rec.n_samples} samples, but the decomposition spans {result.n_samples}: "
                             "not their recording")
    except BmissError:
        if named:
            raise
        logging.getLogger(__name__).info("%s: no EMG to carry over", path, exc_info=True)
        return None
    return rec


def _batch(args: argparse.Namespace) -> int:
    from bmiss_engine.batch import BatchInterrupted, OpenOptions, run_batch
    from bmiss_engine.batch.run import quiet_dask_logs
    from bmiss_engine.batch.terminal import TerminalProgress

    config = _load_config(args)
    options = OpenOptions(args.grid_rows, args.grid_cols, args.ied_mm, args.fs_hz, args.grid_index)
    if not args.verbose:
        quiet_dask_logs()
    bars = not args.no_progress and sys.stderr.isatty()  # as tqdm(disable=None): none into a file or a pipe
    try:
        with TerminalProgress(sys.stderr, bars=bars) as progress:
            summary = run_batch(args.inputs, args.out, config, formats=args.formats, options=options,
                                scheduler=args.scheduler, n_workers=args.workers, progress=progress)
    except BatchInterrupted as stop:
        # finished results stay, and a rerun skips them: say so in one line, no traceback
        done = stop.summary
        print(f"bmiss: interrupted: {done.n_done} of {len(done.outcomes)} recordings done; rerun to continue",
              file=sys.stderr)
        return 130
    print(summary.to_markdown(), end="")
    print(f"{summary.totals()}; summary in {Path(args.out) / 'batch_summary.csv'}")
    return 1 if summary.n_failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if args.command is None:
        parser.print_help()
        return 0
    handler = {"decompose": _decompose, "simulate": _simulate, "info": _info, "export": _export,
               "batch": _batch}[args.command]
    try:
        code = handler(args)
        sys.stdout.flush()  # a closed pipe or a full disk shows here, not in the interpreter's exit
        return code
    except BmissError as exc:
        return _fail(str(exc))
    except MemoryError:
        return _fail("out of memory; decompose a shorter window (window_s in --config)")
    except ModuleNotFoundError as exc:
        extra = _EXTRAS.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        return _fail(f"bmiss {args.command} needs {exc.name}, which is not installed; install it with: "
                     f"pip install 'bmiss[{extra}]'")
    except OSError as exc:  # stdout closed (| head) or on a full disk, an unreadable file
        if exc.errno == errno.EPIPE:
            return _fail("the output was closed before everything was written (broken pipe)")
        where = f"{exc.filename}: " if exc.filename else "cannot write the output: "
        return _fail(f"{where}{exc.strerror or exc}")
    except KeyboardInterrupt:
        print("bmiss: interrupted", file=sys.stderr)
        return 130


def _fail(message: str) -> int:
    """Report ``message`` as the one line on stderr; exit status 2."""
    _drop_unwritable_stdout()
    with contextlib.suppress(OSError):
        print(f"bmiss: error: {message}", file=sys.stderr)
    return 2


def _drop_unwritable_stdout() -> None:
    """When stdout cannot take what is buffered (a closed pipe, a full disk), point it at the
    null device, so that the interpreter's own flush at exit adds no second message."""
    try:
        sys.stdout.flush()
    except OSError:
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
