"""GUI tests drive the real main window offscreen (QT_QPA_PLATFORM=offscreen)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from bmiss_engine import Decomposer, DecomposerConfig, DecompositionResult
from bmiss_engine.device import cpu_threads, set_cpu_threads
from bmiss_engine.io import write_npz
from bmiss_engine.simulate import SimulationConfig, simulate_recording

# every GUI test module starts with require_gui(): without the GUI extra its tests are
# skipped with this reason instead of failing on an import
GUI_MISSING = "GUI tests need PySide6, pyqtgraph and pytest-qt: pip install -e '.[gui,test]'"


def require_gui() -> None:
    for module in ("PySide6", "pyqtgraph", "pytestqt"):
        pytest.importorskip(module, reason=GUI_MISSING)


# small enough for a 2-core machine: 32 channels, 3 s, a short extension; finds ~6 units in seconds
SMALL_CONFIG = DecomposerConfig().replace(n_iterations=32, batch_size=8, extension_factor=8, device="cpu")


@pytest.fixture(scope="session")
def small_recording_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    recording, _ = simulate_recording(SimulationConfig(
        n_units=6, duration_s=3.0, ramp_s=0.5, grid_shape=(8, 4), missing_corner=False, seed=1,
    ))
    path = tmp_path_factory.mktemp("data") / "small.npz"
    write_npz(recording, path)
    return path


@pytest.fixture(scope="session")
def small_result(small_recording_file: Path) -> DecompositionResult:
    """The decomposition of the small recording, computed once for the review tests."""
    from bmiss_engine.io import open_recording

    result = Decomposer(SMALL_CONFIG).run(open_recording(small_recording_file))
    assert result.n_units >= 3
    return result


@pytest.fixture
def errors(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Records every error box instead of showing it (a modal box would block the test)."""
    from PySide6.QtWidgets import QMessageBox

    shown: list[tuple[str, str]] = []

    def critical(_parent: object, title: str, text: str, *args: object, **kwargs: object) -> QMessageBox.StandardButton:
        shown.append((title, text))
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "critical", staticmethod(critical))
    return shown


@pytest.fixture(autouse=True)
def recovery_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Autosaves of the tests go under tmp_path, never into the user's recovery folder."""
    folder = tmp_path / "recovery"
    monkeypatch.setenv("BMISS_RECOVERY_DIR", str(folder))
    return folder


@pytest.fixture
def window(qtbot, tmp_path: Path, errors: list[tuple[str, str]]):  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QSettings

    from bmiss_gui.main_window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings)
    # closing with unsaved edits would ask Save/Discard/Cancel in a modal box: the tests answer
    w.files.ask_unsaved = lambda: "discard"
    qtbot.addWidget(w)
    w.show()
    threads = cpu_threads()
    yield w
    w.runner.shutdown()
    set_cpu_threads(threads)  # a run leaves a core to the GUI; later (engine) tests get theirs back


@pytest.fixture(scope="module")
def scheduler():  # type: ignore[no-untyped-def]
    """A Dask scheduler in this process (one worker thread) for the batch tests."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0",
                                  scheduler_kwargs={"dashboard": False}) as cluster:
        yield cluster.scheduler_address
