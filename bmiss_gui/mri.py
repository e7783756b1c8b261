"""The subject's MRI behind the 3D view: read it (label map or T1 image), place the grid on the
skin, mesh the tissues; then the scene the view draws and the layer thicknesses the forward
model takes. All of it engine work on immutable values, run off the GUI thread."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bmiss_engine import ElectrodeGrid
from bmiss_engine.anatomy import (
    GridPlacement,
    LabelMap,
    PlacedGrid,
    Surface,
    load_grid_placement,
    load_label_map,
    load_volume,
    place_grid,
    segment_t1,
    tissue_surfaces,
)
from bmiss_gui.views.anatomy3d import Scene

# a volume with at most this many distinct integer values is a label map, not an image
_MAX_LABEL_VALUES = 16
PLACEMENT_NAMES = ("grid_placement.json",)


@dataclass(frozen=True)
class LoadedAnatomy:
    """An MRI read and prepared for one recording's grid."""

    source: Path
    label_map: LabelMap
    placed: PlacedGrid
    surfaces: dict[str, Surface]
    segmented: bool  # the tissues came from segment_t1 (a T1 image), not a label map

    @property
    def skin_mm(self) -> float:
        return float(self.placed.mean_skin_mm)

    @property
    def fat_mm(self) -> float:
        return float(self.placed.mean_fat_mm)

    def scene(self) -> Scene:
        origin = "T1 segmented" if self.segmented else "label map"
        title = (f"{self.source.name} ({origin}): skin {self.skin_mm:.1f} mm, fat {self.fat_mm:.1f} mm "
                 "under the grid")
        return Scene(
            {name: (s.vertices, s.faces) for name, s in self.surfaces.items()},
            np.asarray(self.placed.electrode_world_mm, dtype=np.float64),
            self.placed.grid_to_world,
            title,
            tuple(int(c) for c in self.placed.grid.bad_channels),
        )


def placement_beside(path: Path) -> Path | None:
    """A grid placement saved next to the MRI (``grid_placement.json`` or
    ``<stem>_grid_placement.json``), if there is one."""
    folder = path if path.is_dir() else path.parent
    stem = path.name.split(".")[0]
    for candidate in (folder / f"{stem}_grid_placement.json", *(folder / n for n in PLACEMENT_NAMES)):
        if candidate.is_file():
            return candidate
    return None


def placement_file_for(path: Path) -> Path:
    """Where a placement saved beside the MRI goes: the file :func:`placement_beside` reads
    first, when there is one, else ``grid_placement.json`` in the MRI's folder."""
    existing = placement_beside(path)
    if existing is not None:
        return existing
    folder = path if path.is_dir() else path.parent
    return folder / PLACEMENT_NAMES[0]


def save_placement_beside(path: Path, placement: GridPlacement) -> Path:
    """Write ``placement`` next to the MRI at ``path`` (see :func:`placement_file_for`) in the
    JSON form :func:`bmiss_engine.anatomy.load_grid_placement` reads, replacing the file at
    once (a temporary file beside it, then a rename). Returns the file; raises OSError."""
    target = placement_file_for(path)
    text = json.dumps(placement.as_dict(), indent=2) + "\n"
    with tempfile.NamedTemporaryFile("w", dir=target.parent, prefix=".grid_placement-", suffix=".json",
                                     delete=False, encoding="utf-8") as f:
        f.write(text)
    try:
        # the temporary file is private (0600): the placement gets the old file's mode, or rw-r--r--
        os.chmod(f.name, target.stat().st_mode & 0o777 if target.exists() else 0o644)
        os.replace(f.name, target)
    except OSError:
        Path(f.name).unlink(missing_ok=True)
        raise
    return target


def is_label_map(data: np.ndarray) -> bool:
    """Whether a volume holds labels: few distinct values, all integers."""
    sample = np.asarray(data).ravel()[:: max(1, np.asarray(data).size // 200_000)]
    values = np.unique(sample)
    return values.size <= _MAX_LABEL_VALUES and bool(np.all(values == np.round(values)))


def load_anatomy(path: str | Path, grid: ElectrodeGrid, placement: GridPlacement | None = None) -> LoadedAnatomy:
    """Read an MRI (a NIfTI label map or T1 image, or a DICOM series folder), segment it when
    it is an image, place ``grid`` on its skin (``placement``, else one saved beside the
    file, else the default) and mesh the tissues. Raises the engine's errors."""
    path = Path(path)
    volume = load_volume(path)
    segmented = not is_label_map(volume.data)
    label_map = segment_t1(volume) if segmented else load_label_map(path)
    if placement is None:
        saved = placement_beside(path)
        placement = load_grid_placement(saved) if saved is not None else GridPlacement()
    placed = place_grid(label_map, grid, placement)
    return LoadedAnatomy(path, label_map, placed, tissue_surfaces(label_map), segmented)
