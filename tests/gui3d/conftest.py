"""The 3D view needs a real X server (VTK draws with OpenGL): these tests run on Qt's xcb
platform under Xvfb, started by pytest-xvfb. ``./run.sh test`` runs them in their own pytest
process after the offscreen GUI tests (a process has one Qt platform)."""

from __future__ import annotations

import os

import pytest

# before any QApplication exists; pytest-xvfb sets DISPLAY when pytest is configured, which is
# after this (initial) conftest is read, so the display is checked per test below
os.environ["QT_QPA_PLATFORM"] = "xcb"

from tests.gui.conftest import errors, small_recording_file, window  # noqa: F401  (fixtures)


@pytest.fixture(autouse=True)
def _x_server() -> None:
    if not os.environ.get("DISPLAY"):
        pytest.skip("the 3D view tests need an X server: install xvfb (./run.sh test does)")
