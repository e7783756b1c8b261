"""Non-interactive runs of the real application, for the installer's checks.

``bmiss-gui --startup-time`` prints how long the window took to become interactive and exits;
``bmiss-gui --smoke-test OUT_DIR`` opens the demo in the real window, decomposes it through the
real worker thread with a small configuration, exports CSV, and exits 0 only when the CSV has
units. Both are hidden from ``--help``: they are for installer/smoke_test.sh and bench/startup.py.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from bmiss_engine import DecomposerConfig, DecompositionResult
from bmiss_gui.main_window import MainWindow
from bmiss_gui.paths import demo_mri, demo_recording

log = logging.getLogger(__name__)

READY_MARKER = "BMISS_READY"
# small enough to finish in well under a minute on a loaded 2-core machine
SMOKE_CONFIG = DecomposerConfig().replace(n_iterations=24, batch_size=8, window_s=(0.0, 10.0), device="cpu")
SMOKE_TIMEOUT_S = 300.0


def report_when_interactive(window: MainWindow, started: float, quit_after: bool) -> None:
    """Once the window is exposed and the event loop has nothing left to do, print
    ``BMISS_READY <seconds since started>`` (and quit, when asked)."""

    def check() -> None:
        handle = window.windowHandle()
        if handle is None or not handle.isExposed():
            QTimer.singleShot(10, check)
            return
        # a zero timer fires when the queue is empty: the first paint has been done
        QTimer.singleShot(0, ready)

    def ready() -> None:
        _say(f"{READY_MARKER} {time.perf_counter() - started:.3f}")
        if quit_after:
            QApplication.quit()

    QTimer.singleShot(0, check)


class SmokeTest(QObject):
    """Drives the window through open → decompose → export; ``exit_code`` when done."""

    def __init__(self, window: MainWindow, out_dir: Path, recording: Path | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.out_dir = out_dir
        self.recording = recording if recording is not None else demo_recording()
        self.csv_path = out_dir / f"{self.recording.stem}_units.csv"
        self.report: dict[str, object] = {"recording": str(self.recording), "frozen": bool(getattr(sys, "frozen", False))}
        self._t0 = time.perf_counter()
        # an error box would wait for a click that never comes: errors go into the report
        self.errors: list[str] = []
        window.show_error = self._record_error  # type: ignore[method-assign]
        window.runner.finished.connect(self._on_finished)
        window.runner.failed.connect(self._on_failed)
        self._timeout = QTimer(self)
        self._timeout.setSingleShot(True)
        self._timeout.timeout.connect(lambda: self._fail(f"no result after {SMOKE_TIMEOUT_S:.0f} s"))

    def start(self) -> None:
        QTimer.singleShot(0, self._open_and_decompose)

    def _open_and_decompose(self) -> None:
        if not self.window.open_file(self.recording):
            self._fail(f"could not open {self.recording}")
            return
        rec = self.window.session.recording
        assert rec is not None
        self.report["opened_s"] = round(time.perf_counter() - self._t0, 2)
        self.report["channels"] = rec.n_channels
        # the anatomy path too (nibabel, scikit-image and VTK in the bundle): the demo's MRI
        # placed under the grid and drawn in 3D
        if self.recording == demo_recording() and demo_mri().is_file():
            if not self.window.open_mri(demo_mri()):
                self._fail(f"could not open the demo MRI {demo_mri()}")
                return
            scene = self.window.anatomy_view.scene
            self.report["mri_tissues"] = sorted(scene.surfaces) if scene is not None else []
            self.report["view_3d"] = self.window.anatomy_view.plotter is not None
            self.report["mri_opened_s"] = round(time.perf_counter() - self._t0, 2)
        self._timeout.start(int(SMOKE_TIMEOUT_S * 1000))
        window_s = SMOKE_CONFIG.window_s
        config = SMOKE_CONFIG
        if window_s is not None and rec.duration_s < window_s[1]:
            config = dataclasses.replace(SMOKE_CONFIG, window_s=None)
        if not self.window.decompose(config):
            self._fail("Decompose did not start")

    def _on_finished(self, result: DecompositionResult) -> None:
        self._timeout.stop()
        # the window handles `finished` too (the session takes the result); let it, then export
        QTimer.singleShot(0, lambda: self._export(result))

    def _export(self, result: DecompositionResult) -> None:
        self.report["decomposed_s"] = round(time.perf_counter() - self._t0, 2)
        self.report["units_found"] = result.n_units
        self.window.grab().save(str(self.out_dir / "smoke_window.png"))
        if not self.window.export_to(self.csv_path):
            self._fail("export failed")
            return
        units = _units_in_csv(self.csv_path)
        self.report["csv"] = str(self.csv_path)
        self.report["units_in_csv"] = len(units)
        self.report["total_s"] = round(time.perf_counter() - self._t0, 2)
        if not units:
            self._fail("the exported CSV holds no units")
            return
        self._finish(0)

    def _record_error(self, title: str, message: str) -> None:
        log.error("%s: %s", title, message)
        self.errors.append(f"{title}: {message}")
        self.report["errors"] = self.errors

    def _on_failed(self, message: str) -> None:
        self._fail(f"decomposition failed: {message}")

    def _fail(self, reason: str) -> None:
        self.report["error"] = reason
        log.error("smoke test: %s", reason)
        self._finish(1)

    def _finish(self, code: int) -> None:
        self.report["passed"] = code == 0
        (self.out_dir / "smoke.json").write_text(json.dumps(self.report, indent=2), encoding="utf-8")
        _say(f"BMISS_SMOKE {'PASS' if code == 0 else 'FAIL'} {json.dumps(self.report)}")
        self.window.runner.shutdown()
        QApplication.exit(code)


def _say(line: str) -> None:
    """A line on standard output, the checks' result (a windowed Windows build has no stdout)."""
    if sys.stdout is not None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def _units_in_csv(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    with path.open(newline="", encoding="utf-8") as f:
        return {row["unit_id"] for row in csv.DictReader(f) if row.get("unit_id")}


def smoke_settings(out_dir: Path) -> QSettings:
    """Settings of its own, so a smoke run leaves the user's recent files and layout alone."""
    return QSettings(str(out_dir / "settings.ini"), QSettings.Format.IniFormat)
