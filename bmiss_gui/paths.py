"""The application's bundled files: the demo recording and MRI, the user guide. They are found
by the engine's :func:`~bmiss_engine.resources.bundled_path` (an installed package, an editable
install of the repository or the standalone bundle alike)."""

from __future__ import annotations

from pathlib import Path

from bmiss_engine.resources import bundled_path


def demo_recording() -> Path:
    """The demo recording shipped with the application (it may be absent from a stripped install)."""
    return bundled_path("resources", "demo_recording.npz")


def demo_mri() -> Path:
    """The demo limb's tissue labels (the demo recording was simulated on this anatomy)."""
    return bundled_path("resources", "demo_mri", "demo_labels.nii.gz")


def user_guide() -> Path:
    """The user guide (Markdown); its screenshots lie in ``screenshots/`` beside it."""
    return bundled_path("docs", "user_guide.md")
