"""Batch pieces that need no cluster: discovery, output names, fingerprints, cluster plans,
the summary table."""

from __future__ import annotations

import shutil

import pytest

from bmiss_engine.batch import discover_recordings, parse_formats, plan_cluster
from bmiss_engine.batch.fingerprint import fingerprint
from bmiss_engine.batch.outputs import output_paths
from bmiss_engine.batch.plan import GPU
from bmiss_engine.batch.summary import BatchSummary, RecordingOutcome
from bmiss_engine.decomposer import DecomposerConfig
from bmiss_engine.errors import BmissError, ConfigError

from .batch_helpers import BROKEN, GOOD, make_study


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return make_study(tmp_path_factory.mktemp("batch") / "study")


def _names(entries):
    return sorted(e.name for e in entries)


def test_folder_walk_finds_recordings_and_skips_the_rest(study) -> None:
    # the truth file, notes, a settings JSON, BIDS sidecars and derivatives are left out;
    # the damaged .npz is kept: reading it will say what is wrong
    assert _names(discover_recordings(study)) == sorted([*GOOD, BROKEN])


def test_bids_dataset_is_walked_by_its_layout(study) -> None:
    entries = discover_recordings(study / "bids")
    assert _names(entries) == ["sub-01/emg/sub-01_task-grip_emg.bdf"]
    assert entries[0].path == (study / "bids" / "sub-01" / "emg" / "sub-01_task-grip_emg.bdf").resolve()


def test_glob_and_explicit_files(study) -> None:
    assert _names(discover_recordings(str(study / "*.npz"))) == [BROKEN, "rec_a.npz"]
    assert _names(discover_recordings(str(study / "**" / "*.bdf"))) == ["bids/sub-01/emg/sub-01_task-grip_emg.bdf"]
    # a file named explicitly is taken whatever it looks like, named after its own folder
    assert _names(discover_recordings([study / "rec_a_truth.npz", study / "rec_b.mat"])) == [
        "rec_a_truth.npz", "rec_b.mat"]
    with pytest.raises(BmissError, match="no such file"):
        discover_recordings(study / "missing")
    with pytest.raises(BmissError, match="matches no recording"):
        discover_recordings(str(study / "*.xyz"))


def test_linked_recordings_keep_their_place_in_the_study(study, tmp_path) -> None:
    linked = tmp_path / "linked"
    (linked / "day1").mkdir(parents=True)
    (linked / "day1" / "a.npz").symlink_to(study / "rec_a.npz")
    entries = discover_recordings(linked)
    assert [(e.name, e.path) for e in entries] == [("day1/a.npz", linked / "day1" / "a.npz")]
    (linked / "again.npz").symlink_to(study / "rec_a.npz")  # the same file twice: taken once
    assert _names(discover_recordings(linked)) == ["again.npz"]


def test_output_folder_inside_the_study_is_not_walked(study, tmp_path) -> None:
    copy = tmp_path / "study"
    shutil.copytree(study, copy)
    out = copy / "out"
    out.mkdir()
    shutil.copy(copy / "rec_a.npz", out / "rec_a.npz")
    assert _names(discover_recordings(copy, exclude=[out])) == sorted([*GOOD, BROKEN])


def test_output_names_mirror_the_study() -> None:
    from pathlib import Path

    paths = output_paths(Path("/o"), ["a/rec.npz", "a/rec.mat", "b/x_emg.bdf"], parse_formats("csv,events,json"))
    assert paths[0].result == Path("/o/a/rec_npz_result.npz")  # same stem: the extension tells them apart
    assert paths[1].result == Path("/o/a/rec_mat_result.npz")
    assert dict(paths[2].exports) == {"csv": Path("/o/b/x_emg_discharges.csv"), "tsv": Path("/o/b/x_emg_events.tsv"),
                                      "json": Path("/o/b/x_emg_openhdemg.json")}
    assert parse_formats("npz, mat,MAT,summary") == ("mat", "summary")
    with pytest.raises(BmissError, match="unknown export format"):
        parse_formats("csv,xls")


def test_fingerprint_follows_content_settings_and_sidecars(study, tmp_path) -> None:
    cfg = DecomposerConfig().replace(n_iterations=8)
    bdf = study / "bids" / "sub-01" / "emg" / "sub-01_task-grip_emg.bdf"
    base = fingerprint(bdf, cfg, {})
    assert {name for name, _ in base.inputs} == {bdf.name, "sub-01_task-grip_channels.tsv",
                                                 "sub-01_task-grip_electrodes.tsv", "sub-01_task-grip_emg.json",
                                                 "sub-01_task-grip_space-grid1_coordsystem.json"}
    assert fingerprint(bdf, DecomposerConfig().replace(n_iterations=8), {}).key == base.key
    assert fingerprint(bdf, DecomposerConfig().replace(n_iterations=9), {}).key != base.key
    assert fingerprint(bdf, cfg, {"grid_rows": 8}).key != base.key
    # a moved study keeps its keys; an edited sidecar does not
    moved = tmp_path / "moved"
    shutil.copytree(bdf.parent, moved)
    assert fingerprint(moved / bdf.name, cfg, {}).key == base.key
    channels = moved / "sub-01_task-grip_channels.tsv"
    channels.write_text(channels.read_text().replace("good", "bad", 1))
    assert fingerprint(moved / bdf.name, cfg, {}).key != base.key


def test_cluster_plan_for_cpus_and_gpus() -> None:
    cpu = plan_cluster(0, cpu_count=4)
    assert cpu.n_workers == 4
    assert not cpu.uses_gpus
    assert cpu.task_resources is None
    assert all(not w.resources and not w.env for w in cpu.workers)
    assert plan_cluster(0, n_workers=2).n_workers == 2

    gpu = plan_cluster(2, cpu_count=16)
    assert gpu.uses_gpus
    assert gpu.task_resources == {GPU: 1.0}
    assert [w.env["CUDA_VISIBLE_DEVICES"] for w in gpu.workers] == ["0", "1"]
    assert all(w.resources == {GPU: 1.0} for w in gpu.workers)
    assert plan_cluster(4, n_workers=2).n_workers == 2  # fewer workers than GPUs: the first ones
    assert plan_cluster(8, n_workers=16).n_workers == 8  # never two workers on one GPU

    forced_cpu = plan_cluster(2, n_workers=3, device="cpu")
    assert forced_cpu.n_workers == 3
    assert not forced_cpu.uses_gpus
    with pytest.raises(ConfigError):
        plan_cluster(0, n_workers=0)


def test_summary_tables(tmp_path) -> None:
    summary = BatchSummary((
        RecordingOutcome("a.npz", "ok", 3, 0.95, 1.5, "cpu", "cpu0"),
        RecordingOutcome("b|c.npz", "failed", error="b|c.npz: not a readable .npz file\n(bad)"),
        RecordingOutcome("d.npz", "skipped", 0, float("nan"), 2.0, "cpu", "cpu1"),
    ), tmp_path, 4.0)
    assert summary.totals() == "3 recordings: 1 ok, 1 skipped, 1 failed in 4.0 s"
    csv_path, md_path = summary.write()
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "recording,status,units,mean_sil,wall_time_s,device,worker,error"
    assert lines[1] == "a.npz,ok,3,0.950,1.50,cpu,cpu0,"
    assert lines[3] == "d.npz,skipped,0,,2.00,cpu,cpu1,"
    md = md_path.read_text()
    assert "| b\\|c.npz | failed |" in md
    assert "(bad)" in md
    assert "\n(bad)" not in md


def test_terminal_progress_shows_workers_and_dashboard_note() -> None:
    import io

    from bmiss_engine.batch import BatchProgress, RunningRecording
    from bmiss_engine.batch.terminal import TerminalProgress

    out = io.StringIO()
    with TerminalProgress(out) as view:
        view(BatchProgress(3, cluster="LocalCluster: 2 CPU workers, 1 thread each",
                           dashboard_note="Dask dashboard not available (install bokeh to get one)"))
        view(BatchProgress(3, (RecordingOutcome("a.npz", "skipped"),),
                           (RunningRecording("cpu0", "b.npz", 3, 8), RunningRecording("cpu1", "c.npz", 0, 8)),
                           cluster="LocalCluster: 2 CPU workers, 1 thread each"))
    text = out.getvalue()
    assert "LocalCluster: 2 CPU workers, 1 thread each; Dask dashboard not available" in text
    assert text.count("dashboard") == 1
    assert "worker cpu0: b.npz (3/8 vectors)" in text
    assert "worker cpu1: c.npz (0/8 vectors)" in text
    assert "1/3" in text
    assert "1 skipped" in text
