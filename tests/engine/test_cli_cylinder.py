"""``bmiss simulate`` and ``bmiss decompose`` with the cylindrical volume conductor."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bmiss_engine.cli import main
from bmiss_engine.io import open_recording, open_result
from bmiss_engine.metrics import match_units
from tests.engine._single_thread import single_torch_thread  # noqa: F401


def test_simulate_a_grid_around_a_cylinder(tmp_path, capsys) -> None:
    rec = tmp_path / "around.npz"
    args = ["simulate", str(rec), "--units", "5", "--duration", "1", "--rows", "4", "--columns", "16", "--ied", "5",
            "--forward-model", "cylindrical", "--radius-mm", "22", "--bone-radius-mm", "6", "--skin-mm", "1",
            "--fat-mm", "2", "--grid-around", "--seed", "2"]
    assert main(args) == 0
    assert "muscle radius 22 mm, bone 6 mm, fat 2 mm, skin 1 mm (skin radius 25 mm); grid wrapped" in capsys.readouterr().out
    recording = open_recording(rec)
    assert recording.n_channels == 64  # no corner left out around the limb
    assert recording.grid.ied_mm == 5.0
    truth = np.load(tmp_path / "around_truth.npz")
    assert float(truth["geometry_muscle_radius_mm"]) == 22.0
    assert float(truth["geometry_grid_around"]) == 1.0
    # the units lie 1-12 mm into the muscle, anywhere around the limb
    assert np.all((truth["theta_depth_mm"] >= 1.0) & (truth["theta_depth_mm"] <= 12.0))
    assert np.all(np.abs(truth["theta_ml_mm"]) <= math.pi * 25.0)
    assert truth["muaps_v"].shape[:2] == (5, 64)


def test_simulate_refuses_limb_flags_without_the_cylinder(tmp_path, capsys) -> None:
    assert main(["simulate", str(tmp_path / "x.npz"), "--grid-around"]) == 2
    assert "--forward-model cylindrical" in capsys.readouterr().err
    assert main(["simulate", str(tmp_path / "x.npz"), "--forward-model", "cylindrical", "--radius-mm", "10",
                 "--bone-radius-mm", "12"]) == 2
    assert capsys.readouterr().err.startswith("bmiss: error:")


@pytest.fixture(scope="module")
def arc_recording(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cylinder")
    rec = folder / "arc.npz"
    assert main(["simulate", str(rec), "--units", "4", "--duration", "3", "--rows", "6", "--columns", "4",
                 "--snr", "25", "--forward-model", "cylindrical", "--limb", "forearm", "--seed", "3"]) == 0
    return rec


def test_decompose_with_the_cylinder(arc_recording, tmp_path, capsys) -> None:
    config = tmp_path / "small.json"
    config.write_text(json.dumps({"n_iterations": 32, "batch_size": 8, "extension_factor": 8, "hybrid_restarts": 0}))
    out = tmp_path / "result.npz"
    args = ["decompose", str(arc_recording), "--method", "hybrid", "--forward-model", "cylindrical", "--limb",
            "forearm", "--config", str(config), "--device", "cpu", "--out", str(out), "--json", "--no-progress"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["method"] == "hybrid"
    result = open_result(out)
    assert result.config["inversion"]["forward_model"] == "cylindrical"
    assert result.config["inversion"]["limb"] == "forearm"
    truth = np.load(arc_recording.with_name("arc_truth.npz"))
    trains = {k: truth[k] for k in truth.files if k.startswith("unit")}
    report = match_units(trains, {u.unit_id: u.discharge_samples for u in result.units}, 2048.0)
    assert report.n_identified >= 2, report.summary()  # the baseline's: a 3 s ramp, 23 channels
    depth = {f"unit{i}": d for i, d in enumerate(truth["theta_depth_mm"])}
    for m in report.identified:
        unit = next(u for u in result.units if u.unit_id == int(m.estimated))
        assert unit.theta is not None
        # (measured 0.1-1.1 mm: these trains are short, the spike-triggered MUAPs noisy)
        assert abs(unit.theta["depth_mm"] - depth[str(m.true_key)]) < 2.0
