"""BIDS EMG as a dataset: written files named and filled as the BIDS schema (1.11, the first with
EMG) asks, sidecars found by inheritance when read, and a batch's outputs a valid derivative.

The file names go through bidsschematools' validator (its Python validator matches paths against
the schema's rules; it is the BIDS project's own package). The metadata are checked here against
the same schema's rules: the required fields of ``*_emg.json`` and ``*_coordsystem.json``, the
fields required when a value is "Other", and that each ``coordinate_system`` of
``*_electrodes.tsv`` is the ``space-`` of a coordsystem file (the validator's
EMG_COORD_SYS_MATCH check)."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from bmiss_engine.batch.outputs import output_paths, parse_formats, write_derivative_description
from bmiss_engine.io import open_recording, open_recordings, write_bids_emg, write_result
from bmiss_engine.io.bids_emg import bids_entities, inherited_json, inherited_sidecar, sidecar_files
from bmiss_engine.recording import ElectrodeGrid, Recording
from tests.engine.io_helpers import small_recording, small_result

schema_tools = pytest.importorskip("bidsschematools", reason="bidsschematools (the BIDS schema) is not installed")


def _invalid_paths(root: Path) -> list[str]:
    """The files under ``root`` that no rule of the BIDS schema names (after .bidsignore)."""
    from bidsschematools import validator

    logging.getLogger("bidsschematools").setLevel(logging.ERROR)
    result = validator.validate_bids(str(root))
    return [str(Path(p).relative_to(root)) for p in result["path_tracking"]]


def _schema():
    from bidsschematools import schema

    return schema.load_schema()


def _required_fields(rule) -> set[str]:
    return {name for name, level in rule["fields"].items()
            if (level if isinstance(level, str) else level["level"]) == "required"}


def _two_grids() -> list[Recording]:
    a = small_recording()
    rng = np.random.default_rng(9)
    b_grid = ElectrodeGrid.full(2, 2, 5.0, name="HD05MM0804-b")  # a name that is no BIDS label as it is
    b = Recording(rng.normal(0, 1e-5, (4, a.n_samples)).astype(np.float32), a.sampling_rate_hz, b_grid, {}, "m", "t")
    return [a, b]


@pytest.fixture
def dataset(tmp_path) -> Path:
    root = tmp_path / "study"
    (root / "sub-01" / "emg").mkdir(parents=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "t", "BIDSVersion": "1.11.0"}))
    write_bids_emg(_two_grids(), root / "sub-01" / "emg" / "sub-01_task-grip_run-2_emg.bdf")
    return root


def test_written_files_have_valid_names_and_no_run_in_the_coordsystem(dataset) -> None:
    folder = dataset / "sub-01" / "emg"
    assert sorted(p.name for p in folder.glob("*coordsystem.json")) == [
        "sub-01_task-grip_space-HD05MM0804b_coordsystem.json", "sub-01_task-grip_space-test4x3_coordsystem.json"]
    assert _invalid_paths(dataset) == []


def test_written_metadata_meet_the_schema(dataset) -> None:
    rules = _schema()["rules"]
    folder = dataset / "sub-01" / "emg"
    sidecar = json.loads((folder / "sub-01_task-grip_run-2_emg.json").read_text())
    required = set().union(*(_required_fields(r) for k, r in rules["sidecars"]["emg"].items()
                             if k != "EMGPlacementSchemeDescription"))
    assert required <= set(sidecar), required - set(sidecar)
    assert sidecar["EMGPlacementScheme"] == "Other"
    assert _required_fields(rules["sidecars"]["emg"]["EMGPlacementSchemeDescription"]) <= set(sidecar)
    assert sidecar["EMGChannelCount"] == 11 + 4
    metadata = _schema()["objects"]["metadata"]
    spaces = set()
    for f in folder.glob("*_coordsystem.json"):
        coords = json.loads(f.read_text())
        assert _required_fields(rules["json"]["emg"]["EMGCoordsystemPositions"]) <= set(coords)  # top level
        assert _required_fields(rules["json"]["emg"]["EMGCoordsystemOther"]) <= set(coords)
        assert coords["EMGCoordinateSystem"] in metadata["EMGCoordinateSystem"]["enum"]
        assert coords["EMGCoordinateUnits"] in metadata["EMGCoordinateUnits"]["enum"]
        spaces.add(bids_entities(f.name)[0]["space"])
    with (folder / "sub-01_task-grip_run-2_electrodes.tsv").open() as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert list(rows[0])[:5] == ["name", "x", "y", "z", "coordinate_system"]  # the schema's initial columns
    assert {r["coordinate_system"] for r in rows} == spaces  # EMG_COORD_SYS_MATCH


def test_grids_read_back_one_recording_each(dataset) -> None:
    path = dataset / "sub-01" / "emg" / "sub-01_task-grip_run-2_emg.bdf"
    a, b = open_recordings(path)
    assert (a.grid.shape, a.grid.ied_mm, a.grid.bad_channels) == ((4, 3), 8.0, (2,))
    assert (b.grid.shape, b.grid.ied_mm) == ((2, 2), 5.0)
    np.testing.assert_allclose(b.emg_v, _two_grids()[1].emg_v, atol=1e-9)
    assert open_recording(path, grid_index=1).grid.name == "HD05MM0804b"


def test_sidecars_are_inherited_from_the_levels_above(dataset) -> None:
    """The same recording with its tables moved up a level and its duration at the top: read alike."""
    folder = dataset / "sub-01" / "emg"
    path = folder / "sub-01_task-grip_run-2_emg.bdf"
    before = open_recordings(path)
    (folder / "sub-01_task-grip_run-2_channels.tsv").rename(dataset / "sub-01" / "sub-01_task-grip_channels.tsv")
    (folder / "sub-01_task-grip_run-2_electrodes.tsv").rename(folder / "sub-01_electrodes.tsv")
    sidecar = json.loads((folder / "sub-01_task-grip_run-2_emg.json").read_text())
    (folder / "sub-01_task-grip_run-2_emg.json").write_text(json.dumps({"EMGReference": "n/a"}))
    (dataset / "task-grip_emg.json").write_text(json.dumps(sidecar))
    assert inherited_sidecar(path, "channels") == dataset / "sub-01" / "sub-01_task-grip_channels.tsv"
    merged, files = inherited_json(path)
    assert merged["RecordingDuration"] == sidecar["RecordingDuration"]  # from the top level
    assert files[-1] == folder / "sub-01_task-grip_run-2_emg.json"  # the nearest, applied last
    after = open_recordings(path)
    assert [r.n_samples for r in after] == [r.n_samples for r in before]  # the padding trimmed as before
    for x, y in zip(before, after, strict=True):
        np.testing.assert_array_equal(x.grid.channel_rc, y.grid.channel_rc)
        assert x.grid.bad_channels == y.grid.bad_channels
    assert dataset / "sub-01" / "sub-01_task-grip_channels.tsv" in sidecar_files(path)
    # a table for another run, or another subject, does not apply
    (folder / "sub-01_task-grip_run-3_channels.tsv").write_text("name\ttype\tunits\nzz\tEMG\tuV\n")
    (dataset / "sub-02_task-grip_channels.tsv").write_text("name\ttype\tunits\nzz\tEMG\tuV\n")
    assert len(open_recordings(path)) == 2


def test_coordinate_units_of_the_coordsystem_convert_to_mm(dataset) -> None:
    folder = dataset / "sub-01" / "emg"
    coords = folder / "sub-01_task-grip_space-test4x3_coordsystem.json"
    electrodes = folder / "sub-01_task-grip_run-2_electrodes.tsv"
    system = json.loads(coords.read_text())
    coords.write_text(json.dumps({**system, "EMGCoordinateUnits": "cm"}))
    lines = electrodes.read_text().splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        name, x, y, *rest = line.split("\t")
        if rest[1] == "test4x3":
            x, y = f"{float(x) / 10:g}", f"{float(y) / 10:g}"
        out.append("\t".join([name, x, y, *rest]))
    electrodes.write_text("\n".join(out) + "\n")
    assert open_recording(folder / "sub-01_task-grip_run-2_emg.bdf").grid.ied_mm == pytest.approx(8.0)


def test_batch_outputs_of_a_bids_study_are_a_valid_derivative(tmp_path) -> None:
    out = tmp_path / "derivatives" / "bmiss"
    names = ["sub-01/emg/sub-01_task-grip_run-2_emg.bdf", "sub-01/ses-2/emg/sub-01_ses-2_task-grip_emg.edf"]
    paths = output_paths(out, names, parse_formats("csv,summary,mat,tsv,json"))
    events = [dict(p.exports)["tsv"] for p in paths]
    assert [e.name for e in events] == ["sub-01_task-grip_run-2_events.tsv", "sub-01_ses-2_task-grip_events.tsv"]
    assert write_derivative_description(out, "1.2.3")
    assert not write_derivative_description(out, "9.9.9")  # kept: a user's own description wins
    description = json.loads((out / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"
    assert description["GeneratedBy"][0] == {"Name": "BMISS", "Version": "1.2.3", "Description": description[
        "GeneratedBy"][0]["Description"]}
    for p in paths:  # what a batch writes, as a batch writes it
        p.result.parent.mkdir(parents=True, exist_ok=True)
        for _, f in (("npz", p.result), *p.exports):
            write_result(small_result(), f)
    (out / "batch_summary.csv").write_text("recording\n")
    assert _invalid_paths(out) == []
    assert output_paths(out, ["rec1.npz"], ("tsv",))[0].exports[0][1].name == "rec1_events.tsv"
