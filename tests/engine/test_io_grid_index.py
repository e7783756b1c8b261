"""Files holding several grids (.otb+, MUedit .mat): every grid reachable from the library
(``open_recordings``, ``grid_index``), from ``bmiss info`` / ``decompose`` (``--grid-index``) and
from a batch (``OpenOptions.grid_index``); an index the file does not have is one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io

from bmiss_engine import RecordingFormatError
from bmiss_engine.batch import OpenOptions
from bmiss_engine.cli import main
from bmiss_engine.errors import BmissError
from bmiss_engine.io import open_recording
from bmiss_engine.io.registry import open_recordings
from tests.engine.test_io_otb import _adapter, _device_xml, _otb_plus, _raw_frames

FS_HZ = 2048.0


@pytest.fixture
def two_grid_otb(tmp_path):
    path = tmp_path / "two.otb+"
    adapters = _adapter(0, 150, ["GR08MM1305"] * 64) + _adapter(64, 150, ["GR10MM0808"] * 64)
    _otb_plus(path, _device_xml(adapters), _raw_frames())
    return path


@pytest.fixture
def two_grid_muedit(tmp_path):
    """MUedit's layout: ``signal.data`` holds both 32-channel grids one after the other (mV)."""
    rng = np.random.default_rng(4)
    n = int(FS_HZ)
    data = rng.normal(0, 0.02, (64, n))
    data[32:] += 1.0  # the second grid is recognisable by its offset
    names = np.empty((1, 2), dtype=object)
    names[0, 0], names[0, 1] = "GR10MM0804", "HD10MM0804"
    path = tmp_path / "two.mat"
    scipy.io.savemat(path, {"signal": {"data": data, "fsamp": FS_HZ, "ngrid": 2.0, "gridname": names}})
    return path


def test_every_grid_is_reachable(two_grid_otb, two_grid_muedit) -> None:
    grids = open_recordings(two_grid_otb)
    assert [g.grid.name for g in grids] == ["GR08MM1305", "GR10MM0808"]
    assert open_recording(two_grid_otb, grid_index=1).grid.name == "GR10MM0808"
    second = open_recording(two_grid_muedit, grid_index=1)
    assert second.grid.name == "HD10MM0804"
    assert second.emg_v.mean() == pytest.approx(1e-3, rel=1e-2)  # 1 mV offset, in volts


@pytest.mark.parametrize("index", [2, 7, -1])
def test_an_index_the_file_lacks_is_one_line(two_grid_otb, index) -> None:
    with pytest.raises(RecordingFormatError) as info:
        open_recording(two_grid_otb, grid_index=index)
    message = str(info.value)
    assert "\n" not in message
    assert "two.otb+" in message
    assert ("grids 0 to 1" in message) if index >= 0 else ("counted from 0" in message)


def test_info_names_the_grids_and_takes_the_index(two_grid_otb, capsys) -> None:
    assert main(["info", str(two_grid_otb)]) == 0
    out = capsys.readouterr().out
    assert "2 in the file; this is grid 0" in out
    assert "GR08MM1305, 13×5" in out
    assert main(["info", str(two_grid_otb), "--grid-index", "1", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["grid_index"], info["n_grids"], info["grid_name"]) == (1, 2, "GR10MM0808")


def test_info_and_decompose_refuse_a_missing_grid_in_one_line(two_grid_otb, capsys) -> None:
    for command in ("info", "decompose"):
        assert main([command, str(two_grid_otb), "--grid-index", "2"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        assert "holds 2 grids (grids 0 to 1); there is no grid 2" in err[0]


@pytest.mark.parametrize(("value", "message"), [("-1", "grids are counted from 0"), ("one", "not a whole number")])
def test_a_malformed_index_is_a_usage_error(two_grid_otb, capsys, value, message) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["info", str(two_grid_otb), "--grid-index", value])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err.strip().splitlines()[-1]


def test_decompose_takes_the_grid_asked_for(two_grid_muedit, tmp_path, capsys) -> None:
    out = tmp_path / "units.csv"
    assert main(["decompose", str(two_grid_muedit), "--grid-index", "1", "--iterations", "2", "--json",
                 "--no-progress", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["recording"]["grid_index"] == 1
    assert summary["recording"]["grid_name"] == "HD10MM0804"
    assert out.is_file()


def test_batch_options_carry_the_index(two_grid_otb) -> None:
    assert OpenOptions(grid_index=1).open(two_grid_otb).grid.name == "GR10MM0808"
    # results made before the option existed (index 0) keep their fingerprint
    assert "grid_index" not in OpenOptions().as_dict()
    assert OpenOptions(grid_index=1).as_dict()["grid_index"] == 1
    with pytest.raises(BmissError, match="counted from 0"):
        OpenOptions(grid_index=-1)
    with pytest.raises(RecordingFormatError, match="there is no grid 3"):
        OpenOptions(grid_index=3).open(two_grid_otb)
