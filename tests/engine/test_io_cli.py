"""The grid flags of ``bmiss info`` / ``bmiss decompose`` for files that carry no description."""

from __future__ import annotations

import numpy as np

from bmiss_engine.cli import main


def test_info_on_a_bare_npy_with_grid_flags(tmp_path, capsys) -> None:
    np.save(tmp_path / "a.npy", np.random.default_rng(0).normal(0, 30, (6, 4096)))
    assert main(["info", str(tmp_path / "a.npy"), "--fs-hz", "2048", "--grid-rows", "2", "--grid-cols", "3",
                 "--ied-mm", "5"]) == 0
    out = capsys.readouterr().out
    assert "format:        npy" in out
    assert "grid:          2×3, 5 mm" in out
    assert "2.000 s (4096 samples)" in out


def test_grid_flags_missing_or_half_given(tmp_path, capsys) -> None:
    np.save(tmp_path / "a.npy", np.ones((6, 100)))
    assert main(["info", str(tmp_path / "a.npy")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--grid-rows --grid-cols --ied-mm --fs-hz" in err[0]
    assert main(["decompose", str(tmp_path / "a.npy"), "--grid-rows", "2", "--no-progress"]) == 2
    assert "give both --grid-rows and --grid-cols" in capsys.readouterr().err
