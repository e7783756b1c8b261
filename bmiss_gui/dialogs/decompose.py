"""Decomposition settings: the few a user needs to choose, the rest at the engine's defaults."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from bmiss_engine import DecomposerConfig
from bmiss_engine.config import LIMB_PRESETS, LIMBS
from bmiss_gui.dialogs.buttons import ok_cancel_buttons
from bmiss_gui.tooltips import SIL_TIP

if TYPE_CHECKING:
    from bmiss_engine.anatomy import LimbCylinder

# key, title, available, tooltip
_METHODS = (
    ("fastica", "Convolutive FastICA (Negro et al. 2016)", True,
     "Blind source separation alone: the established method, faster than the joint decoding"),
    ("hybrid", "Hybrid: FastICA + unit properties from the biophysical model", True,
     "FastICA's units, then each unit's depth, position, innervation zone, conduction velocity and size "
     "fitted to its average MUAP with the forward model (a few seconds per unit on a CPU)"),
    ("bmiss", "BMISS biophysical inversion (experimental)", True,
     "Fits a biophysical model of each motor unit to the EMG. Experimental: slower, and less tested "
     "than FastICA; check its units against FastICA's"),
    ("joint", "Joint decoding: FastICA's units decoded together, hidden units found", True,
     "The default. FastICA's units decoded all at once, then the units they hide looked for on what "
     "they leave; units found beyond FastICA say 'joint' in the table's origin column"),
)


# the forward models (bmiss_engine.config.FORWARD_MODELS): key, title, tooltip
_FORWARD_MODELS = (
    ("analytic", "Planar layers (analytic)",
     "Skin, fat and muscle as flat layers under the grid: the established model"),
    ("surrogate", "Planar layers (fast surrogate)",
     "A neural network trained on the planar model: faster; fibres along the grid and textbook "
     "conductivities only"),
    ("cylindrical", "Cylindrical limb",
     "Bone, muscle, fat and skin as concentric cylinders: the limb's curvature, for grids on a "
     "forearm or thigh and grids wrapped around the limb"),
)
_USES_FORWARD_MODEL = ("hybrid", "bmiss")
_NO_FORWARD_MODEL_TIP = "FastICA and joint decoding do not use the forward model: choose hybrid or BMISS to set it"
_MRI_LIMB = "mri"  # the limb box's item for the cylinder fitted to the MRI under the grid
_SAVED_LIMB = "saved"  # … for radii set elsewhere (a saved session's, the command line's)


def equal_widths(*widgets: QWidget) -> None:
    """Give ``widgets`` (a form's spin boxes) the width of the widest, so the column is even."""
    width = max(w.sizeHint().width() for w in widgets)
    for w in widgets:
        w.setMinimumWidth(width)


def _method_box(method: str) -> QComboBox:
    box = QComboBox()
    for key, title, available, tip in _METHODS:
        box.addItem(title, key)
        index = box.count() - 1
        box.setItemData(index, tip, Qt.ItemDataRole.ToolTipRole)
        box.model().item(index).setEnabled(available)  # type: ignore[attr-defined]
    box.setCurrentIndex(max(0, box.findData(method)))
    return box


def _limb_title(limb: str) -> str:
    preset = LIMB_PRESETS[limb]
    return f"{limb.capitalize()} (default: radius {preset['skin_radius_mm']:g} mm)"


class DecomposeSettings(QWidget):
    """The settings form, shared by the Decompose and the Batch dialogs: edits a
    :class:`DecomposerConfig`; ``config()`` returns the chosen one. ``duration_s``: the
    recording's length, for the time-window rows (None: no time window, as in a batch).
    ``cylinder``: the limb fitted to the subject's MRI under the grid
    (:func:`~bmiss_engine.anatomy.cylinder_under_grid`), offered as the cylindrical model's
    limb; None without an MRI."""

    def __init__(self, initial: DecomposerConfig, duration_s: float | None = None,
                 parent: QWidget | None = None, cylinder: LimbCylinder | None = None) -> None:
        super().__init__(parent)
        self._initial = initial
        self._cylinder = cylinder
        self.method = _method_box(initial.method)
        # one box, two settings: the bmiss method's restarts, and the hybrid's restarts on the
        # baseline's residual; each method keeps its own value while the user switches
        self._restart_values = {"bmiss": initial.inversion.restarts, "hybrid": initial.inversion.hybrid_restarts}
        self._restarts_for = "bmiss"
        self._make_boxes(initial)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        # a spin box as wide as the dialog reads badly; the method's combo box fits its names
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        equal_widths(self.iterations, self.restarts, self.sil, self.extension, self.device)
        form.addRow("Method", self.method)
        form.addRow("Iterations", self.iterations)
        form.addRow("Restarts (BMISS, hybrid)", self.restarts)
        form.addRow("SIL threshold", self.sil)
        form.addRow("Extension factor", self.extension)
        form.addRow("Device", self.device)
        form.addRow("Forward model", self.forward_model)
        form.addRow("Limb", self.limb)
        form.addRow(self.grid_around)
        self.use_window = QCheckBox("Only part of the recording")
        self.start = QDoubleSpinBox()
        self.stop = QDoubleSpinBox()
        self._has_window = duration_s is not None
        if duration_s is not None:
            self._add_window_rows(form, initial.window_s, duration_s)
        self.method.currentIndexChanged.connect(self._sync_method)
        self.forward_model.currentIndexChanged.connect(self._sync_forward_model)
        self.limb.currentIndexChanged.connect(self._sync_limb)
        self._sync_method()

    def _make_boxes(self, initial: DecomposerConfig) -> None:
        self.restarts = QSpinBox()
        self.restarts.setRange(0, 200)
        self.restarts.setValue(initial.inversion.restarts)

        self.iterations = QSpinBox()
        self.iterations.setRange(1, 5000)
        self.iterations.setValue(initial.separation.n_iterations)
        self.iterations.setToolTip("Separation vectors tried at most; the search stops earlier when no new unit appears")

        self.sil = QDoubleSpinBox()
        self.sil.setRange(0.5, 1.0)
        self.sil.setSingleStep(0.01)
        self.sil.setDecimals(2)
        self.sil.setValue(initial.acceptance.sil_threshold)
        self.sil.setToolTip(SIL_TIP)

        self.extension = QSpinBox()
        self.extension.setRange(0, 100)
        self.extension.setSpecialValueText("automatic")
        self.extension.setValue(initial.separation.extension_factor or 0)
        self.extension.setToolTip("Delays per channel; automatic makes channels × delays ≈ 1000")

        self.device = QComboBox()
        for d in ("auto", "cpu", "cuda"):
            self.device.addItem(d, d)
        self.device.setCurrentIndex(max(0, self.device.findData(initial.device)))
        self._make_model_boxes(initial)

    def _make_model_boxes(self, initial: DecomposerConfig) -> None:
        """The forward model, the cylinder's limb and whether the grid goes around it."""
        inv = initial.inversion
        self.forward_model = QComboBox()
        for key, title, tip in _FORWARD_MODELS:
            self.forward_model.addItem(title, key)
            self.forward_model.setItemData(self.forward_model.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.forward_model.setCurrentIndex(max(0, self.forward_model.findData(inv.forward_model)))

        self.limb = QComboBox()
        for limb in LIMBS:
            self.limb.addItem(_limb_title(limb), limb)
        cylinder = self._cylinder
        if cylinder is not None:
            self.limb.addItem(f"From the MRI (radius {cylinder.skin_radius_mm:.1f} mm under the grid)", _MRI_LIMB)
            self.limb.setItemData(self.limb.count() - 1,
                                  f"The cylinder fitted to the MRI's tissues under the grid: muscle radius "
                                  f"{cylinder.muscle_radius_mm:.1f} mm, bone {cylinder.bone_radius_mm:.1f} mm, "
                                  f"skin {cylinder.skin_mm:.1f} mm, fat {cylinder.fat_mm:.1f} mm",
                                  Qt.ItemDataRole.ToolTipRole)
        explicit = inv.muscle_radius_mm is not None or inv.bone_radius_mm is not None
        if explicit and cylinder is None:
            muscle, bone = inv.cylinder_radii_mm
            self.limb.addItem(f"As set: muscle radius {muscle:.1f} mm, bone {bone:.1f} mm", _SAVED_LIMB)
        # with an MRI open, the subject's limb, unless a default limb was chosen for the cylinder
        # (radii set elsewhere: the MRI's, as the grid now lies on it)
        if cylinder is not None:
            chosen = inv.limb if inv.forward_model == "cylindrical" and not explicit else _MRI_LIMB
        else:
            chosen = _SAVED_LIMB if explicit else inv.limb
        self.limb.setCurrentIndex(max(0, self.limb.findData(chosen)))
        self.limb.setToolTip("The cylindrical model's limb: its radius, bone, skin and fat")

        self.grid_around = QCheckBox("Grid wrapped around the limb")
        self.grid_around.setChecked(inv.grid_around)
        self.grid_around.setToolTip("The grid's columns go once around the limb, evenly spread "
                                    "(as a 10×32 grid around a forearm); else it lies on an arc of the skin")

    def _add_window_rows(self, form: QFormLayout, window_s: tuple[float, float] | None, duration_s: float) -> None:
        """The time-window rows: a check box, then start and stop within the recording."""
        for box in (self.start, self.stop):
            box.setRange(0.0, duration_s)
            box.setDecimals(2)
            box.setSuffix(" s")
        window = window_s or (0.0, duration_s)
        self.start.setValue(window[0])
        self.stop.setValue(min(window[1], duration_s))
        self.use_window.setChecked(window_s is not None)
        self.use_window.toggled.connect(self._sync_window)
        window_row = QHBoxLayout()
        window_row.addWidget(self.start)
        window_row.addWidget(QLabel("to"))
        window_row.addWidget(self.stop)
        window_widget = QWidget()
        window_widget.setLayout(window_row)
        window_row.setContentsMargins(0, 0, 0, 0)
        form.addRow(self.use_window)
        form.addRow("Time window", window_widget)
        self._sync_window(self.use_window.isChecked())

    def _sync_method(self) -> None:
        method = self.method.currentData()
        self._restart_values[self._restarts_for] = self.restarts.value()
        if method in self._restart_values:
            self._restarts_for = method
            self.restarts.setMinimum(1 if method == "bmiss" else 0)
            self.restarts.setValue(self._restart_values[method])
        self.restarts.setToolTip(
            "Hybrid: BMISS searches on what the baseline's units leave behind, for the units it missed (0: none)"
            if method == "hybrid" else "BMISS: searches of the model's parameter space; each may add units")
        self.restarts.setEnabled(method in ("bmiss", "hybrid"))
        self.iterations.setEnabled(method != "bmiss")
        self._sync_forward_model()

    def _sync_forward_model(self) -> None:
        """The model's boxes only for the methods that use it; the limb's only for the cylinder."""
        uses_model = self.method.currentData() in _USES_FORWARD_MODEL
        cylindrical = uses_model and self.forward_model.currentData() == "cylindrical"
        self.forward_model.setEnabled(uses_model)
        self.forward_model.setToolTip("The volume conductor that θ is fitted with" if uses_model
                                      else _NO_FORWARD_MODEL_TIP)
        self.limb.setEnabled(cylindrical)
        self.grid_around.setEnabled(cylindrical)
        if not uses_model:
            self.limb.setToolTip(_NO_FORWARD_MODEL_TIP)
            self.grid_around.setToolTip(_NO_FORWARD_MODEL_TIP)
        elif not cylindrical:
            self.limb.setToolTip("The planar model has no limb: choose the cylindrical model to set one")
            self.grid_around.setToolTip("A grid around the limb needs the cylindrical model")
        else:
            self.limb.setToolTip("The cylindrical model's limb: its radius, bone, skin and fat")
            self.grid_around.setToolTip("The grid's columns go once around the limb, evenly spread "
                                        "(as a 10×32 grid around a forearm); else it lies on an arc of the skin")

    def _sync_limb(self) -> None:
        """The MRI's limb brings whether the grid there goes around it."""
        if self.limb.currentData() == _MRI_LIMB and self._cylinder is not None:
            self.grid_around.setChecked(self._cylinder.grid_around)

    def _sync_window(self, on: bool) -> None:
        self.start.setEnabled(on)
        self.stop.setEnabled(on)

    def config(self) -> DecomposerConfig:
        """The settings shown, on top of the initial config's other fields (no time window
        without the window rows). Raises the engine's ConfigError for inconsistent values."""
        values = self._initial.as_dict()
        use_window = self._has_window and self.use_window.isChecked()
        values.update(
            method=self.method.currentData(),
            n_iterations=self.iterations.value(),
            inversion_restarts=self.restarts.value() if self._restarts_for == "bmiss" else self._restart_values["bmiss"],
            hybrid_restarts=self.restarts.value() if self._restarts_for == "hybrid" else self._restart_values["hybrid"],
            sil_threshold=round(self.sil.value(), 3),
            extension_factor=self.extension.value() or None,
            device=self.device.currentData(),
            window_s=(self.start.value(), self.stop.value()) if use_window else None,
        )
        return self._with_model(DecomposerConfig.from_dict(values))

    def _with_model(self, config: DecomposerConfig) -> DecomposerConfig:
        """``config`` with the forward model shown (kept for the methods that do not use it,
        so it is there when the user comes back to one that does). The cylinder takes the
        limb chosen: a default limb's radii and layers, the MRI's, or those set before; the
        planar model takes the MRI's layers under the grid where there is one."""
        model = self.forward_model.currentData()
        cylinder = self._cylinder
        if model == "cylindrical":
            limb = self.limb.currentData()
            if limb == _MRI_LIMB and cylinder is not None:
                config = config.with_cylinder(cylinder.muscle_radius_mm, cylinder.bone_radius_mm, cylinder.skin_mm,
                                              cylinder.fat_mm)
            elif limb in LIMB_PRESETS:
                config = config.with_limb(limb)
            return config.replace(forward_model=model, grid_around=self.grid_around.isChecked())
        if cylinder is not None:
            config = config.with_layers(cylinder.skin_mm, cylinder.fat_mm)
        return config.replace(forward_model=model)


class DecomposeDialog(QDialog):
    """Edits a :class:`DecomposerConfig` for the open recording; ``config()`` returns the chosen
    one. ``cylinder``: the limb fitted to the subject's MRI under the grid, if one is open."""

    def __init__(self, initial: DecomposerConfig, duration_s: float, parent: QWidget | None = None,
                 cylinder: LimbCylinder | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Decompose")
        self.settings = DecomposeSettings(initial, duration_s, cylinder=cylinder)
        f = self.settings
        # the form's widgets by name, as tests and callers reach them
        self.method, self.iterations, self.restarts, self.sil = f.method, f.iterations, f.restarts, f.sil
        self.extension, self.device = f.extension, f.device
        self.forward_model, self.limb, self.grid_around = f.forward_model, f.limb, f.grid_around
        self.use_window, self.start, self.stop = f.use_window, f.start, f.stop
        buttons, _ok = ok_cancel_buttons(self, "Decompose")
        layout = QVBoxLayout(self)
        layout.addWidget(self.settings)
        layout.addWidget(buttons)

    def config(self) -> DecomposerConfig:
        """The settings shown. Raises the engine's ConfigError for inconsistent values."""
        return self.settings.config()
