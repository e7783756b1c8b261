"""MRI anatomy: from a limb MRI to the forward model's layers under the grid, and to a 3D scene.

* ``volume``: :class:`Volume` (image) and :class:`LabelMap` (canonical :class:`Tissue` codes),
  NIfTI / DICOM loading (:func:`load_volume`, :func:`load_label_map`), :func:`check_aligned`;
* ``dicom``: DICOM series reading (and writing, for tests and phantoms);
* ``segmentation``: :func:`segment_t1`, labels from a T1-weighted image;
* ``limb``: the limb axis and the skin's cross-sections;
* ``placement``: :class:`GridPlacement`, :func:`place_grid` → :class:`PlacedGrid` (layers under
  each electrode, :class:`~bmiss_engine.forward.AnatomyParameters`, unit positions ↔ world);
* ``cylinder``: :func:`cylinder_under_grid` → :class:`LimbCylinder`, the cylindrical forward
  model's radii and layers under the grid;
* ``surfaces``: :func:`tissue_surfaces`, meshes for display as plain arrays;
* ``phantom``: :func:`make_phantom` (a limb with known anatomy) and the bundled demo.

All positions are world mm (RAS+, as nibabel reads NIfTI). Imports no GUI toolkit.
"""

from bmiss_engine.anatomy.cylinder import LimbCylinder, cylinder_under_grid
from bmiss_engine.anatomy.dicom import read_dicom_series, write_dicom_series
from bmiss_engine.anatomy.limb import LimbFrame
from bmiss_engine.anatomy.phantom import (
    REGION_CENTRES_DEG,
    DemoAnatomyPaths,
    PhantomGeometry,
    demo_anatomy_paths,
    make_demo_phantom,
    make_phantom,
)
from bmiss_engine.anatomy.placement import (
    GridPlacement,
    PlacedGrid,
    load_grid_placement,
    place_grid,
    unit_positions_world,
)
from bmiss_engine.anatomy.segmentation import dice, segment_t1
from bmiss_engine.anatomy.surfaces import SURFACE_TISSUES, Surface, tissue_surfaces
from bmiss_engine.anatomy.volume import (
    LabelMap,
    Tissue,
    TissueLabels,
    Volume,
    check_aligned,
    load_label_map,
    load_volume,
    save_nifti,
)
from bmiss_engine.errors import AnatomyError

__all__ = [
    "REGION_CENTRES_DEG",
    "SURFACE_TISSUES",
    "AnatomyError",
    "DemoAnatomyPaths",
    "GridPlacement",
    "LabelMap",
    "LimbCylinder",
    "LimbFrame",
    "PhantomGeometry",
    "PlacedGrid",
    "Surface",
    "Tissue",
    "TissueLabels",
    "Volume",
    "check_aligned",
    "cylinder_under_grid",
    "demo_anatomy_paths",
    "dice",
    "load_grid_placement",
    "load_label_map",
    "load_volume",
    "make_demo_phantom",
    "make_phantom",
    "place_grid",
    "read_dicom_series",
    "save_nifti",
    "segment_t1",
    "tissue_surfaces",
    "unit_positions_world",
    "write_dicom_series",
]
