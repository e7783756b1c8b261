"""Tissue surfaces: closed, outward, in world mm, within the face budget."""

from __future__ import annotations

import numpy as np

from bmiss_engine.anatomy import SURFACE_TISSUES, LabelMap, make_phantom, tissue_surfaces


def test_surfaces_enclose_their_tissues() -> None:
    _, labels = make_phantom((100, 88, 24), (0.8, 0.8, 2.0))
    turned = labels.affine.copy()
    turned[:3, :3] = np.diag([1.0, -1.0, 1.0]) @ turned[:3, :3]  # a left-handed affine must stay outward
    for label_map in (labels, LabelMap(labels.labels, turned)):
        surfaces = tissue_surfaces(label_map, max_faces=20_000)
        assert set(surfaces) == set(SURFACE_TISSUES)
        assert sum(s.n_faces for s in surfaces.values()) <= 20_000
        voxel_mm3 = float(np.prod(label_map.voxel_size_mm))
        for name, surface in surfaces.items():
            assert surface.vertices.dtype == np.float32
            assert surface.faces.dtype == np.int32
            assert surface.faces.max() < surface.vertices.shape[0]
            truth = np.isin(label_map.labels, [int(t) for t in SURFACE_TISSUES[name]]).sum() * voxel_mm3
            assert abs(surface.enclosed_volume_mm3() / truth - 1) < 0.05, name
    skin = tissue_surfaces(labels, tissues=("skin",))["skin"]
    radius = np.hypot(skin.vertices[:, 0], skin.vertices[:, 1])
    assert radius.max() < 36 * 1.06 + 1.0  # world mm: the phantom's ellipse, not voxel indices
