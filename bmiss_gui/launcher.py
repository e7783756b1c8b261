"""The ``bmiss`` console script: with no arguments it opens the desktop application (when
PySide6 is installed), otherwise it is the engine's command line.

This lives in the GUI package because the engine must never import the GUI; it imports no Qt
itself, so the command line keeps working on machines without PySide6.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence

# first arguments that mean the engine's command line (the standalone bundle's entry point,
# installer/bmiss_main.py, sends everything else to the desktop application)
CLI_COMMANDS = ("decompose", "simulate", "info", "batch", "export")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args and importlib.util.find_spec("PySide6") is not None:
        from bmiss_gui.app import main as gui_main

        return gui_main([])
    from bmiss_engine import cli

    return cli.main(args)


if __name__ == "__main__":
    sys.exit(main())
