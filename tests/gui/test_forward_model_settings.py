"""The Decompose dialog's forward model: planar (analytic or surrogate) or cylindrical, the
cylinder's limb (a default forearm or thigh, or the subject's from the MRI under the grid) and
a grid wrapped around the limb; the choice goes into the run's settings and is kept."""

from __future__ import annotations

from tests.gui.conftest import require_gui

require_gui()

from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialog

from bmiss_engine import DecomposerConfig
from bmiss_engine.anatomy import demo_anatomy_paths
from bmiss_engine.config import LIMB_PRESETS
from bmiss_gui.dialogs.decompose import DecomposeDialog
from bmiss_gui.scene import mri_cylinder


def _choose(dialog: DecomposeDialog, method: str, model: str, limb: str | None = None) -> None:
    dialog.method.setCurrentIndex(dialog.method.findData(method))
    dialog.forward_model.setCurrentIndex(dialog.forward_model.findData(model))
    if limb is not None:
        index = dialog.limb.findData(limb)
        assert index >= 0, f"no limb {limb!r} offered"
        dialog.limb.setCurrentIndex(index)


def test_the_model_is_greyed_out_for_methods_that_do_not_use_it(window) -> None:  # type: ignore[no-untyped-def]
    dialog = DecomposeDialog(DecomposerConfig(), 3.0, window)
    assert [dialog.forward_model.itemData(i) for i in range(dialog.forward_model.count())] == [
        "analytic", "surrogate", "cylindrical"]
    assert dialog.forward_model.currentData() == "analytic"
    assert [dialog.limb.itemData(i) for i in range(dialog.limb.count())] == ["forearm", "thigh"]  # no MRI
    for method in ("fastica", "joint"):
        dialog.method.setCurrentIndex(dialog.method.findData(method))
        assert not dialog.forward_model.isEnabled()
        assert not dialog.limb.isEnabled()
        assert not dialog.grid_around.isEnabled()
        assert "do not use the forward model" in dialog.forward_model.toolTip()
    for method in ("hybrid", "bmiss"):
        _choose(dialog, method, "analytic")
        assert dialog.forward_model.isEnabled()
        assert not dialog.limb.isEnabled()  # the planar model has no limb
        assert not dialog.grid_around.isEnabled()
        _choose(dialog, method, "cylindrical")
        assert dialog.limb.isEnabled()
        assert dialog.grid_around.isEnabled()
    _choose(dialog, "hybrid", "surrogate")
    assert dialog.config().inversion.forward_model == "surrogate"


def test_a_default_limb_gives_its_cylinder_and_the_choice_is_kept(window) -> None:  # type: ignore[no-untyped-def]
    dialog = DecomposeDialog(DecomposerConfig(), 3.0, window)
    _choose(dialog, "hybrid", "cylindrical", "thigh")
    dialog.grid_around.setChecked(True)
    inv = dialog.config().inversion
    thigh = LIMB_PRESETS["thigh"]
    assert (inv.forward_model, inv.limb, inv.grid_around) == ("cylindrical", "thigh", True)
    assert inv.cylinder_radii_mm == pytest.approx(
        (thigh["skin_radius_mm"] - thigh["skin_mm"] - thigh["fat_mm"], thigh["bone_radius_mm"]))
    assert (inv.skin_mm, inv.fat_mm) == (thigh["skin_mm"], thigh["fat_mm"])
    # saved (a session keeps the settings as JSON) and shown again as chosen
    saved = DecomposerConfig.from_dict(dialog.config().as_dict())
    assert saved == dialog.config()
    again = DecomposeDialog(saved, 3.0, window)
    assert (again.method.currentData(), again.forward_model.currentData(), again.limb.currentData()) == (
        "hybrid", "cylindrical", "thigh")
    assert again.grid_around.isChecked()
    assert again.limb.isEnabled()
    assert again.config() == saved
    # back to forearm: the forearm's whole cylinder, not the thigh's layers
    again.limb.setCurrentIndex(again.limb.findData("forearm"))
    forearm = again.config().inversion
    assert forearm.cylinder_radii_mm == pytest.approx(DecomposerConfig().with_limb("forearm").inversion.cylinder_radii_mm)
    assert forearm.skin_mm == LIMB_PRESETS["forearm"]["skin_mm"]


def test_radii_set_elsewhere_are_kept_without_an_mri(window) -> None:  # type: ignore[no-untyped-def]
    initial = DecomposerConfig().replace(method="bmiss", forward_model="cylindrical", muscle_radius_mm=25.0,
                                         bone_radius_mm=6.0)
    dialog = DecomposeDialog(initial, 3.0, window)
    assert dialog.limb.currentData() == "saved"
    assert "25.0" in dialog.limb.currentText()
    assert dialog.config().inversion == initial.inversion


def test_the_mri_gives_the_limb_under_the_grid(window, small_recording_file: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert window.open_file(small_recording_file)
    assert window.open_mri(demo_anatomy_paths().labels)
    cylinder = mri_cylinder(window.anatomy)
    assert cylinder is not None
    started: list[DecomposerConfig] = []
    monkeypatch.setattr(window, "decompose", started.append)
    seen: list[list[str]] = []

    def choose_the_mri(dialog: DecomposeDialog) -> int:
        seen.append([dialog.limb.itemData(i) for i in range(dialog.limb.count())])
        _choose(dialog, "hybrid", "cylindrical", "mri")
        return int(QDialog.DialogCode.Accepted)

    offered = DecomposeDialog(window.config, 3.0, window, cylinder=cylinder)
    assert offered.limb.currentData() == "mri"  # the subject's limb first where there is one
    monkeypatch.setattr(DecomposeDialog, "exec", choose_the_mri)
    window.action_by_name["decompose"].trigger()
    assert seen == [["forearm", "thigh", "mri"]]
    inv = started[0].inversion
    assert (started[0].method, inv.forward_model, inv.grid_around) == ("hybrid", "cylindrical", cylinder.grid_around)
    assert inv.cylinder_radii_mm == pytest.approx((cylinder.muscle_radius_mm, cylinder.bone_radius_mm))
    assert (inv.skin_mm, inv.fat_mm) == (pytest.approx(cylinder.skin_mm), pytest.approx(cylinder.fat_mm))
    # the MRI's radii are shown as the MRI's when the dialog opens again
    again = DecomposeDialog(started[0], 3.0, window, cylinder=cylinder)
    assert again.limb.currentData() == "mri"
    # a default limb, then the planar model: the planar model takes the MRI's layers again
    _choose(again, "hybrid", "cylindrical", "forearm")
    assert again.config().inversion.skin_mm == LIMB_PRESETS["forearm"]["skin_mm"]
    assert DecomposeDialog(again.config(), 3.0, window, cylinder=cylinder).limb.currentData() == "forearm"
    planar = DecomposeDialog(again.config(), 3.0, window, cylinder=cylinder)
    _choose(planar, "hybrid", "analytic")
    inv = planar.config().inversion
    assert inv.forward_model == "analytic"
    assert (inv.skin_mm, inv.fat_mm) == (pytest.approx(cylinder.skin_mm), pytest.approx(cylinder.fat_mm))
