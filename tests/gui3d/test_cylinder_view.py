"""The cylinder in the 3D view: its layers are drawn over the MRI (pixels change where its
tube ends project), and units with the cylindrical model's θ sit where the cylinder puts them."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyvista")

from bmiss_engine import DecomposerConfig, DecompositionResult, MotorUnit
from bmiss_engine.anatomy import demo_anatomy_paths
from bmiss_gui.scene import mri_cylinder


def _display(view, point: np.ndarray) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    renderer = view.plotter.renderer
    renderer.SetWorldPoint(float(point[0]), float(point[1]), float(point[2]), 1.0)
    renderer.WorldToDisplay()
    x, y, _ = renderer.GetDisplayPoint()
    return x, y


def test_the_cylinder_is_drawn_over_the_mri(window, small_recording_file, qtbot) -> None:  # type: ignore[no-untyped-def]
    assert window.open_file(small_recording_file)
    assert window.open_mri(demo_anatomy_paths().labels)
    view = window.views["anatomy"]
    window.docks["anatomy"].raise_()
    assert view.plotter is not None, view.note.text()
    cylinder = mri_cylinder(window.anatomy)
    assert cylinder is not None
    names = [f"cylinder_{layer}" for layer in ("bone", "muscle", "fat", "skin")]
    for name in names:
        assert name in view.plotter.actors
        assert f"{name}_rims" in view.plotter.actors

    # units of the cylindrical model: spheres at radius muscle − depth, at their arc's angle
    fs, n = 2048.0, 2048
    thetas = [(3.0, -8.0, -10.0, 200.0), (10.0, 6.0, 4.0, 900.0)]
    units = tuple(MotorUnit(i, np.arange(60 + 9 * i, n, 200, dtype=np.int64), np.zeros(n, np.float32), fs,
                            theta={"depth_mm": d, "ml_mm": ml, "iz_mm": iz, "n_fibres": nf})
                  for i, (d, ml, iz, nf) in enumerate(thetas))
    config = DecomposerConfig().replace(method="hybrid", forward_model="cylindrical")
    window.session.finish_decomposition(DecompositionResult(units, fs, n, config=config.as_dict()))
    qtbot.waitUntil(lambda: sorted(view.unit_actors) == [0, 1], timeout=10000)
    for uid, (d, ml, iz, _nf) in enumerate(thetas):
        assert np.allclose(view.unit_points[uid], cylinder.to_world(d, ml, iz)[0])

    view.plotter.render()
    with_cylinder = view.plotter.screenshot(None, return_img=True).astype(int)
    for name in names:
        view.plotter.actors[name].SetVisibility(False)
        view.plotter.actors[f"{name}_rims"].SetVisibility(False)
    view.plotter.render()
    without = view.plotter.screenshot(None, return_img=True).astype(int)
    changed = np.abs(with_cylinder - without).sum(axis=2) > 30
    assert changed.sum() > 500  # the tubes and their rims change a good part of the picture
    # the change lies where the skin tube's rims project: around the limb at both ends of the grid
    skin_vertices = view.scene.cylinder["skin"][0]
    height = with_cylinder.shape[0]
    hits = []
    for point in skin_vertices[:: max(1, len(skin_vertices) // 32)]:
        x, y = _display(view, point)
        row, col = round(height - 1 - y), round(x)
        near = changed[max(0, row - 3) : row + 4, max(0, col - 3) : col + 4]
        hits.append(bool(near.any()))
    assert np.mean(hits) > 0.7, hits
    # and nowhere far from the cylinder: outside the box around its projected vertices
    every = np.concatenate([v for v, _f in view.scene.cylinder.values()])
    xy = np.array([_display(view, p) for p in every])
    rows, cols = np.nonzero(changed)
    inside = ((cols >= xy[:, 0].min() - 5) & (cols <= xy[:, 0].max() + 5)
              & (height - 1 - rows >= xy[:, 1].min() - 5) & (height - 1 - rows <= xy[:, 1].max() + 5))
    assert inside.mean() > 0.99
