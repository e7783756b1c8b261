"""Does a plain ``pip install`` of the wheel run? Build the wheel, install it alone (base
dependencies, no extras, nothing of the repository on the path) into a fresh virtual
environment, and from a folder outside the repository:

* ``bmiss --version`` names the wheel's version;
* ``bmiss decompose`` without a file decomposes the bundled demo and writes its result;
* the bundled files (surrogate weights, demo MRI, user guide) resolve inside the installed
  package, and the surrogate loads;
* ``bmiss batch`` says in one line which extra it needs.

    .venv/bin/python tests/packaging/smoke_wheel.py [--keep DIR]

Run by ``./run.sh test`` after the tests. The first run installs torch and the other
dependencies into the new environment from pip's cache or the package index; later runs reuse
the cache. Exit 0 when every check passes, 1 with ``wheel smoke test FAILED: ...`` otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# as run.sh installs it: the CPU build that lies on this kind of machine
TORCH = os.environ.get("BMISS_SMOKE_TORCH", "torch==2.13.0")
# a short decomposition: the check is that the installed program runs end to end on its demo
ITERATIONS = "32"
_IGNORED_DIRS = {".git", ".venv", "build", "dist", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}


class SmokeFailure(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one, removed)")
    args = ap.parse_args(argv)
    started = time.monotonic()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        work = args.keep.resolve()
    else:
        work = Path(tempfile.mkdtemp(prefix="bmiss-wheel-"))
    try:
        run_checks(work)
    except SmokeFailure as exc:
        print(f"wheel smoke test FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            remove_in_background(work)
    print(f"wheel smoke test passed in {time.monotonic() - started:.0f} s")
    return 0


def remove_in_background(folder: Path) -> None:
    """Delete ``folder`` without waiting: the environment holds torch, 1.2 GB in 28,000 files,
    which took 90 s to delete on a busy 2-core machine."""
    try:
        subprocess.Popen(["rm", "-rf", str(folder)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)


def run_checks(work: Path) -> None:
    src, dist, venv, cwd = work / "src", work / "dist", work / "venv", work / "elsewhere"
    for d in (src, dist, venv, cwd):
        shutil.rmtree(d, ignore_errors=True)
    cwd.mkdir()

    with _step("copy the sources as a checkout has them"):
        copy_sources(REPO, src)
    with _step("build the wheel"):
        _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(src)], cwd=work)
        wheels = sorted(dist.glob("bmiss-*.whl"))
        if len(wheels) != 1:
            raise SmokeFailure(f"expected one bmiss wheel in {dist}, found {[w.name for w in wheels]}")
        wheel = wheels[0]
    with _step("create a virtual environment and install the wheel with its base dependencies"):
        _run([sys.executable, "-m", "venv", str(venv)], cwd=work)
        py = venv / "bin" / "python"
        # --no-compile: byte-compiling torch's thousands of modules is most of the CPU time of the install
        _run([str(py), "-m", "pip", "install", "-q", "--no-compile", TORCH, str(wheel)], cwd=work)
    bmiss = str(venv / "bin" / "bmiss")
    env = _clean_env()

    with _step("bmiss --version"):
        out = _run([bmiss, "--version"], cwd=cwd, env=env).stdout.strip()
        version = wheel.name.split("-")[1]
        if out != f"bmiss {version}":
            raise SmokeFailure(f"`bmiss --version` printed {out!r}, expected 'bmiss {version}'")

    with _step(f"bmiss decompose (the bundled demo, {ITERATIONS} separation vectors)"):
        proc = _run([bmiss, "decompose", "--iterations", ITERATIONS, "--json", "--out", "demo_summary.csv"],
                    cwd=cwd, env=env)
        try:
            summary = json.loads(proc.stdout)
        except json.JSONDecodeError as exc:
            raise SmokeFailure(f"`bmiss decompose --json` printed no JSON ({exc}): {proc.stdout[:500]!r}") from None
        demo = Path(summary["recording"]["file"])
        if not _inside(demo, venv):
            raise SmokeFailure(f"the demo recording was read from {demo}, not from the installed package in {venv}")
        if summary["n_units"] < 1:
            raise SmokeFailure(f"the demo gave no motor unit: {proc.stdout[:500]}")
        table = cwd / "demo_summary.csv"
        rows = table.read_text().splitlines() if table.is_file() else []
        if len(rows) != summary["n_units"] + 1:
            raise SmokeFailure(f"{table}: expected a header and {summary['n_units']} rows, found {len(rows)} lines")
        print(f"    {summary['n_units']} units in {summary['wall_time_s']:.1f} s on {summary['device']}")

    with _step("the bundled files resolve inside the installed package; the surrogate loads"):
        probe = (
            "import json, bmiss_engine\n"
            "from bmiss_engine.resources import bundled_path\n"
            "from bmiss_engine.forward.surrogate import WEIGHTS_PATH, SurrogateForwardModel\n"
            "SurrogateForwardModel()\n"
            "paths = [bundled_path('resources', 'demo_mri', n) for n in ('demo_t1.nii.gz', 'demo_labels.nii.gz',"
            " 'grid_placement.json')]\n"
            "paths += [WEIGHTS_PATH, bundled_path('docs', 'user_guide.md'), bundled_path('docs', 'screenshots',"
            " 'main_window.png')]\n"
            "print(json.dumps({'engine': bmiss_engine.__file__, 'files': [str(p) for p in paths],"
            " 'missing': [str(p) for p in paths if not p.is_file()]}))\n"
        )
        found = json.loads(_run([str(py), "-c", probe], cwd=cwd, env=env).stdout)
        if found["missing"]:
            raise SmokeFailure(f"not installed: {found['missing']}")
        outside = [p for p in [found["engine"], *found["files"]] if not _inside(Path(p), venv)]
        if outside:
            raise SmokeFailure(f"read from outside the installed package: {outside}")

    with _step("bmiss batch without the batch extra: one line naming the extra"):
        proc = _run([bmiss, "batch", str(cwd), "--out", str(cwd / "batch")], cwd=cwd, env=env, check=False)
        lines = proc.stderr.strip().splitlines()
        if proc.returncode != 2 or len(lines) != 1 or "bmiss[batch]" not in lines[0]:
            raise SmokeFailure(f"`bmiss batch` without dask: exit {proc.returncode}, stderr {proc.stderr[-800:]!r}")


def copy_sources(repo: Path, dest: Path) -> None:
    """The files a fresh checkout holds (tracked ones, and new ones git does not ignore), so that
    no build folder or egg-info of the working tree reaches the wheel."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=repo,
                                capture_output=True, check=True).stdout.decode().split("\0")
        names = [n for n in listed if n and (repo / n).is_file()]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: everything but build products
        names = [str(p.relative_to(repo)) for p in repo.rglob("*")
                 if p.is_file() and not _IGNORED_DIRS & set(p.relative_to(repo).parts)
                 and not any(part.endswith(".egg-info") for part in p.parts)]
    for name in names:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, target)


def _clean_env() -> dict[str, str]:
    """The environment without anything that would put the repository on the path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise SmokeFailure(f"`{' '.join(cmd)}` exited with {proc.returncode}:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return proc


@contextmanager
def _step(what: str) -> Iterator[None]:
    """Print what is checked, then how long it took."""
    t0 = time.monotonic()
    print(f"  {what} ...", flush=True)
    yield
    print(f"    ok ({time.monotonic() - t0:.1f} s)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
