"""Atomic writes' temporaries: named for their writer, and removed once that writer is gone
(killed mid-write) but never while it may still be writing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from bmiss_engine.io.atomic import STALE_AFTER_S, host_tag, remove_stale_temporaries, write_atomic, write_text_atomic


def dead_pid() -> int:
    """The pid of a process that has ended."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def temporary(folder, name: str, pid: int, host: str | None = None, age_s: float = 0.0):
    """A temporary as write_atomic names it, last modified ``age_s`` ago."""
    path = folder / f".{name}.bmiss.{host or host_tag()}-{pid}.ab12cd_9.tmp"
    path.write_bytes(b"partial")
    if age_s:
        t = time.time() - age_s
        os.utime(path, (t, t))
    return path


def test_temporary_is_named_for_its_writer(tmp_path) -> None:
    seen = []

    def write(fh) -> None:
        fh.write(b"x")
        seen.extend(p.name for p in tmp_path.iterdir())

    write_atomic(tmp_path / "session.bmiss", write)
    assert len(seen) == 1
    assert re.fullmatch(rf"\.session\.bmiss\.bmiss\.{host_tag()}-{os.getpid()}\.[a-z0-9_]{{8}}\.tmp", seen[0])
    assert [p.name for p in tmp_path.iterdir()] == ["session.bmiss"]


def test_only_temporaries_of_ended_writers_are_removed(tmp_path) -> None:
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "sub").mkdir()
        stale = [
            temporary(tmp_path, "a.npz", dead_pid()),  # this host, writer ended: at once
            temporary(tmp_path, "b.npz", 4242, host="0123abcd", age_s=STALE_AFTER_S + 60),  # another host, old
            temporary(tmp_path / "sub", "c.mat", dead_pid()),  # found with recursive
        ]
        kept = [
            temporary(tmp_path, "d.npz", live.pid, age_s=STALE_AFTER_S + 60),  # its writer still runs
            temporary(tmp_path, "e.npz", os.getpid()),  # this process's own
            temporary(tmp_path, "f.npz", 4242, host="0123abcd", age_s=60),  # another host, recent
        ]
        unmarked_old = tmp_path / ".g.npz.k3j5x0_q.tmp"  # the name before temporaries carried their writer
        unmarked_old.write_bytes(b"partial")
        os.utime(unmarked_old, (time.time() - STALE_AFTER_S - 60,) * 2)
        unmarked_new = tmp_path / ".h.npz.k3j5x0_q.tmp"
        unmarked_new.write_bytes(b"partial")
        others = [tmp_path / "notes.tmp", tmp_path / "rec_result.npz"]  # not named like ours
        for p in others:
            p.write_bytes(b"theirs")
            os.utime(p, (time.time() - 10 * STALE_AFTER_S,) * 2)

        assert sorted(remove_stale_temporaries(tmp_path)) == sorted(stale[:2])
        assert sorted(remove_stale_temporaries(tmp_path, recursive=True, unmarked=True)) == sorted(
            [stale[2], unmarked_old])
        assert all(p.exists() for p in [*kept, unmarked_new, *others])
    finally:
        live.kill()
        live.wait()


def test_writer_sweeps_a_folder_before_its_first_write_there(tmp_path) -> None:
    left = temporary(tmp_path, "r.mat", dead_pid())
    write_text_atomic(tmp_path / "r.csv", "unit_id\n")
    assert not left.exists()
    # once per folder and process: a later leftover waits for the next process (or batch run)
    later = temporary(tmp_path, "r.mat", dead_pid())
    write_text_atomic(tmp_path / "r.csv", "unit_id\n")
    assert later.exists()


@pytest.mark.skipif(sys.platform == "win32", reason="kill -9")
def test_save_killed_mid_write_is_cleaned_up_by_the_next_writer(tmp_path) -> None:
    """A process killed (SIGKILL) while it writes leaves its temporary; the next process's
    first write into that folder removes it."""
    script = ("import sys, time; from bmiss_engine.io.atomic import write_atomic; "
              "write_atomic(sys.argv[1], lambda fh: (fh.write(b'x'), fh.flush(), time.sleep(60)))")
    p = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "s.bmiss")])
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".s.bmiss.bmiss.*.tmp")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(tmp_path.glob(".s.bmiss.bmiss.*.tmp"))
    finally:
        p.kill()
        p.wait()
    subprocess.run([sys.executable, "-c", "import sys; from bmiss_engine.io.atomic import write_text_atomic; "
                    "write_text_atomic(sys.argv[1], 'x')", str(tmp_path / "other.txt")], check=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.txt"]
