"""``bmiss-gui [FILES]``: start the desktop application, optionally opening a recording."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from PySide6.QtWidgets import QApplication, QMessageBox

from bmiss_engine import __version__
from bmiss_gui import STARTED_AT
from bmiss_gui.main_window import MainWindow

log = logging.getLogger(__name__)


def _report_unexpected(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    """Last resort for a bug in a slot: log the traceback, show the user one sentence, and keep
    the application running (PySide would otherwise print and carry on silently)."""
    log.error("unexpected error", exc_info=(kind, value, tb))
    app = QApplication.instance()
    if isinstance(app, QApplication):
        QMessageBox.critical(app.activeWindow(), "Unexpected error",
                             f"{kind.__name__}: {value}\n\nThe details are in the log.")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bmiss-gui", description="BMISS desktop application")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("files", nargs="*", help="recording or session (.bmiss) to open (the first one)")
    parser.add_argument("--mri", help="the limb's MRI (NIfTI label map or T1 image, or a DICOM folder), "
                        "placed under the recording's grid")
    parser.add_argument("-v", "--verbose", action="store_true", help="log engine steps")
    # checks of an installation (installer/smoke_test.sh, bench/startup.py), not for users
    parser.add_argument("--startup-time", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--smoke-test", metavar="OUT_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("BMISS")
    app.setOrganizationName("BMISS")
    sys.excepthook = _report_unexpected

    if args.smoke_test:
        from bmiss_gui.selfcheck import SmokeTest, smoke_settings

        out = Path(args.smoke_test)
        out.mkdir(parents=True, exist_ok=True)
        window = MainWindow(smoke_settings(out))
        window.show()
        SmokeTest(window, out, Path(args.files[0]) if args.files else None).start()
        return int(app.exec())

    window = MainWindow()
    window.show()
    if args.startup_time:
        from bmiss_gui.selfcheck import report_when_interactive

        report_when_interactive(window, STARTED_AT, quit_after=True)
    # work a crashed session left in the recovery folder comes first (it asks)
    restored = False if args.startup_time else window.autosave.offer_recovery()
    if args.files and not restored and window.open_file(args.files[0]) and args.mri:
        window.open_mri(args.mri)
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
