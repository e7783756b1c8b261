"""Loading the decomposer (torch, SciPy's statistics: seconds on a small machine) in the
background once the window is up, so the window appears first and the first Decompose does
not wait for the imports either. Reports the device an "auto" run will use."""

from __future__ import annotations

import contextlib
import logging
import threading

from PySide6.QtCore import QObject, Qt, Signal, Slot

log = logging.getLogger(__name__)


class EngineWarmup(QObject):
    """``start()`` imports the decomposer in a thread; ``device_ready(name)`` follows (queued
    into the GUI thread), with the engine's name for the "auto" device."""

    device_ready = Signal(str)
    # emitted in the loading thread; queued, so device_ready (and whatever listens to it, which
    # may touch widgets) always runs in the GUI thread
    _loaded = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: threading.Thread | None = None
        self.device_name: str | None = None
        self._loaded.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    def start(self) -> None:
        if self._thread is None:
            # not a daemon: the interpreter waits for it at exit instead of tearing torch
            # down in the middle of its import
            self._thread = threading.Thread(target=self._run, name="bmiss-engine-warmup")
            self._thread.start()

    def wait(self, timeout_s: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout_s)
            return not self._thread.is_alive()
        return True

    def _run(self) -> None:
        try:
            from bmiss_engine import BmissError, Decomposer  # noqa: F401 - loading Decomposer is the point
            from bmiss_engine.device import describe_device, pick_device

            try:
                name = describe_device(pick_device("auto"))
            except BmissError as exc:
                name = f"auto ({exc})"
        except Exception:  # a failed warm-up must not take the application down
            log.exception("loading the decomposer in the background failed")
            name = "auto"
        with contextlib.suppress(RuntimeError):  # the window (this object's parent) was closed meanwhile
            self._loaded.emit(name)

    @Slot(str)
    def _deliver(self, name: str) -> None:
        self.device_name = name
        self.device_ready.emit(name)
