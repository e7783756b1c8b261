"""Entry point of the standalone bundle.

    BMISS [FILE]                        the desktop application (optionally opening FILE)
    BMISS decompose|simulate|info ...   the engine's command line, as ``bmiss`` in a venv

Kept outside the packages: PyInstaller starts the bundle from this script.
"""

from __future__ import annotations

import multiprocessing
import sys


def main() -> int:
    # a frozen program that starts worker processes (dask, torch's DataLoader) re-enters here
    multiprocessing.freeze_support()
    args = sys.argv[1:]
    from bmiss_gui.launcher import CLI_COMMANDS

    if args and args[0] in CLI_COMMANDS:
        from bmiss_engine import cli

        return cli.main(args)
    from bmiss_gui.app import main as gui_main

    return gui_main(args)


if __name__ == "__main__":
    sys.exit(main())
