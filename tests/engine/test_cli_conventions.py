"""The command line's conventions: ``--version``, ``--json``, ``--method``, progress bars only on
a terminal, the readable formats in ``decompose --help``, and faults (a closed pipe, a full
disk, a missing extra) as one line and exit status 2, with the result written first."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from bmiss_engine import DEFAULT_METHOD, __version__
from bmiss_engine.cli import _load_config, _parser, main
from bmiss_engine.io.export import write_result_npz
from bmiss_engine.io.registry import SUPPORTED
from tests.engine.io_helpers import small_result

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s of a simulated 64-channel recording with 6 units."""
    path = tmp_path_factory.mktemp("cli") / "sim.npz"
    assert main(["simulate", str(path), "--units", "6", "--duration", "6", "--seed", "4"]) == 0
    return path


def _cli(*args: str | Path, **kwargs: object) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "bmiss_engine.cli", *map(str, args)], text=True, env=env,
                            **kwargs)


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("bmiss: error: "), err
    return lines[0]


def test_version_of_bmiss_and_of_the_installed_package(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"bmiss {__version__}"
    assert version("bmiss") == __version__  # pyproject takes its version from the engine


def test_version_of_bmiss_gui() -> None:
    pytest.importorskip("PySide6")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "bmiss_gui.app", "--version"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"bmiss-gui {__version__}"


def test_info_json(recording: Path, capsys) -> None:
    assert main(["info", str(recording), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["file"] == str(recording)
    assert info["format"] == "npz"
    assert info["n_channels"] == 64
    assert info["grid"] == {"rows": 13, "columns": 5, "ied_mm": 8.0, "fibre_axis": "rows"}
    assert info["sampling_rate_hz"] == 2048.0
    assert info["duration_s"] == 6.0
    assert info["n_samples"] == 6 * 2048


def test_decompose_json_summarises_the_units_it_wrote(recording: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "units_summary.csv"
    assert main(["decompose", str(recording), "--json", "--iterations", "32", "--out", str(out), "--no-progress"]) == 0

    def no_nan(name: str) -> None:
        raise AssertionError(f"not strict JSON: {name}")

    summary = json.loads(capsys.readouterr().out, parse_constant=no_nan)
    assert summary["method"] == "joint"  # the command line's default
    assert summary["out"] == str(out)
    assert summary["recording"]["n_channels"] == 64
    assert summary["n_units"] == len(summary["units"]) >= 3
    rows = out.read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == [u["unit_id"] for u in summary["units"]]
    assert [int(r.split(",")[1]) for r in rows] == [u["n_discharges"] for u in summary["units"]]
    assert all(0 < u["sil"] <= 1 and u["mean_rate_hz"] > 0 for u in summary["units"])


@pytest.mark.parametrize("command", [["decompose", "x.npz"], ["batch", "study", "--out", "o"]])
@pytest.mark.parametrize("method", ["fastica", "hybrid", "bmiss", "joint"])
def test_method_reaches_the_settings(command: list[str], method: str) -> None:
    args = _parser().parse_args([*command, "--method", method])
    assert _load_config(args).method == method


@pytest.mark.parametrize("command", [["decompose", "x.npz"], ["batch", "study", "--out", "o"]])
def test_the_default_method_is_the_joint_one_unless_a_config_names_another(command: list[str],
                                                                           tmp_path: Path) -> None:
    assert _load_config(_parser().parse_args(command)).method == DEFAULT_METHOD == "joint"
    config = tmp_path / "settings.json"
    config.write_text(json.dumps({"method": "fastica"}))
    assert _load_config(_parser().parse_args([*command, "--config", str(config)])).method == "fastica"


def test_unknown_method_is_refused(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["decompose", "x.npz", "--method", "ica"])
    assert exit_.value.code == 2
    assert "invalid choice: 'ica'" in capsys.readouterr().err


def test_decompose_help_lists_every_readable_format(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["decompose", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert " ".join(SUPPORTED.split()) in text
    for name in (".otb+", ".otb4", "DEMUSE", "MUedit", "OTBioLab+", "openhdemg .json", ".edf/.bdf", ".poly5", ".rhd",
                 ".npz", ".npy/.csv"):
        assert name in text


def test_closed_pipe_after_the_result_is_written(recording: Path, tmp_path: Path) -> None:
    """``bmiss decompose ... | head -1``: the result file is there, one line on stderr, exit 2;
    stderr is not a terminal, so no progress bar either."""
    out = tmp_path / "units.csv"
    # FastICA alone: the pipe is the point, not the method (the default adds the joint stage)
    proc = _cli("decompose", recording, "--method", "fastica", "--iterations", "16", "--out", out,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.close()  # the reader is gone before anything is printed
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2
    assert "broken pipe" in _one_error_line(err)
    assert "decomposing" not in err
    assert out.read_text().startswith("unit_id,sample,time_s\n")
    assert len(out.read_text().splitlines()) > 10


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_full_disk_on_stdout(recording: Path) -> None:
    with open("/dev/full", "w") as full:
        proc = _cli("info", recording, "--json", stdout=full, stderr=subprocess.PIPE)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert "No space left on device" in _one_error_line(err)


def test_full_disk_for_the_result(tmp_path: Path, monkeypatch, capsys) -> None:
    import bmiss_engine.io

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(bmiss_engine.io, "write_result", full_disk)
    write_result_npz(small_result(), tmp_path / "units.npz")
    assert main(["export", str(tmp_path / "units.npz"), "--out", str(tmp_path / "units.csv")]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert str(tmp_path / "units.csv") in line
    assert "No space left on device" in line


def test_missing_extra_is_named(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if dask[distributed] were not installed
    monkeypatch.setitem(sys.modules, "dask", None)
    assert main(["batch", str(tmp_path), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    assert "pip install 'bmiss[batch]'" in _one_error_line(capsys.readouterr().err)
