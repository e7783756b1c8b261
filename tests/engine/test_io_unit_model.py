"""Each unit's model information (origin, θ, θ's sd) in every per-unit export: the MAT files
(a ``bmiss`` struct the other tools pass over), the openhdemg JSON (``EXTRAS`` columns), and the
command line's ``--json`` summaries; read back where the file is ours."""

from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pytest
import scipy.io

from bmiss_engine.cli import _decomposition_summary, main
from bmiss_engine.io import open_result, write_result
from bmiss_engine.results import THETA_FIELDS, DecompositionResult
from tests.engine.io_helpers import small_recording, small_result

THETA = {f.name: (f.low + f.high) / 2 + 0.25 for f in THETA_FIELDS}
THETA_SD = {f.name: 0.01 * (i + 1) for i, f in enumerate(THETA_FIELDS)}
NAMES = [f.name for f in THETA_FIELDS]


def model_and_blind() -> DecompositionResult:
    """small_result's units 0 and 2: unit 0 found through the model (θ and its sd), unit 2 blind."""
    base = small_result()
    model = base.units[0].replace(theta=THETA, theta_sd=THETA_SD, origin="model")
    return DecompositionResult((model, base.units[1]), base.sampling_rate_hz, base.n_samples)


def assert_model_info(result: DecompositionResult) -> None:
    model, blind = result.units
    assert (model.unit_id, model.origin, blind.unit_id, blind.origin) == (0, "model", 2, "blind")
    assert model.theta == pytest.approx(THETA)
    assert model.theta_sd == pytest.approx(THETA_SD)
    assert blind.theta is None
    assert blind.theta_sd is None


@pytest.mark.parametrize("name", ["r.mat", "r_muedit.mat", "r.json", "r.npz"])
def test_model_info_round_trips(tmp_path, name) -> None:
    write_result(model_and_blind(), tmp_path / name, recording=small_recording())
    assert_model_info(open_result(tmp_path / name))


@pytest.mark.parametrize("name", ["r.mat", "r_muedit.mat"])
def test_mat_bmiss_struct_as_matlab_sees_it(tmp_path, name) -> None:
    """scipy's own loader (as MATLAB users get it): origin and field names as cells, θ and its sd
    as n_units × n_fields matrices with NaN for the blind unit; the tools' variables unchanged."""
    write_result(model_and_blind(), tmp_path / name, recording=small_recording())
    mat = scipy.io.loadmat(tmp_path / name, simplify_cells=True)
    s = mat["bmiss"]
    assert list(s["origin"]) == ["model", "blind"]
    assert list(s["unit_id"]) == [0, 2]
    assert list(s["theta_fields"]) == NAMES
    # '' (a dimensionless field) loads as an empty array
    assert [u if isinstance(u, str) else "" for u in s["theta_units"]] == [f.unit for f in THETA_FIELDS]
    assert s["theta"].shape == s["theta_sd"].shape == (2, len(NAMES))
    np.testing.assert_allclose(s["theta"][0], [THETA[n] for n in NAMES])
    np.testing.assert_allclose(s["theta_sd"][0], [THETA_SD[n] for n in NAMES])
    assert np.isnan(s["theta"][1]).all()
    assert np.isnan(s["theta_sd"][1]).all()
    # what MUedit loads (load(file, 'parameters', 'signal')) keeps its fields
    assert "bmiss" not in mat["signal"]
    assert len(mat["signal"]["Dischargetimes"]) == 2


def test_openhdemg_extras_columns(tmp_path) -> None:
    path = tmp_path / "r.json"
    write_result(model_and_blind(), path, recording=small_recording())
    outer = json.loads(gzip.decompress(path.read_bytes()))
    extras = json.loads(outer["EXTRAS"])
    column = {name: [row[j] for row in extras["data"]] for j, name in enumerate(extras["columns"])}
    assert column["bmiss_origin"][:2] == ["model", "blind"]
    assert column["bmiss_theta_depth_mm"][:2] == [pytest.approx(THETA["depth_mm"]), None]
    assert column["bmiss_theta_sd_cv_m_s"][:2] == [pytest.approx(THETA_SD["cv_m_s"]), None]
    assert json.loads(outer["NUMBER_OF_MUS"]) == 2  # openhdemg's own keys as before


def test_every_origin_round_trips(tmp_path) -> None:
    base = small_result()
    units = tuple(u.replace(origin=o) for u, o in zip(base.units, ("joint", "model", "blind"), strict=True))
    for name in ("r.mat", "r_muedit.mat", "r.json"):
        write_result(DecompositionResult(units, base.sampling_rate_hz, base.n_samples), tmp_path / name)
        assert [u.origin for u in open_result(tmp_path / name).units] == ["joint", "model", "blind"]


def test_files_of_other_tools_read_as_blind(tmp_path) -> None:
    """A MAT file without the struct (DEMUSE's own, or ours before it existed) and one whose
    struct names other units (rewritten elsewhere) give blind units without θ."""
    path = tmp_path / "r.mat"
    write_result(model_and_blind(), path)
    mat = scipy.io.loadmat(path)
    del mat["bmiss"]
    scipy.io.savemat(tmp_path / "plain.mat", {k: v for k, v in mat.items() if not k.startswith("__")})
    assert {u.origin for u in open_result(tmp_path / "plain.mat").units} == {"blind"}
    mat = scipy.io.loadmat(path, simplify_cells=True)
    mat["bmiss"]["unit_id"] = np.asarray([7.0])
    mat["bmiss"]["origin"] = np.asarray(["model"], dtype=object)
    mat["MUPulses"] = np.asarray([np.asarray(p, dtype=float) for p in mat["MUPulses"]], dtype=object)
    scipy.io.savemat(tmp_path / "other.mat", {k: v for k, v in mat.items() if k in ("MUPulses", "fsamp", "bmiss")})
    assert all(u.theta is None and u.origin == "blind" for u in open_result(tmp_path / "other.mat").units)


def test_json_summaries_carry_model_info(tmp_path, capsys) -> None:
    """``bmiss decompose --json`` and ``bmiss info --json`` give each unit its origin, and θ and
    θ's sd when it has them."""
    result = model_and_blind()
    units = _decomposition_summary(small_recording(), result, None)["units"]
    assert [u["origin"] for u in units] == ["model", "blind"]
    assert units[0]["theta"] == THETA
    assert units[0]["theta_sd"] == THETA_SD
    assert "theta" not in units[1]
    assert "theta_sd" not in units[1]
    path = tmp_path / "r.mat"
    write_result(result, path, recording=small_recording())
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_units"] == 2
    assert [u["origin"] for u in info["units"]] == ["model", "blind"]
    assert all(math.isclose(info["units"][0]["theta"][k], v) for k, v in THETA.items())
    assert "theta_sd" not in info["units"][1]
    # a recording alone: no units in its description
    write_result(DecompositionResult((), result.sampling_rate_hz, result.n_samples), tmp_path / "e.json",
                 recording=small_recording())
    assert main(["info", str(tmp_path / "e.json"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_units"] == 0
