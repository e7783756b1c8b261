"""Where the files BMISS ships are: the demo recording, the demo MRI and the surrogate weights
(``resources/`` in the repository) and the user guide with its screenshots (``docs/``).

A wheel installs the two folders as the data packages ``bmiss_resources`` and ``bmiss_docs``
(``package-dir`` in pyproject.toml maps them, so an editable install reads the repository's own
folders); the standalone bundle keeps them as folders beside the program (``sys._MEIPASS``).
:func:`bundled_path` is the one place that knows this.
"""

from __future__ import annotations

import importlib.resources
import sys
from pathlib import Path
from typing import Literal

from bmiss_engine.errors import BmissError

BundledFolder = Literal["resources", "docs"]

_PACKAGES: dict[str, str] = {"resources": "bmiss_resources", "docs": "bmiss_docs"}


def bundled_path(folder: BundledFolder, *parts: str) -> Path:
    """The path of a shipped file or folder, e.g. ``bundled_path("resources", "surrogate", "surrogate.pt")``.

    The path is computed, not checked: a stripped installation may lack the file, and callers
    that can do without it (the GUI's demo, its help) test ``is_file()`` first.
    """
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle, folder, *parts)
    try:
        root = importlib.resources.files(_PACKAGES[folder])
    except ModuleNotFoundError:
        # the engine imported from a source tree that was never installed (PYTHONPATH=.):
        # the folders lie beside the package
        root = Path(__file__).resolve().parents[1] / folder
    if not isinstance(root, Path):  # a zipped installation: pip never makes one
        raise BmissError(f"BMISS's {folder} are not on the file system ({root})")
    return root.joinpath(*parts)
