"""Decomposition runs from the window: the settings dialog, starting and cancelling a run, the
progress, time left and device in the status bar, and what the session does with each
snapshot and with the end of the run (its result, the units kept on cancel, or a failure).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtWidgets import QDialog, QLabel, QProgressBar, QPushButton, QStatusBar, QWidget

from bmiss_engine import BmissError, DecomposerConfig, DecompositionResult, IterationState
from bmiss_engine.device import describe_device, pick_device
from bmiss_gui.dialogs.decompose import DecomposeDialog
from bmiss_gui.session import Session
from bmiss_gui.warmup import EngineWarmup
from bmiss_gui.worker import DecompositionRunner

if TYPE_CHECKING:
    from bmiss_gui.mri import LoadedAnatomy


class RunHost(Protocol):
    """What a run needs of the window: the settings (a run keeps those it was started with),
    the subject's MRI (its limb under the grid is offered to the cylindrical model) and a way
    to tell the user."""

    config: DecomposerConfig

    @property
    def anatomy(self) -> LoadedAnatomy | None: ...

    def show_error(self, title: str, message: str) -> None: ...

    def show_message(self, text: str, timeout_ms: int) -> None: ...


class RunControl(QObject):
    """Runs decompositions of the session's recording with ``runner``; its status widgets go
    into ``bar``. ``warmup`` loads the decomposer in the background after the first paint."""

    def __init__(self, host: RunHost, session: Session, runner: DecompositionRunner, parent: QWidget,
                 bar: QStatusBar) -> None:
        super().__init__(parent)
        self._host, self._session, self._runner, self._parent = host, session, runner, parent
        self.device_label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setFixedWidth(220)
        self.progress.setFormat("%v / %m")
        self.eta_label = QLabel("")
        self.eta_label.setFixedWidth(230)  # changing text must not re-layout the window
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        for w in (self.progress, self.eta_label, self.cancel_button):
            w.ensurePolished()  # style-sheet work now, not when the first run starts
            w.hide()
        # room for the Cancel button from the start: a status bar that grows when a run
        # starts would re-layout, and repaint, every view
        bar.setMinimumHeight(self.cancel_button.sizeHint().height() + 8)
        for w in (self.eta_label, self.progress, self.cancel_button, self.device_label):
            bar.addPermanentWidget(w)
        # named once the decomposer is loaded in the background (bmiss_gui/warmup.py)
        self.device_label.setText("Device: …")
        self.warmup = EngineWarmup(self)
        self.warmup.device_ready.connect(lambda _name: self.show_device(host.config.device))
        QTimer.singleShot(300, self.warmup.start)  # after the first paint
        runner.snapshot.connect(self._on_snapshot)
        runner.finished.connect(self._on_finished)
        runner.cancelled.connect(self._on_cancelled)
        runner.failed.connect(self._on_failed)
        runner.running_changed.connect(self._on_running_changed)

    def ask_settings(self) -> DecomposerConfig | None:
        """The settings of a run, asked in the dialog (starting from the window's); None when
        cancelled, invalid (after a message) or when no run can start now."""
        rec = self._session.recording
        if rec is None or self._runner.is_running:
            return None
        anatomy = self._host.anatomy
        cylinder = None
        if anatomy is not None:
            from bmiss_gui.scene import mri_cylinder

            cylinder = mri_cylinder(anatomy)
        dialog = DecomposeDialog(self._host.config, rec.duration_s, self._parent, cylinder=cylinder)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        try:
            return dialog.config()
        except BmissError as exc:
            self._host.show_error("Invalid settings", str(exc))
            return None

    def start(self, config: DecomposerConfig) -> bool:
        """Start a decomposition of the open recording with ``config``."""
        rec = self._session.recording
        if rec is None or self._runner.is_running:
            return False
        self._host.config = config
        self._session.begin_decomposition(config.window_s)
        self.progress.setRange(0, config.separation.n_iterations)
        self.progress.setValue(0)
        self.eta_label.setText("preparing…")
        self.show_device(config.device)
        self._runner.start(config, rec)
        return True

    @Slot()
    def cancel(self) -> None:
        if self._runner.is_running:
            self.eta_label.setText("cancelling…")
            self._runner.cancel()

    @Slot(object)
    def _on_snapshot(self, state: IterationState) -> None:
        self.progress.setMaximum(state.total)
        self.progress.setValue(state.iteration)
        self.eta_label.setText(eta_text(state))
        self._session.show_progress(state)

    @Slot(object)
    def _on_finished(self, result: DecompositionResult) -> None:
        self._session.finish_decomposition(result)
        device = result.provenance.get("device", "")
        if device:
            self.device_label.setText(f"Device: {device}")
        left_out = result.provenance.get("channels_left_out") or {}
        by_reason: dict[str, list[str]] = {}
        for channel, why in left_out.items():
            by_reason.setdefault(why, []).append(str(channel))
        note = "".join(f"; channel{'s' if len(chs) > 1 else ''} {', '.join(chs)} left out ({why})"
                       for why, chs in by_reason.items())
        self._host.show_message(
            f"{result.n_units} motor units in {result.provenance.get('wall_time_s', 0):.1f} s{note}", 15000 if note else 8000)

    @Slot(object)
    def _on_cancelled(self, state: IterationState | None) -> None:
        self._session.keep_partial(state)
        n = self._session.result.n_units if self._session.result is not None else 0
        self._host.show_message(f"Cancelled: kept the {n} units found so far", 8000)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._session.abandon_decomposition()
        self._host.show_error("The decomposition failed", message)

    @Slot(bool)
    def _on_running_changed(self, running: bool) -> None:
        for w in (self.progress, self.eta_label, self.cancel_button):
            w.setVisible(running)

    def show_device(self, requested: str) -> None:
        """The device a run with this setting will use ("auto" resolved), named as the engine does."""
        try:
            name = describe_device(pick_device(requested))
        except BmissError:
            name = f"{requested} (not available)"
        self.device_label.setText(f"Device: {name}")


def eta_text(state: IterationState) -> str:
    """The status bar's line for a snapshot: units found, and an upper bound on the time left."""
    units = f"{len(state.units)} units"
    if state.phase != "separating" or state.iteration == 0:
        return f"{state.message or state.phase} · {units}"
    # the search may stop early (no new units), so this is an upper bound
    rate = state.elapsed_s / state.iteration
    remaining = rate * (state.total - state.iteration)
    return f"{units} · ≤ {remaining:.0f} s left"
