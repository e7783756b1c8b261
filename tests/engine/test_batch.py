"""``run_batch`` and ``bmiss batch`` on a real LocalCluster (2 worker processes) and a small
generated study: results identical to ``bmiss decompose``, a damaged file and a crashed worker
failing only their recordings, reruns skipping what is done, changed settings recomputing.

One cluster serves the whole module (a worker process takes 5-15 s to start and import torch
on the shared test machine); it is the GPU plan for two GPUs, so tasks go through the
``{"GPU": 1}`` resource path and each worker has its own CUDA_VISIBLE_DEVICES, while the
decompositions themselves run on the CPU (device "cpu" in the settings).
"""

from __future__ import annotations

import functools
import importlib
import json
import threading

import numpy as np
import pytest

from bmiss_engine.batch import OpenOptions, discover_recordings, plan_cluster, run_batch
from bmiss_engine.batch.plan import dashboard_available
from bmiss_engine.batch.run import dask_client
from bmiss_engine.cli import main
from bmiss_engine.decomposer import DecomposerConfig
from bmiss_engine.io import open_result

from ._single_thread import single_torch_thread  # noqa: F401  (as on the workers)
from .batch_helpers import BROKEN, CONFIG, GOOD, crash_on, make_study, visible_gpus

pytestmark = pytest.mark.timeout(300)

CRASH = "rec_c.json"


@pytest.fixture(scope="module")
def cluster():
    # no retry of a task that took its worker down: one crash, one restart (the default is 1)
    with dask_client(None, plan_cluster(2, n_workers=2), allowed_failures=0) as (client, description, note):
        client.run(importlib.import_module, "bmiss_engine.batch.tasks")  # workers import the engine once, up front
        yield client, description, note


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch")
    study = make_study(root / "study")
    (root / "config.json").write_text(json.dumps(CONFIG))
    return study


@pytest.fixture(scope="module")
def address(cluster) -> str:
    return cluster[0].scheduler.address


@pytest.fixture(scope="module")
def first_run(address, study):
    """The study with one worker dying on CRASH; progress snapshots kept."""
    snapshots = []
    summary = run_batch(study, study.parent / "out", DecomposerConfig.from_dict(CONFIG), formats="csv,mat",
                        scheduler=address, progress=snapshots.append,
                        task=functools.partial(crash_on, CRASH))
    return summary, snapshots


@pytest.fixture(scope="module")
def reference(study):
    """Each good recording through ``bmiss decompose`` (in this process, one torch thread)."""
    refs = {}
    for i, name in enumerate(GOOD):
        out = study.parent / "ref" / f"{i}.npz"
        out.parent.mkdir(exist_ok=True)
        assert main(["decompose", str(study / name), "--config", str(study.parent / "config.json"),
                     "--out", str(out), "--no-progress"]) == 0
        refs[name] = open_result(out)
    return refs


def test_cluster_plan_pins_workers_to_their_gpu(cluster) -> None:
    client, description, note = cluster
    assert description == "LocalCluster: 2 GPU workers, 1 thread each"
    info = client.scheduler_info()["workers"].values()
    assert sorted(w["name"] for w in info) == ["gpu0", "gpu1"]
    assert all(w["resources"] == {"GPU": 1.0} for w in info)
    assert sorted(client.run(visible_gpus).values()) == ["0", "1"]
    assert ("bokeh" in note) != dashboard_available()


def test_good_recordings_match_bmiss_decompose(first_run, study, reference) -> None:
    summary, _ = first_run
    for name in GOOD:
        if name == CRASH:
            continue
        outcome = summary.outcome(name)
        assert outcome.status == "ok", outcome
        got, want = open_result(outcome.result), reference[name]
        assert got.n_units == want.n_units > 0
        assert outcome.units == want.n_units
        for a, b in zip(got.units, want.units, strict=True):
            np.testing.assert_array_equal(a.discharge_samples, b.discharge_samples)
        assert got.provenance["batch"]["recording"] == name
        assert outcome.worker in ("gpu0", "gpu1")
        # every export asked for, beside the result
        assert outcome.result.with_name(outcome.result.name.replace("_result.npz", "_discharges.csv")).is_file()
        assert outcome.result.with_name(outcome.result.name.replace("_result.npz", ".mat")).is_file()
    bids = summary.outcome(GOOD[3]).result
    assert bids == study.parent / "out" / "bids" / "sub-01" / "emg" / "sub-01_task-grip_emg_result.npz"


def test_damaged_file_and_crashed_worker_fail_alone(first_run, study) -> None:
    summary, snapshots = first_run
    assert [o.recording for o in summary.outcomes] == [e.name for e in discover_recordings(study)]
    broken = summary.outcome(BROKEN)
    assert broken.status == "failed"
    assert "broken.npz" in broken.error
    assert "not a readable .npz" in broken.error
    crashed = summary.outcome(CRASH)
    assert crashed.status == "failed"
    assert "KilledWorker" in crashed.error
    assert summary.count("ok") == 3
    table = (study.parent / "out" / "batch_summary.csv").read_text().splitlines()
    assert len(table) == 1 + len(summary.outcomes)
    assert any(r.startswith("broken.npz,failed,") for r in table)
    # progress: every worker was seen on a recording, and the last snapshot has them all
    seen = {r.worker for p in snapshots for r in p.running}
    assert seen <= {"gpu0", "gpu1"}
    assert seen
    assert snapshots[-1].done == snapshots[-1].total == len(GOOD) + 1


@pytest.fixture(scope="module")
def rerun(first_run, study, address):
    out = study.parent / "out"
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*_result.npz")}
    summary = run_batch(study, out, DecomposerConfig.from_dict(CONFIG), formats="csv,mat", scheduler=address)
    return summary, before


def test_rerun_skips_finished_recordings_and_completes_the_rest(rerun, first_run) -> None:
    summary, before = rerun
    for name in GOOD:
        if name != CRASH:
            outcome = summary.outcome(name)
            assert outcome.status == "skipped"
            assert before[outcome.result] == outcome.result.stat().st_mtime_ns  # not rewritten
            assert outcome.units == first_run[0].outcome(name).units  # the summary still has its numbers
    assert summary.outcome(CRASH).status == "ok"
    assert summary.outcome(BROKEN).status == "failed"


def test_changed_settings_recompute(rerun, study, address) -> None:
    changed = DecomposerConfig.from_dict({**CONFIG, "sil_threshold": 0.85})
    out = study.parent / "out"
    summary = run_batch(study / "rec_a.npz", out, changed, formats="csv,mat", scheduler=address)
    assert summary.outcome("rec_a.npz").status == "ok"
    stored = DecomposerConfig.from_dict(dict(open_result(out / "rec_a_result.npz").config))
    assert stored.acceptance.sil_threshold == 0.85
    # and a missing export makes a recording run again
    (out / "rec_a_discharges.csv").unlink()
    again = run_batch(study / "rec_a.npz", out, changed, formats="csv,mat", scheduler=address)
    assert again.outcome("rec_a.npz").status == "ok"
    assert (out / "rec_a_discharges.csv").is_file()


def test_command_line(rerun, study, address, tmp_path, capsys) -> None:
    out = tmp_path / "cli"
    code = main(["batch", str(study / "*.npz"), "--out", str(out), "--scheduler", address,
                 "--config", str(study.parent / "config.json"), "--formats", "summary", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 1  # broken.npz failed
    assert "| rec_a.npz | ok |" in captured.out
    assert "| broken.npz | failed |" in captured.out
    assert f"scheduler {address}" in captured.err
    assert (out / "rec_a_result.npz").is_file()
    assert (out / "rec_a_summary.csv").is_file()
    assert (out / "batch_summary.md").read_text().startswith("# Batch summary")
    assert main(["batch", str(study / "rec_a.npz"), "--out", str(out), "--formats", "xls"]) == 2
    assert "unknown export format" in capsys.readouterr().err


def test_own_local_cluster(study, reference, tmp_path) -> None:
    """The default path of ``bmiss batch``: run_batch starts (and closes) its own LocalCluster."""
    snapshots = []
    summary = run_batch(study / "rec_a.npz", tmp_path / "own", DecomposerConfig.from_dict(CONFIG), n_workers=1,
                        progress=snapshots.append)
    outcome = summary.outcome("rec_a.npz")
    assert outcome.status == "ok"
    assert outcome.worker == "cpu0"
    got, want = open_result(outcome.result), reference["rec_a.npz"]
    assert [u.discharge_samples.tolist() for u in got.units] == [u.discharge_samples.tolist() for u in want.units]
    assert snapshots[-1].cluster == "LocalCluster: 1 CPU worker, 1 thread each"
    assert bool(snapshots[-1].dashboard_link) == dashboard_available() != bool(snapshots[-1].dashboard_note)


def test_cancel_leaves_the_rest_cancelled(rerun, study, address, tmp_path) -> None:
    cancel = threading.Event()
    cancel.set()
    summary = run_batch(study, tmp_path / "out", DecomposerConfig.from_dict(CONFIG), scheduler=address,
                        cancel=cancel, options=OpenOptions())
    assert {o.status for o in summary.outcomes} == {"cancelled"}
    assert (tmp_path / "out" / "batch_summary.csv").is_file()
