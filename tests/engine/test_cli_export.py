"""``bmiss export``: a stored decomposition (session, BMISS result, DEMUSE/MUedit .mat, openhdemg
.json, tables) converted by the output's extension, read back with the same discharges by the
reader of the layout the other tool reads; the EMG goes along where the format carries it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bmiss_engine.cli import main
from bmiss_engine.io import open_recording, open_result
from bmiss_engine.io.export import write_result_npz
from bmiss_engine.io.npz import write_npz
from bmiss_engine.io.session import Session, save_session
from tests.engine.io_helpers import assert_same_discharges, small_recording, small_result


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Path, Path]:
    """A recording (.npz) and a decomposition of it (BMISS result .npz)."""
    rec, res = tmp_path / "rec.npz", tmp_path / "units.npz"
    write_npz(small_recording(), rec)
    write_result_npz(small_result(), res)
    return rec, res


def _export(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["export", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_result_to_mat_carries_units_and_emg(stored: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    rec, res = stored
    mat = tmp_path / "for_demuse.mat"
    code, out, err = _export(capsys, res, "--out", mat, "--recording", rec)
    assert code == 0, err
    assert out.startswith(f"wrote {mat}: 3 motor units")
    assert "the EMG of" in out
    assert_same_discharges(open_result(mat), small_result())
    back = open_recording(mat)
    original = small_recording()
    assert back.n_samples == original.n_samples
    assert back.sampling_rate_hz == original.sampling_rate_hz
    np.testing.assert_allclose(back.emg_v, original.emg_v, rtol=1e-5, atol=1e-12)


def test_mat_to_openhdemg_takes_the_emg_from_the_mat(stored: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    rec, res = stored
    mat, js = tmp_path / "a.mat", tmp_path / "a.json"
    assert _export(capsys, res, "--out", mat, "--recording", rec)[0] == 0
    code, out, _ = _export(capsys, mat, "--out", js)
    assert code == 0
    assert f"the EMG of {mat}" in out
    assert_same_discharges(open_result(js), small_result())
    np.testing.assert_allclose(open_recording(js).emg_v, small_recording().emg_v, rtol=1e-4, atol=1e-10)


def test_openhdemg_to_tables_and_back(stored: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    _, res = stored
    js = tmp_path / "a.json"
    assert _export(capsys, res, "--out", js)[0] == 0
    for name in ("a.csv", "sub-01_task-x_events.tsv", "b.npz"):
        code, _, err = _export(capsys, js, "--out", tmp_path / name)
        assert code == 0, err
        assert_same_discharges(open_result(tmp_path / name), small_result())
    summary = tmp_path / "a_summary.csv"
    assert _export(capsys, js, "--out", summary)[0] == 0
    lines = summary.read_text().splitlines()
    assert lines[0].startswith("unit_id,n_discharges")
    assert len(lines) == 1 + 3


def test_session_exports_with_its_recording(stored: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    rec, res = stored
    session = tmp_path / "work.bmiss"
    save_session(Session.for_recording(rec, open_result(res)), session)
    js = tmp_path / "from_session.json"
    code, out, err = _export(capsys, session, "--out", js)
    assert code == 0, err
    assert f"the EMG of {rec}" in out
    assert "without the EMG" not in err
    assert_same_discharges(open_result(js), small_result())
    assert open_recording(js).n_channels == small_recording().n_channels


def test_export_without_emg_says_so_and_wrong_recording_is_refused(stored: tuple[Path, Path], tmp_path: Path,
                                                                    capsys) -> None:
    _, res = stored
    code, _, err = _export(capsys, res, "--out", tmp_path / "a.mat")
    assert code == 0
    assert "without the EMG" in err
    other = tmp_path / "other.npz"
    rec = small_recording()
    from bmiss_engine.recording import Recording

    write_npz(Recording(rec.emg_v[:, :1000], rec.sampling_rate_hz, rec.grid, {}, "x", "test"), other)
    code, _, err = _export(capsys, res, "--out", tmp_path / "b.mat", "--recording", other)
    lines = err.strip().splitlines()
    assert code == 2
    assert len(lines) == 1
    assert "not their recording" in lines[0]
    assert not (tmp_path / "b.mat").exists()


@pytest.mark.parametrize(("name", "message"), [("units.xlsx", "cannot write results as"), ("missing.npz", "no such file")])
def test_export_errors_are_one_line(stored: tuple[Path, Path], tmp_path: Path, capsys, name: str, message: str) -> None:
    _, res = stored
    source, out = (res, tmp_path / name) if name.endswith(".xlsx") else (tmp_path / name, tmp_path / "a.csv")
    code, _, err = _export(capsys, source, "--out", out)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert message in lines[0], err
