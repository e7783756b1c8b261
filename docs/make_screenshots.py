"""Screenshots of the application on the demo recording, drawn offscreen.

    PYTHONPATH=. xvfb-run -a python docs/make_screenshots.py [--out docs/screenshots] [--only cylinder]

Opens ``resources/demo_recording.npz``, decomposes it as a user would (Decompose with the
default settings), saves the window while it runs and when it is done, in the light and the
dark theme; then the Grid placement dialog on the demo MRI; then the Decompose dialog set to
the cylindrical model with the limb from the demo MRI, and the 3D view after a hybrid run with
those settings (the cylinder fitted under the grid, units at their estimated radius, angle and
IZ); and the Batch dialog after a real batch of two short simulated recordings (in a temporary
folder). ``--only cylinder`` draws the two cylinder screenshots alone.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

# under an X server (xvfb-run) the 3D view draws; offscreen it shows a note instead
os.environ.setdefault("QT_QPA_PLATFORM", "xcb" if os.environ.get("DISPLAY") else "offscreen")

from PySide6.QtCore import QEventLoop, QSettings, QTimer
from PySide6.QtGui import QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QApplication

from bmiss_engine import DecomposerConfig
from bmiss_engine.io import write_npz
from bmiss_engine.simulate import SimulationConfig, simulate_recording
from bmiss_gui.dialogs.decompose import DecomposeDialog
from bmiss_gui.main_window import MainWindow
from bmiss_gui.scene import mri_cylinder
from bmiss_gui.theme import apply_theme

REPO = Path(__file__).resolve().parents[1]


def _wait(app: QApplication, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        time.sleep(0.005)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    parser.add_argument("--iterations", type=int, default=150)
    parser.add_argument("--method", default="hybrid", help="hybrid places the units in the 3D view")
    parser.add_argument("--only", choices=("cylinder",), help="draw these screenshots alone")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    app = QApplication(sys.argv[:1])
    apply_theme(app, "light")
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings)
    window.resize(1600, 980)
    window.show()
    _wait(app, 0.5)
    if args.only == "cylinder":
        if not window.open_demo():
            return 1
        window.docks["anatomy"].setFloating(window.views["anatomy"].plotter is not None)
        cylinder(app, window, out, args.iterations)
        window.files.ask_unsaved = lambda: "discard"
        window.close()
        print(f"wrote screenshots to {out}")
        return 0
    window.grab().save(str(out / "welcome.png"))  # the first-run panel, before anything is open
    if not window.open_demo():  # the demo recording and the MRI of its limb
        return 1
    window.docks["emg"].raise_()  # before a decomposition the channels are what there is to look at
    _wait(app, 0.5)
    window.grab().save(str(out / "opened.png"))
    window.docks["rates"].raise_()  # where the units arrive while it runs

    done: list[object] = []
    window.runner.finished.connect(done.append)
    window.runner.failed.connect(done.append)
    mid_saved = False
    # the settings the window holds: the demo MRI's skin and fat under the grid included
    window.decompose(window.config.replace(n_iterations=args.iterations, method=args.method))
    timer = QTimer()
    timer.start(50)
    while not done:
        _wait(app, 0.1)
        r = window.session.result
        if not mid_saved and r is not None and r.n_units >= 6:
            _wait(app, 0.3)
            window.grab().save(str(out / "decomposing.png"))
            mid_saved = True
    _wait(app, 0.5)
    result = window.session.result
    assert result is not None
    print(f"{result.n_units} units; provenance {result.provenance.get('wall_time_s', 0):.1f} s")

    # a review in progress: the cleanest unit selected, one unit flagged, one rejected
    units = sorted(result.units, key=lambda u: -u.sil)
    window.session.select((units[-1].unit_id,))
    window.action_by_name["reject"].trigger()
    window.session.select((units[-2].unit_id,))
    window.action_by_name["flag"].trigger()
    window.session.select((units[0].unit_id,))
    _wait(app, 0.5)
    window.grab().save(str(out / "main_window.png"))
    window.action_by_name["theme_dark"].trigger()
    _wait(app, 0.5)
    window.grab().save(str(out / "main_window_dark.png"))
    window.docks["emg"].raise_()
    _wait(app, 0.3)
    window.grab().save(str(out / "emg_dark.png"))
    window.action_by_name["theme_light"].trigger()
    view = window.views["anatomy"]
    if view.plotter is not None:
        # the 3D view on its own, larger: the limb, the grid on its skin, the units inside
        window.docks["anatomy"].setFloating(True)
        window.docks["anatomy"].resize(900, 700)
        _wait(app, 0.8)
        view.plotter.render()
        window.docks["anatomy"].grab().save(str(out / "anatomy_3d.png"))
        # floated once only: floating the VTK view a second time segfaulted here (Xvfb)
        grid_placement(app, window, out)
        cylinder(app, window, out, args.iterations)
        window.docks["anatomy"].setFloating(False)
    else:
        grid_placement(app, window, out)
        cylinder(app, window, out, args.iterations)
    _wait(app, 0.5)
    batch(app, window, out)
    window.files.ask_unsaved = lambda: "discard"  # the review edits are not worth a modal box
    window.close()
    print(f"wrote screenshots to {out}")
    return 0


def grid_placement(app: QApplication, window: MainWindow, out: Path) -> None:
    """View → Grid placement on the demo MRI, the grid turned onto the 8 mm fat region; under
    it the 3D view (when floated, as for anatomy_3d.png) showing the grid there."""
    dialog = window.grid_placement_dialog()
    if dialog is None:
        print("no MRI open: no grid placement screenshot")
        return
    dialog.angle.setValue(240.0)
    dialog.wait()
    _wait(app, 0.5)
    shot = dialog.grab()
    view, dock = window.views["anatomy"], window.docks["anatomy"]
    if view.plotter is not None and dock.isFloating():
        dock.resize(dialog.width(), 560)
        _wait(app, 0.8)
        view.plotter.render()
        _wait(app, 0.3)
        scene = dock.grab()
        # the dialog above the 3D view, on the window's background
        shot = QPixmap(max(scene.width(), dialog.width()), dialog.height() + scene.height())
        shot.fill(window.palette().color(QPalette.ColorRole.Window))
        painter = QPainter(shot)
        painter.drawPixmap(0, 0, dialog.grab())
        painter.drawPixmap(0, dialog.height(), scene)
        painter.end()
    shot.save(str(out / "grid_placement.png"))
    dialog.reject()  # the placement it started from, again
    _wait(app, 0.3)


def _decompose(app: QApplication, window: MainWindow, config: DecomposerConfig) -> None:
    """Run a decomposition of the open recording with ``config`` and wait for its end."""
    done: list[object] = []
    window.runner.finished.connect(done.append)
    window.runner.failed.connect(done.append)
    window.files.ask_unsaved = lambda: "discard"  # the review before it is not worth a modal box
    if not window.decompose(config):
        print("the decomposition did not start")
        return
    while not done:
        _wait(app, 0.1)
    _wait(app, 0.5)


def cylinder(app: QApplication, window: MainWindow, out: Path, iterations: int) -> None:
    """Decompose… set to the hybrid method with the cylindrical model and the limb fitted to the
    demo MRI under the grid (decompose_cylinder.png); then a run with those settings and the 3D
    view (floated, as for anatomy_3d.png): the cylinder's layers over the MRI and the units at
    their estimated radius, angle and IZ (anatomy_3d_cylinder.png)."""
    rec, anatomy = window.session.recording, window.anatomy
    limb = mri_cylinder(anatomy) if anatomy is not None else None
    if rec is None or limb is None:
        print("no MRI open (or no cylinder fits under the grid): no cylinder screenshots")
        return
    dialog = DecomposeDialog(window.config.replace(n_iterations=iterations), rec.duration_s, window, cylinder=limb)
    dialog.method.setCurrentIndex(dialog.method.findData("hybrid"))
    dialog.forward_model.setCurrentIndex(dialog.forward_model.findData("cylindrical"))
    dialog.limb.setCurrentIndex(dialog.limb.findData("mri"))
    dialog.show()
    _wait(app, 0.5)
    dialog.grab().save(str(out / "decompose_cylinder.png"))
    config = dialog.config()
    dialog.reject()
    view, dock = window.views["anatomy"], window.docks["anatomy"]
    if view.plotter is None or not dock.isFloating():
        print("no 3D view (run under xvfb-run): no anatomy_3d_cylinder.png")
        return
    _decompose(app, window, config)
    result = window.session.result
    print(f"cylindrical hybrid: {0 if result is None else result.n_units} units")
    dock.resize(900, 700)
    _wait(app, 0.8)
    view.plotter.render()
    _wait(app, 0.3)
    dock.grab().save(str(out / "anatomy_3d_cylinder.png"))


def batch(app: QApplication, window: MainWindow, out: Path) -> None:
    """File → Batch decompose… after a real run over two short simulated recordings."""
    study = Path(tempfile.mkdtemp(prefix="bmiss-")) / "study"
    study.mkdir()
    for seed, name in enumerate(("sub-01_ramp.npz", "sub-02_ramp.npz")):
        rec, _ = simulate_recording(SimulationConfig(n_units=8, duration_s=6.0, ramp_s=1.5, grid_shape=(8, 8),
                                                     missing_corner=False, seed=seed))
        write_npz(rec, study / name)
    window.config = DecomposerConfig().replace(n_iterations=20, batch_size=8, extension_factor=8, device="cpu")
    window.action_by_name["batch"].trigger()
    dialog = window.batch
    assert dialog is not None
    dialog.add_inputs([study])
    dialog.set_output(study.parent / "results")
    dialog.workers.setValue(1)
    if not dialog.start():
        print(f"the batch did not start: {dialog.status.text()}")
        return
    end = time.perf_counter() + 600
    while dialog.runner.is_running and time.perf_counter() < end:
        _wait(app, 0.2)
    dialog.table.selectRow(0)
    _wait(app, 0.5)
    dialog.grab().save(str(out / "batch.png"))
    print(f"batch: {dialog.status.text()}")
    dialog.close()


if __name__ == "__main__":
    sys.exit(main())
