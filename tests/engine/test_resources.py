"""The shipped files are found through the installed package, and the wheel's package data
covers every one of them (a new file under ``resources/`` that no pattern matches would be
missing from a ``pip install``; tests/packaging/smoke_wheel.py checks the wheel itself)."""

from __future__ import annotations

import re
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest

from bmiss_engine.resources import bundled_path

REPO = Path(__file__).resolve().parents[2]
# files kept in the repository but not shipped: the scripts that make the others
NOT_SHIPPED = {"resources/make_demo.py", "docs/make_screenshots.py"}
FOLDERS = {"resources": "bmiss_resources", "docs": "bmiss_docs"}


def test_bundled_files_are_found() -> None:
    for parts in [("demo_recording.npz",), ("demo_recording_truth.npz",), ("surrogate", "surrogate.pt"),
                  ("demo_mri", "demo_t1.nii.gz"), ("demo_mri", "demo_labels.nii.gz"),
                  ("demo_mri", "grid_placement.json")]:
        assert bundled_path("resources", *parts).is_file(), parts
    assert bundled_path("docs", "user_guide.md").is_file()


def test_the_engine_reads_them_there() -> None:
    from bmiss_engine.anatomy.phantom import demo_anatomy_paths
    from bmiss_engine.forward.surrogate import WEIGHTS_PATH

    assert bundled_path("resources", "surrogate", "surrogate.pt") == WEIGHTS_PATH
    assert demo_anatomy_paths().labels == bundled_path("resources", "demo_mri", "demo_labels.nii.gz")


def test_every_image_of_the_user_guide_is_bundled() -> None:
    guide = bundled_path("docs", "user_guide.md")
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", guide.read_text())
    assert images
    for image in images:
        assert (guide.parent / image).is_file(), image


def test_the_standalone_bundle_keeps_the_folders(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert bundled_path("resources", "demo_recording.npz") == tmp_path / "resources" / "demo_recording.npz"
    assert bundled_path("docs", "user_guide.md") == tmp_path / "docs" / "user_guide.md"


def test_package_data_covers_every_shipped_file() -> None:
    tomllib = pytest.importorskip("tomllib")
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["package-dir"] == {package: folder for folder, package in FOLDERS.items()}
    patterns: dict[str, list[str]] = setuptools["package-data"]
    setup_py = (REPO / "setup.py").read_text()
    for folder, package in FOLDERS.items():
        for path in sorted((REPO / folder).rglob("*")):
            rel = path.relative_to(REPO).as_posix()
            if not path.is_file() or "__pycache__" in rel or path.name == "__init__.py" or rel in NOT_SHIPPED:
                continue
            inner = path.relative_to(REPO / folder)
            sub = ".".join((package, *inner.parent.parts))  # the (data) package holding the file
            assert f'"{sub}"' in setup_py, f"{rel}: add {sub!r} to DATA_PACKAGES in setup.py"
            assert any(fnmatch(inner.name, p) for p in patterns.get(sub, [])), \
                f"{rel}: no [tool.setuptools.package-data] pattern of {sub!r} ships it"
