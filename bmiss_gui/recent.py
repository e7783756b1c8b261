"""Recently opened files and the folder file dialogs start in, remembered in the settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMenu

MAX_RECENT = 8


class RecentFiles:
    """The recent-files list (newest first, at most :data:`MAX_RECENT`) and the last folder."""

    def __init__(self, settings: QSettings) -> None:
        self._settings = settings

    def paths(self) -> list[str]:
        value = self._settings.value("recent_files", [])
        if isinstance(value, str):  # QSettings returns a lone string for a one-item list
            return [value]
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else []

    def remember(self, path: Path) -> None:
        """``path`` first in the list; its folder is where the next file dialog starts."""
        resolved = str(path.resolve())
        recent = [resolved] + [p for p in self.paths() if p != resolved]
        self._settings.setValue("recent_files", recent[:MAX_RECENT])
        self._settings.setValue("last_folder", str(path.resolve().parent))

    def last_folder(self) -> str:
        return str(self._settings.value("last_folder", str(Path.home())))

    def fill_menu(self, menu: QMenu, open_file: Callable[[str], object]) -> None:
        """One entry per recent file (its path as the action's data), "(none)" without any."""
        menu.clear()
        paths = self.paths()
        for path in paths:
            action = menu.addAction(path)
            action.setData(path)
            action.triggered.connect(lambda _checked=False, p=path: open_file(p))
        if not paths:
            menu.addAction("(none)").setEnabled(False)
