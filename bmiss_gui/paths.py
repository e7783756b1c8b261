"""Where the application's bundled files are: the repository root when run from the source
tree, the bundle's folder (``sys._MEIPASS``) when run as the standalone application.

Both have the same layout (``resources/``, ``docs/``), so the rest of the code asks here and
never needs to know which one it runs from.
"""

from __future__ import annotations

import sys
from pathlib import Path


def app_root() -> Path:
    """The folder holding ``resources/`` and ``docs/``."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle)
    return Path(__file__).resolve().parents[1]


def resources_dir() -> Path:
    return app_root() / "resources"


def docs_dir() -> Path:
    return app_root() / "docs"


def demo_recording() -> Path:
    """The demo recording shipped with the application (it may be absent from a stripped install)."""
    return resources_dir() / "demo_recording.npz"


def demo_mri() -> Path:
    """The demo limb's tissue labels (the demo recording was simulated on this anatomy)."""
    return resources_dir() / "demo_mri" / "demo_labels.nii.gz"


def user_guide() -> Path:
    return docs_dir() / "user_guide.md"
