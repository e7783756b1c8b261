"""Run a peer decomposer (in its own venv, as a subprocess) on a plain-layout .npz; cache results.

Stdlib + numpy only, so the bench scripts can import it from the main venv::

    from bench.peers.runner import run_peer
    r = run_peer("emgdecomp", Path("rec.npz"), Path("bench/.cache/peers"))
    if r.ok: score(r.csv_path)

Peers: ``fastica_cbss`` (MUniverse FastIcaCBSS via ``shared/tools/peer_fastica_cbss.py``, venv
``.venv-peers/muniverse``) and ``emgdecomp`` (``bench/peers/peer_emgdecomp.py``, venv
``.venv-peers/emgdecomp``). A missing venv is built with ``setup_peers.sh``.

Per run, in ``out_dir``: ``<peer>__<npz stem>[__<args>].csv`` (``unit_id,sample,time_s``), ``.json``
(the cache record) and ``.log`` (the child's stdout and stderr). The cache key is the sha256 of the
input .npz, the peer name, its extra arguments and the sha256 of the peer script, so editing a
peer script invalidates its results. Successful runs are reused; so are time-outs, as long as
the new ``timeout_s`` is not longer than the one that ran out.

Peak RSS is the child's own ``ru_maxrss`` from ``os.wait4`` (Linux: the maximum of the child and
of the descendants it waited for), not a ``RUSAGE_CHILDREN`` delta, which would report the
largest child ever run by this process instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PEERS_DIR = Path(__file__).resolve().parent
VENVS = REPO / ".venv-peers"
SETUP = PEERS_DIR / "setup_peers.sh"
SETUP_TIMEOUT_S = 1800.0
CACHE_VERSION = 1


@dataclass(frozen=True)
class PeerRun:
    """Outcome of one peer run; ``csv_path`` holds its units when ``ok``."""

    name: str
    csv_path: Path
    wall_s: float
    peak_rss_mb: float
    ok: bool
    message: str


def shared_dir() -> Path:
    """The shared folder: sibling ``shared`` of the repo root, else ``$BMISS_SHARED``."""
    sibling = REPO.parent / "shared"
    if sibling.is_dir():
        return sibling
    env = os.environ.get("BMISS_SHARED")
    if env:
        return Path(env)
    raise FileNotFoundError(f"no shared folder at {sibling} and BMISS_SHARED is not set")


def _peer_spec(name: str) -> tuple[str, Path]:
    """(venv name, script path) of a peer; raises KeyError for an unknown peer."""
    if name == "fastica_cbss":
        return "muniverse", shared_dir() / "tools" / "peer_fastica_cbss.py"
    if name == "emgdecomp":
        return "emgdecomp", PEERS_DIR / "peer_emgdecomp.py"
    raise KeyError(f"unknown peer {name!r} (known: fastica_cbss, emgdecomp)")


def _stem(name: str, npz_path: Path, args: Sequence[str]) -> str:
    """File stem of a run's outputs: ``<peer>__<npz stem>[__<args joined by _>]``."""
    return "__".join([name, npz_path.stem, *(["_".join(map(str, args))] if args else [])])


def _sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _ensure_venv(venv: str) -> str | None:
    """Build the venv with setup_peers.sh when its python is missing; return an error or None."""
    if (VENVS / venv / "bin" / "python").exists():
        return None
    try:
        res = subprocess.run(["bash", str(SETUP), venv], capture_output=True, text=True, timeout=SETUP_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"setup_peers.sh {venv} failed: {exc}"
    if res.returncode != 0:
        tail = (res.stdout + res.stderr).strip().splitlines()[-5:]
        return f"setup_peers.sh {venv} exited {res.returncode}: " + " | ".join(tail)
    return None


def _run_measured(
    cmd: list[str], log_path: Path, env: dict[str, str], timeout_s: float
) -> tuple[int, float, float, float, bool]:
    """Run cmd (own session, log to log_path); return (status, wall_s, cpu_s, peak_rss_mb, timed_out).

    The status is the exit code, or minus the signal number for a killed child.
    """
    timed_out = threading.Event()
    with open(log_path, "w") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

        def _kill() -> None:
            timed_out.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout_s, _kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen consistent
    cpu = usage.ru_utime + usage.ru_stime
    return proc.returncode, wall, cpu, usage.ru_maxrss / 1024.0, timed_out.is_set()


def _last_line(path: Path, n: int = 1) -> str:
    """The last n non-empty lines of a text file, joined with ' | '."""
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return " | ".join(lines[-n:])


def _from_record(rec: dict[str, Any], csv_path: Path, prefix: str) -> PeerRun:
    """A PeerRun from a cache record."""
    return PeerRun(
        name=rec["name"],
        csv_path=csv_path,
        wall_s=float(rec["wall_s"]),
        peak_rss_mb=float(rec["peak_rss_mb"]),
        ok=bool(rec["ok"]),
        message=prefix + str(rec["message"]),
    )


def _cached(json_path: Path, csv_path: Path, key: str, timeout_s: float) -> PeerRun | None:
    """The cached run for this key, if it is reusable."""
    try:
        rec = json.loads(json_path.read_text())
    except (OSError, ValueError):
        return None
    if rec.get("key") != key or rec.get("version") != CACHE_VERSION:
        return None
    if rec.get("ok") and csv_path.exists():
        return _from_record(rec, csv_path, "cached: ")
    if rec.get("timed_out") and timeout_s <= float(rec.get("timeout_s", 0.0)):
        return _from_record(rec, csv_path, "cached: ")
    return None


def run_peer(
    name: str, npz_path: Path, out_dir: Path, *, cache: bool = True, timeout_s: float = 1800, args: Sequence[str] = ()
) -> PeerRun:
    """Run peer ``name`` on ``npz_path``, writing ``out_dir/<name>__<stem>[__<args>].csv``; never raises.

    ``args`` are extra command-line arguments for the peer script (fastica_cbss:
    ``[ica_iterations]``; emgdecomp: ``[max_sources]``). With ``cache`` a previous result for the
    same input, peer, arguments and peer script is returned without running anything.
    ``wall_s`` is the child's wall time (interpreter start and imports included).
    """
    csv_path = Path(out_dir) / f"{_stem(name, Path(npz_path), args)}.csv"
    try:
        return _run_peer(name, Path(npz_path), Path(out_dir), cache, timeout_s, args)
    except Exception as exc:  # noqa: BLE001 - the bench must go on whatever a peer does
        return PeerRun(name, csv_path, 0.0, 0.0, False, f"runner error: {exc!r}")


def _run_peer(name: str, npz_path: Path, out_dir: Path, cache: bool, timeout_s: float, args: Sequence[str]) -> PeerRun:
    """run_peer's body (may raise)."""
    stem = _stem(name, npz_path, args)
    csv_path = out_dir / f"{stem}.csv"
    try:
        venv, script = _peer_spec(name)
        shared = shared_dir()
        out_dir.mkdir(parents=True, exist_ok=True)
        key_src = [_sha256(npz_path), name, *map(str, args), _sha256(script)]
        key = hashlib.sha256("\n".join(key_src).encode()).hexdigest()
    except (KeyError, OSError) as exc:
        return PeerRun(name, csv_path, 0.0, 0.0, False, f"cannot run: {exc}")
    json_path, log_path = out_dir / f"{stem}.json", out_dir / f"{stem}.log"
    if cache:
        hit = _cached(json_path, csv_path, key, timeout_s)
        if hit is not None:
            return hit
    err = _ensure_venv(venv)
    if err is not None:
        return PeerRun(name, csv_path, 0.0, 0.0, False, err)
    part = csv_path.with_suffix(".part.csv")
    part.unlink(missing_ok=True)
    py = VENVS / venv / "bin" / "python"
    cmd = [str(py), str(script), str(npz_path.resolve()), str(part), *map(str, args)]
    shown = " ".join([*cmd[:3], str(csv_path), *cmd[4:]])
    env = dict(os.environ, BMISS_SHARED=str(shared), PYTHONUNBUFFERED="1")
    try:
        load_before = os.getloadavg()[0]
        code, wall, cpu, rss, timed_out = _run_measured(cmd, log_path, env, timeout_s)
    except OSError as exc:
        return PeerRun(name, csv_path, 0.0, 0.0, False, f"cannot start {py}: {exc}")
    ok = code == 0 and not timed_out and part.exists()
    if ok:
        part.replace(csv_path)
        message = _last_line(log_path)
    else:
        part.unlink(missing_ok=True)
        csv_path.unlink(missing_ok=True)
        why = f"timed out after {timeout_s:.0f} s" if timed_out else f"exit status {code}"
        message = f"{why}: {_last_line(log_path, 3)}"
    run = PeerRun(name, csv_path, round(wall, 2), round(rss, 1), ok, message)
    record = {
        **asdict(run),
        "csv_path": csv_path.name,
        "key": key,
        "version": CACHE_VERSION,
        "npz": str(npz_path.resolve()),
        "args": list(map(str, args)),
        "cpu_s": round(cpu, 1),
        "load_before": round(load_before, 2),
        "timed_out": timed_out,
        "timeout_s": timeout_s,
        "exit_status": code,
        "command": shown,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if ok or timed_out:
        json_path.write_text(json.dumps(record, indent=1) + "\n")
    else:
        json_path.unlink(missing_ok=True)
    return run
