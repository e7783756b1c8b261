"""The ``bmiss`` command line: decompose, simulate, info, batch.

Every expected failure (bad file, bad setting) ends with one line on stderr and exit code 2;
an interrupted run (Ctrl+C) exits with 130; ``batch`` exits with 1 when some recordings failed
(the summary says which and why).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bmiss_engine.errors import BmissError

if TYPE_CHECKING:
    from bmiss_engine.recording import Recording

DEMO_RECORDING = Path(__file__).resolve().parent.parent / "resources" / "demo_recording.npz"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bmiss", description="Decompose HD-sEMG into motor units.")
    p.add_argument("-v", "--verbose", action="store_true", help="log engine steps")
    sub = p.add_subparsers(dest="command")

    d = sub.add_parser("decompose", help="decompose a recording and print its units")
    d.add_argument("file", nargs="?", default=str(DEMO_RECORDING),
                   help="recording (.otb+, DEMUSE/MUedit .mat, openhdemg .json, .npz, .npy, .csv); default: the demo")
    d.add_argument("--out", help="write the result: .csv (one row per discharge), *_summary.csv (one per unit), "
                                 ".mat (DEMUSE + MUedit), *_events.tsv (BIDS), .json (openhdemg) or .npz")
    d.add_argument("--device", default=None, help="auto, cpu or cuda (default: auto)")
    d.add_argument("--config", help="JSON file of settings (see DecomposerConfig)")
    d.add_argument("--iterations", type=int, help="separation vectors to try at most")
    d.add_argument("--sil", type=float, help="SIL acceptance threshold (default 0.90)")
    d.add_argument("--no-progress", action="store_true", help="no progress bar")

    s = sub.add_parser("simulate", help="simulate a recording with ground truth")
    s.add_argument("out", help="output .npz; the truth goes to <out>_truth.npz")
    s.add_argument("--units", type=int, default=20)
    s.add_argument("--duration", type=float, default=20.0, help="seconds")
    s.add_argument("--snr", type=float, default=20.0, help="dB")
    s.add_argument("--fs", type=float, default=2048.0, help="sampling rate in Hz")
    s.add_argument("--rows", type=int, default=13)
    s.add_argument("--columns", type=int, default=5)
    s.add_argument("--ied", type=float, default=8.0, help="inter-electrode distance in mm")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--compact", action="store_true", help="store EMG as float16 µV (half the size)")

    i = sub.add_parser("info", help="describe a recording file")
    i.add_argument("file")

    b = sub.add_parser("batch", help="decompose every recording of a study on Dask (resumable)")
    b.add_argument("inputs", nargs="+", metavar="STUDY_DIR_OR_GLOB",
                   help="folders (a BIDS dataset is walked by its layout), glob patterns or files")
    b.add_argument("--out", required=True, help="output folder: results mirror the study's layout, "
                                                "plus batch_summary.csv and batch_summary.md")
    b.add_argument("--scheduler", help="address of a running Dask scheduler (default: start a LocalCluster)")
    b.add_argument("--workers", type=int, help="local workers (default: one per GPU, else one per core)")
    b.add_argument("--formats", default="", help="exports besides the result .npz, comma-separated: "
                                                 "csv, summary, mat, tsv, json")
    b.add_argument("--device", default=None, help="auto, cpu or cuda (default: auto)")
    b.add_argument("--config", help="JSON file of settings (see DecomposerConfig)")
    b.add_argument("--iterations", type=int, help="separation vectors to try at most")
    b.add_argument("--sil", type=float, help="SIL acceptance threshold (default 0.90)")
    b.add_argument("--no-progress", action="store_true", help="no progress bars")
    for command in (d, i, b):
        _add_grid_flags(command)
    return p


def _add_grid_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("grid description (for .npy/.csv, or to replace a file's own layout)")
    g.add_argument("--fs-hz", type=float, help="sampling rate in Hz")
    g.add_argument("--grid-rows", type=int, help="rows of the electrode grid")
    g.add_argument("--grid-cols", type=int, help="columns of the electrode grid")
    g.add_argument("--ied-mm", type=float, default=8.0, help="inter-electrode distance in mm (default 8)")


def _open(args: argparse.Namespace) -> Recording:
    """The recording named on the command line, with the grid flags applied."""
    from bmiss_engine.io import open_recording
    from bmiss_engine.recording import ElectrodeGrid

    grid = None
    if (args.grid_rows is None) != (args.grid_cols is None):
        raise BmissError("give both --grid-rows and --grid-cols")
    if args.grid_rows is not None:
        grid = ElectrodeGrid.full(args.grid_rows, args.grid_cols, args.ied_mm)
    return open_recording(args.file, grid=grid, sampling_rate_hz=args.fs_hz)


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
    if args.device:
        values["device"] = args.device
    if args.iterations is not None:
        values["n_iterations"] = args.iterations
    if args.sil is not None:
        values["sil_threshold"] = args.sil
    return DecomposerConfig.from_dict(values)


def _decompose(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from bmiss_engine.decomposer import Decomposer
    from bmiss_engine.io import write_result
    from bmiss_engine.io.export import result_writer

    if args.out:
        result_writer(args.out)  # an unknown extension fails now, not after the decomposition
    config = _load_config(args)
    recording = _open(args)
    decomposer = Decomposer(config)
    gen = decomposer.iterate(recording)
    bar = tqdm(total=config.n_iterations, unit="vec", disable=args.no_progress, file=sys.stderr,
               desc="decomposing", dynamic_ncols=True)
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
    print(f"{recording.source}: {recording.n_channels} channels, {recording.duration_s:.1f} s at "
          f"{recording.sampling_rate_hz:g} Hz; {result.n_units} motor units in "
          f"{result.provenance['wall_time_s']:.1f} s on {result.provenance['device']}")
    print(f"{'unit':>4} {'discharges':>10} {'rate_hz':>8} {'cov_isi':>8} {'sil':>6} {'pnr_db':>7}")
    for u in result.units:
        print(f"{u.unit_id:>4} {u.n_discharges:>10} {u.mean_rate_hz:>8.1f} {u.cov_isi:>8.2f} {u.sil:>6.3f} {u.pnr_db:>7.1f}")
    if args.out:
        write_result(result, args.out, recording=recording)
        print(f"wrote {args.out}")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    import numpy as np

    from bmiss_engine.io.npz import save_npz_atomic, write_npz
    from bmiss_engine.simulate import SimulationConfig, simulate_recording

    cfg = SimulationConfig(n_units=args.units, duration_s=args.duration, snr_db=args.snr,
                           sampling_rate_hz=args.fs, grid_shape=(args.rows, args.columns),
                           ied_mm=args.ied, seed=args.seed)
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
    return 0


def _info(args: argparse.Namespace) -> int:
    rec = _open(args)
    g = rec.grid
    print(f"file:          {rec.source}")
    print(f"format:        {rec.file_format}")
    print(f"channels:      {rec.n_channels} ({len(g.bad_channels)} marked bad)")
    print(f"grid:          {g.n_rows}×{g.n_columns}, {g.ied_mm:g} mm, fibres along {g.fibre_axis}")
    print(f"sampling rate: {rec.sampling_rate_hz:g} Hz")
    print(f"duration:      {rec.duration_s:.3f} s ({rec.n_samples} samples)")
    if rec.aux:
        print(f"auxiliary:     {', '.join(rec.aux)}")
    return 0


def _batch(args: argparse.Namespace) -> int:
    from bmiss_engine.batch import OpenOptions, run_batch
    from bmiss_engine.batch.run import quiet_dask_logs
    from bmiss_engine.batch.terminal import TerminalProgress

    config = _load_config(args)
    options = OpenOptions(args.grid_rows, args.grid_cols, args.ied_mm, args.fs_hz)
    if not args.verbose:
        quiet_dask_logs()
    with TerminalProgress(sys.stderr, bars=not args.no_progress) as progress:
        summary = run_batch(args.inputs, args.out, config, formats=args.formats, options=options,
                            scheduler=args.scheduler, n_workers=args.workers, progress=progress)
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
    handler = {"decompose": _decompose, "simulate": _simulate, "info": _info, "batch": _batch}[args.command]
    try:
        return handler(args)
    except BmissError as exc:
        print(f"bmiss: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print("bmiss: error: out of memory; decompose a shorter window (window_s in --config)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bmiss: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
