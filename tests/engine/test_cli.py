from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from bmiss_engine.cli import main


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bmiss_engine.cli", *args], capture_output=True, text=True,
                          timeout=300)


def _make(tmp_path, name, **arrays):
    base = {"fs_hz": 2048.0, "grid_shape": (2, 2), "ied_mm": 8.0}
    np.savez(tmp_path / name, **{**base, **arrays})
    return str(tmp_path / name)


def test_error_cases_exit_nonzero_with_one_line(tmp_path, capsys) -> None:
    (tmp_path / "garbage.npz").write_bytes(b"\x00\x01garbage")
    (tmp_path / "empty.npz").write_bytes(b"")
    cases = [
        str(tmp_path / "missing.npz"),
        str(tmp_path / "garbage.npz"),
        str(tmp_path / "empty.npz"),
        str(tmp_path),
        _make(tmp_path, "shape.npz", emg=np.ones((4, 10, 2))),
        _make(tmp_path, "nan.npz", emg=np.full((4, 5000), np.nan)),
        _make(tmp_path, "zero.npz", emg=np.ones((4, 0))),
        _make(tmp_path, "short.npz", emg=np.random.default_rng(0).standard_normal((4, 100))),
    ]
    for path in cases:
        assert main(["decompose", path, "--no-progress"]) == 2, path
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert len(lines) == 1, (path, err)
        assert lines[0].startswith("bmiss: error:"), (path, err)
    # and as a real process: exit status and stderr as a user sees them
    proc = _run("decompose", cases[1], "--no-progress")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("bmiss: error:")
    assert "garbage.npz" in proc.stderr


def test_bad_settings_are_one_line_errors(tmp_path, capsys) -> None:
    (tmp_path / "c.json").write_text('{"sil_threshold": 3}')
    assert main(["decompose", "--config", str(tmp_path / "c.json"), "--no-progress"]) == 2
    assert "sil_threshold" in capsys.readouterr().err
    assert main(["decompose", "--device", "cuda:7", "--no-progress"]) == 2 or _has_cuda()


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def test_simulate_info_decompose_csv(tmp_path) -> None:
    rec = tmp_path / "sim.npz"
    assert main(["simulate", str(rec), "--units", "6", "--duration", "6", "--seed", "4"]) == 0
    assert (tmp_path / "sim_truth.npz").exists()
    proc = _run("info", str(rec))
    assert proc.returncode == 0
    assert "64 (0 marked bad)" in proc.stdout
    assert "6.000 s" in proc.stdout
    out = tmp_path / "units.csv"
    proc = _run("decompose", str(rec), "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    header = out.read_text().splitlines()[0]
    assert header == "unit_id,sample,time_s"
    assert "motor units in" in proc.stdout
    from bmiss_engine.metrics import match_units

    truth = np.load(tmp_path / "sim_truth.npz")
    rows = np.loadtxt(out, delimiter=",", skiprows=1)
    est = {int(k): rows[rows[:, 0] == k, 1].astype(int) for k in np.unique(rows[:, 0])}
    report = match_units({k: truth[k] for k in truth.files if k.startswith("unit")}, est, 2048.0)
    assert report.n_identified >= 4


@pytest.mark.parametrize("args", [["decompose", "x.npz", "--out", "r.xlsx"], ["simulate", "x.wav"]])
def test_wrong_output_extensions(tmp_path, monkeypatch, args) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
