"""The settings of a decomposition and the snapshots it yields: plain values, no torch.

:class:`DecomposerConfig` and :class:`IterationState` live apart from the decomposer so that
reading or editing settings (the desktop application's dialogs, the command line's
``--config``) does not load torch and SciPy's statistics; ``bmiss_engine.decomposer``
re-exports both.

The settings are grouped by concern: :class:`SeparationSettings` (the blind stage),
:class:`AcceptanceSettings` (when a source is a unit), :class:`InversionSettings` (the forward
model and its inversion), and, at the top, the method, the device and what part of the
recording to use. The JSON form is nested the same way; the flat keys of earlier versions
(``"n_iterations": 150``, ``"inversion_restarts": 4``) are still read. Why each default is what
it is: ``bench/results/`` and ``research/results/``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.errors import ConfigError
from bmiss_engine.results import MotorUnit

if TYPE_CHECKING:
    from bmiss_engine.forward.parameters import AnatomyParameters
    from bmiss_engine.inversion import InversionConfig

Method = Literal["fastica", "bmiss", "hybrid", "joint"]
METHODS: tuple[str, ...] = ("fastica", "hybrid", "bmiss", "joint")
# the method the command line and the window start from: the joint method finds every unit
# FastICA finds and more on the ground-truth recordings (bench/results/accuracy.md). The
# engine's own default (DecomposerConfig.method) stays the blind baseline the others start from.
DEFAULT_METHOD: Method = "joint"
Phase = Literal["preparing", "separating", "finishing", "done"]
# the inversion's forward models (bmiss_engine.forward.surrogate.FORWARD_MODELS, kept here
# without torch; tests/engine/test_surrogate.py checks they agree)
FORWARD_MODELS = ("analytic", "surrogate", "cylindrical")
DISCHARGE_MARKINGS = ("peak", "onset", "model")

_DEFAULT_CONTRAST = "skew"
# the forward model's bounds on the layers (AnatomyParameters.BOUNDS, kept here without torch;
# tests/engine/test_hybrid.py checks they agree)
LAYER_RANGES_MM = {"skin_mm": (0.5, 3.0), "fat_mm": (0.5, 20.0)}
# the cylindrical model's default limbs where no MRI gives the subject's (mm; a torch-free copy
# of bmiss_engine.forward.cylindrical.LIMBS, tests/engine/test_cylinder_wiring.py checks they
# agree). Round adult figures, one limb each, not a population mean:
# - forearm, its proximal third where forearm grids sit: circumference ≈ 26 cm, skin radius
#   41 mm (adult forearm circumferences run ~23–30 cm in anthropometric surveys, e.g. ANSUR II,
#   Gordon et al. 2014); skin 1.2 mm and subcutaneous fat 3 mm (ultrasound of the forearm:
#   skin ~1–1.5 mm, fat ~2–5 mm in lean to average adults); radius and ulna as one central
#   bone of their summed cross-section (two shafts ~13 mm across ⇒ 9 mm).
# - thigh, mid-thigh: circumference ≈ 52 cm, skin radius 83 mm (surveys as above: ~45–60 cm);
#   skin 1.5 mm, fat 8 mm (anterior thigh by ultrasound: ~4–8 mm in men, ~10–15 mm in women;
#   Störchle et al. 2018 standardise such measurements); femur mid-shaft ~27 mm across.
# Farina, Mesin, Martina & Merletti (2004), whose model this is, simulate limbs of this size
# with 1 mm of skin and a few mm of fat.
# The skin radius is the limb's (what a tape measure gives); the muscle's is what the layers
# leave of it, so layers measured on the subject keep the limb's size.
LIMB_PRESETS: dict[str, dict[str, float]] = {
    "forearm": {"skin_radius_mm": 41.0, "bone_radius_mm": 9.0, "fat_mm": 3.0, "skin_mm": 1.2},
    "thigh": {"skin_radius_mm": 83.0, "bone_radius_mm": 13.5, "fat_mm": 8.0, "skin_mm": 1.5},
}
LIMBS = tuple(LIMB_PRESETS)
# the cylinder's muscle radius the settings accept (mm)
MUSCLE_RADIUS_RANGE_MM = (5.0, 250.0)


@dataclass(frozen=True)
class SeparationSettings:
    """The blind stage: convolutive FastICA (Negro et al. 2016).

    n_iterations: separation vectors tried at most; batch_size: vectors tried side by side;
    patience_batches: stop after this many batches in a row add no unit; contrast: FastICA's
    contrast function; max_fixed_point_iter, tolerance, converged_fraction: when the fixed-point
    iteration of a batch stops; reseed_rounds, reseed_after: restarts of columns heading for
    the same unit, checked after this many steps; refine_steps: CoV-of-ISI refinement steps;
    extension_factor: delays R (None: channels·R ≈ 1000); band_hz: the band-pass;
    auto_bad_channels: leave out channels saturated (flat at their max or min) or whose RMS is far
    from the median; auto_notch: with
    notch_hz None, remove the power-line frequency (50 or 60 Hz) and its harmonics when its
    peak stands out of the EMG's spectrum (the frequency found is in the result's separation
    model and provenance); notch_hz: remove this line frequency in any case; peel_off: subtract
    accepted units before looking further; polish: a second look at every unit once all are
    peeled, and at the near misses; fixed_point_min_s: on a recording at least twice this long,
    the fixed-point steps average over every k-th row of the extended signal, k = ⌊duration /
    fixed_point_min_s⌋, never over less than this many seconds' worth of rows (each row holds R
    consecutive samples already, and the cost of a step grows with the rows read); None: every
    row. Spike detection and the CoV refinement see every sample.
    """

    n_iterations: int = 150
    batch_size: int = 16
    patience_batches: int = 8
    contrast: str = _DEFAULT_CONTRAST
    max_fixed_point_iter: int = 30
    tolerance: float = 1e-4
    converged_fraction: float = 0.75
    reseed_rounds: int = 2
    reseed_after: int = 3
    refine_steps: int = 10
    extension_factor: int | None = None
    band_hz: tuple[float, float] = (20.0, 500.0)
    notch_hz: float | None = None
    auto_bad_channels: bool = True
    auto_notch: bool = True
    peel_off: bool = True
    polish: bool = True
    fixed_point_min_s: float | None = 15.0

    def fixed_point_stride(self, n_samples: int, sampling_rate_hz: float) -> int:
        """Every how many rows of the extended signal the fixed-point steps read (see
        ``fixed_point_min_s``)."""
        if self.fixed_point_min_s is None:
            return 1
        return max(1, int(n_samples / sampling_rate_hz // self.fixed_point_min_s))

    def __post_init__(self) -> None:
        if self.n_iterations < 1 or self.batch_size < 1:
            raise ConfigError("n_iterations and batch_size must be at least 1")
        if self.fixed_point_min_s is not None and self.fixed_point_min_s <= 0:
            raise ConfigError(f"fixed_point_min_s must be positive or None, got {self.fixed_point_min_s}")
        if self.extension_factor is not None and self.extension_factor < 1:
            raise ConfigError("extension_factor must be at least 1")
        if self.contrast != _DEFAULT_CONTRAST:
            # the contrasts live with FastICA (torch); the default needs no look-up
            from bmiss_engine.separation.fastica import contrast_by_name

            contrast_by_name(self.contrast)


@dataclass(frozen=True)
class AcceptanceSettings:
    """When a source is a motor unit, for every method: sil_threshold, min_discharges and
    max_cov_isi (None: no limit) it must meet; duplicate_roa: the rate of agreement above
    which two units are one."""

    sil_threshold: float = 0.90
    min_discharges: int = 10
    max_cov_isi: float | None = 0.5
    duplicate_roa: float = 0.3

    def __post_init__(self) -> None:
        if not 0 <= self.sil_threshold <= 1:
            raise ConfigError(f"sil_threshold must be in [0, 1], got {self.sil_threshold}")


@dataclass(frozen=True)
class InversionSettings:
    """The forward model and its inversion (methods ``bmiss`` and ``hybrid``).

    restarts, probe, candidates, steps: the BMISS inversion's restarts, Latin-hypercube probe
    size, candidates ascended per restart and Adam steps; target_rows: with the separation's
    extension_factor None, extend to n_channels·R ≈ this (None: R = 10 delays, fewer on a
    short recording); skin_mm, fat_mm: the layers above the muscle under the grid (from the
    subject's MRI where there is one); theta_fit_max_lag_s: (hybrid) how far a baseline
    discharge may sit from the modelled discharge instant; hybrid_restarts: (hybrid) BMISS
    restarts on the residual of the baseline's units, for the units it missed (0: none);
    forward_model: "analytic" (the planar layered volume conductor), "surrogate" (its neural
    surrogate: faster; fibre angle 0 and textbook conductivities only) or "cylindrical"
    (bone, muscle, fat and skin as concentric cylinders: the limb's curvature).

    The cylinder's limb: limb, "forearm" or "thigh", gives its radii where muscle_radius_mm
    (the muscle–fat interface) and bone_radius_mm (0: no bone) are None, see
    ``LIMB_PRESETS``: the limb's skin radius less skin_mm and fat_mm, the layers as for the
    planar model (1 and 2 mm until a limb or the MRI sets them), and its bone. Naming a
    limb (``replace(limb=...)``, the JSON key ``limb``, :meth:`DecomposerConfig.with_limb`)
    takes its whole cylinder, skin_mm and fat_mm included, except what the same settings
    give.
    grid_around: the grid is wrapped once around the limb, its columns spread evenly over the
    circumference (the paper's 10×32); else it lies on an arc of the skin.
    """

    restarts: int = 4
    probe: int = 256
    candidates: int = 16
    steps: int = 60
    target_rows: int | None = None
    skin_mm: float = 1.0
    fat_mm: float = 2.0
    theta_fit_max_lag_s: float = 0.02
    hybrid_restarts: int = 4
    forward_model: str = "analytic"
    limb: str = "forearm"
    muscle_radius_mm: float | None = None
    bone_radius_mm: float | None = None
    grid_around: bool = False

    def __post_init__(self) -> None:
        if self.forward_model not in FORWARD_MODELS:
            raise ConfigError(f"forward_model must be one of {', '.join(map(repr, FORWARD_MODELS))}, "
                              f"got {self.forward_model!r}")
        for name, (low, high) in LAYER_RANGES_MM.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ConfigError(f"{name} = {value:g} is outside [{low:g}, {high:g}] mm")
        if self.hybrid_restarts < 0:
            raise ConfigError(f"hybrid_restarts must be 0 or more, got {self.hybrid_restarts}")
        if self.limb not in LIMB_PRESETS:
            raise ConfigError(f"limb must be one of {', '.join(map(repr, LIMBS))}, got {self.limb!r}")
        muscle, bone = self.cylinder_radii_mm
        low, high = MUSCLE_RADIUS_RANGE_MM
        if not low <= muscle <= high:
            raise ConfigError(f"muscle_radius_mm = {muscle:g} is outside [{low:g}, {high:g}] mm")
        if not 0.0 <= bone <= muscle - 2.0:
            raise ConfigError(f"bone_radius_mm = {bone:g} must be 0 (no bone) up to 2 mm less than the muscle "
                              f"radius, {muscle:g} mm")

    @property
    def cylinder_radii_mm(self) -> tuple[float, float]:
        """The cylinder's muscle and bone radii: those set, else the limb's."""
        preset = LIMB_PRESETS[self.limb]
        muscle = (preset["skin_radius_mm"] - self.skin_mm - self.fat_mm if self.muscle_radius_mm is None
                  else float(self.muscle_radius_mm))
        bone = preset["bone_radius_mm"] if self.bone_radius_mm is None else float(self.bone_radius_mm)
        return muscle, bone


@dataclass(frozen=True)
class JointSettings:
    """The joint method (``method="joint"``): the blind stage's units decoded all at once, and
    FastICA on what they leave for the units they hide.

    cycles: decode-discover cycles at most (a cycle that discovers nothing ends the loop);
    template_s: the units' template length, centred on the MUAP's energy peak; templates: how
    they are estimated from the trains, "least_squares" (all units at once) or
    "spike_triggered" (each unit's average, which holds the other units' MUAPs too; for
    comparison); ridge: the least-squares templates' regularisation (fraction of the mean
    diagonal); discovery_vectors, discovery_patience, discovery_polish: FastICA's separation
    vectors at most, batches in a row without a unit before it stops, and its second look, on
    the joint residual (which holds fewer units than the recording); decode_kappa: the
    decoder's λ in noise SDs; decode_threshold: the decoded amplitude (1 = one whole MUAP) that
    makes a discharge; decode_iterations, decode_tolerance: FISTA iterations per round at most
    and the relative change that ends a round; reweight_rounds, reweight_eps: reweighted-L1
    rounds and their ε; refractory_s: the shortest interval between two discharges of a unit;
    blind_agreement: the median rate of agreement of the blind units' decoded trains with
    FastICA's at the first decode that shows one template per unit explains the recording (the
    decoder refines the units); below it the MUAPs change over the contraction (as in real
    recordings), FastICA's trains stand and nothing is looked for on the residual;
    model_check_s: the window, in the middle of the recording, decoded first to decide that (a
    real recording whose MUAPs change is found out without decoding all of it; a recording
    shorter than two windows is decided on its first whole decode).
    """

    cycles: int = 3
    template_s: float = 0.040
    templates: str = "least_squares"
    ridge: float = 1e-3
    discovery_vectors: int = 64
    discovery_patience: int = 3
    discovery_polish: bool = False
    decode_kappa: float = 3.0
    decode_threshold: float = 0.5
    decode_iterations: int = 600
    decode_tolerance: float = 1e-4
    reweight_rounds: int = 1
    reweight_eps: float = 0.2
    refractory_s: float = 0.02
    blind_agreement: float = 0.9
    model_check_s: float = 5.0

    def __post_init__(self) -> None:
        if self.model_check_s <= 0:
            raise ConfigError(f"model_check_s must be positive, got {self.model_check_s}")
        if self.templates not in ("least_squares", "spike_triggered"):
            raise ConfigError(f"templates must be 'least_squares' or 'spike_triggered', got {self.templates!r}")
        if self.cycles < 0 or self.discovery_vectors < 1 or self.decode_iterations < 1:
            raise ConfigError("cycles must be at least 0, discovery_vectors and decode_iterations at least 1")
        if not 0 < self.template_s <= 0.2:
            raise ConfigError(f"template_s must be in (0, 0.2] s, got {self.template_s}")


_SECTIONS = {"separation": SeparationSettings, "acceptance": AcceptanceSettings, "inversion": InversionSettings,
             "joint": JointSettings}
# the flat keys of earlier versions whose name in their section differs
_RENAMED = {"inversion_restarts": "restarts", "inversion_probe": "probe", "inversion_candidates": "candidates",
            "inversion_steps": "steps", "inversion_target_rows": "target_rows"}


def _with_limb_layers(inversion: dict[str, Any]) -> dict[str, Any]:
    """Inversion settings by name where a limb is named: the limb's whole cylinder (its skin
    and fat, its radii) except what the same settings give."""
    limb = inversion.get("limb")
    if limb is None:
        return inversion
    if limb not in LIMB_PRESETS:
        raise ConfigError(f"limb must be one of {', '.join(map(repr, LIMBS))}, got {limb!r}")
    preset = LIMB_PRESETS[limb]
    return {"skin_mm": preset["skin_mm"], "fat_mm": preset["fat_mm"], "muscle_radius_mm": None,
            "bone_radius_mm": None, **inversion}


def _flat_keys() -> dict[str, tuple[str, str]]:
    """Flat key → (section, field) for every field of every section."""
    keys: dict[str, tuple[str, str]] = {}
    for section, cls in _SECTIONS.items():
        for f in dataclasses.fields(cls):
            # one flat name, one field: a name in two sections could not be set flat
            assert f.name not in keys, f"{f.name} is in two sections"
            keys[f.name] = (section, f.name)
    for flat, name in _RENAMED.items():
        keys[flat] = ("inversion", name)
    del keys["restarts"], keys["probe"], keys["candidates"], keys["steps"], keys["target_rows"]
    return keys


FLAT_KEYS = _flat_keys()


@dataclass(frozen=True)
class DecomposerConfig:
    """Settings of a decomposition. Defaults follow the field's practice (Negro et al. 2016).

    method: "fastica" (the blind baseline), "hybrid" (the baseline's units, then θ fitted to
    each and BMISS restarts on the residual), "joint" (the baseline's units decoded all at once
    and the units they hide found on what they leave; settings in ``joint``) or "bmiss" (the
    inversion alone, experimental);
    window_s: decompose only this (start, stop) part; device: "auto", "cpu", "cuda"; seed: of
    every random draw; discharge_marking: where reported discharges sit on the MUAP, "onset"
    (where its energy first reaches 20 % of the peak: the motor neuron fires at the MUAP's
    start), "peak" (its energy peak, as the search marks them) or "model" (the discharge
    instant of the fitted forward model; hybrid and bmiss only: bmiss always marks so).

    Build one with keywords by section or with :meth:`replace` by flat name:
    ``DecomposerConfig().replace(method="hybrid", n_iterations=48, inversion_restarts=2)``.
    """

    method: Method = "fastica"
    separation: SeparationSettings = field(default_factory=SeparationSettings)
    acceptance: AcceptanceSettings = field(default_factory=AcceptanceSettings)
    inversion: InversionSettings = field(default_factory=InversionSettings)
    joint: JointSettings = field(default_factory=JointSettings)
    window_s: tuple[float, float] | None = None
    device: str = "auto"
    seed: int = 0
    discharge_marking: str = "onset"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"method {self.method!r} is unknown; use 'fastica', 'hybrid', 'bmiss' or 'joint'")
        if self.discharge_marking not in DISCHARGE_MARKINGS:
            raise ConfigError(
                f"discharge_marking must be 'peak', 'onset' or 'model', got {self.discharge_marking!r}"
            )
        if self.discharge_marking == "model" and self.method in ("fastica", "joint"):
            raise ConfigError("discharge_marking 'model' needs a forward model: use method 'hybrid' or 'bmiss'")
        if self.method == "bmiss" or (self.method == "hybrid" and self.inversion.hybrid_restarts):
            try:
                self.inversion_config()
            except ValueError as exc:
                raise ConfigError(f"bad inversion setting: {exc}") from None

    def replace(self, **settings: Any) -> DecomposerConfig:
        """This configuration with ``settings`` changed, each by its top-level name, its
        section's name (a settings object) or its flat name (``sil_threshold=0.85``)."""
        top: dict[str, Any] = {}
        by_section: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
        for key, value in settings.items():
            if key in FLAT_KEYS:
                section, name = FLAT_KEYS[key]
                by_section[section][name] = value
            elif key in {f.name for f in dataclasses.fields(self)}:
                top[key] = value
            else:
                raise ConfigError(f"unknown setting: {key}")
        by_section["inversion"] = _with_limb_layers(by_section["inversion"])
        for section, changes in by_section.items():
            if changes:
                top[section] = dataclasses.replace(top.get(section, getattr(self, section)), **changes)
        return dataclasses.replace(self, **top)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DecomposerConfig:
        """The configuration of a JSON object: nested by section as :meth:`as_dict` writes
        it, flat as earlier versions did, or both (flat keys override)."""
        top = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - top - set(FLAT_KEYS))
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
        try:
            config = cls()
            nested: dict[str, Any] = {}
            for name in _SECTIONS:
                section = values.get(name)
                if section is None:
                    continue
                if not isinstance(section, dict):
                    raise ConfigError(f"setting {name!r} must be an object")
                known = {f.name for f in dataclasses.fields(_SECTIONS[name])}
                bad = sorted(set(section) - known)
                if bad:
                    raise ConfigError(f"unknown setting(s) in {name}: {', '.join(bad)}")
                if name == "inversion":
                    section = _with_limb_layers(section)
                nested[name] = _SECTIONS[name](**{k: _tupled(v) for k, v in section.items()})
            flat = {k: _tupled(v) for k, v in values.items() if k not in _SECTIONS}
            return config.replace(**nested).replace(**flat)
        except TypeError as exc:
            raise ConfigError(f"bad setting: {exc}") from None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form, nested by section."""
        return dataclasses.asdict(self)

    def anatomy(self) -> AnatomyParameters:
        """The forward model's anatomy for this run (layer thicknesses; textbook conductivities)."""
        from bmiss_engine.forward.parameters import AnatomyParameters

        return AnatomyParameters.default(skin_mm=self.inversion.skin_mm, fat_mm=self.inversion.fat_mm)

    def with_layers(self, skin_mm: float, fat_mm: float) -> DecomposerConfig:
        """This configuration with the layers measured under the grid (e.g. on the subject's
        MRI), kept within the forward model's range."""
        (skin_low, skin_high), (fat_low, fat_high) = LAYER_RANGES_MM["skin_mm"], LAYER_RANGES_MM["fat_mm"]
        return self.replace(skin_mm=float(np.clip(skin_mm, skin_low, skin_high)),
                            fat_mm=float(np.clip(fat_mm, fat_low, fat_high)))

    def with_limb(self, limb: str) -> DecomposerConfig:
        """This configuration with the default cylinder of ``limb`` ("forearm" or "thigh"): its
        radii and its skin and fat (what to choose without an MRI)."""
        return self.replace(limb=limb)

    def with_cylinder(self, muscle_radius_mm: float, bone_radius_mm: float, skin_mm: float, fat_mm: float,
                      ) -> DecomposerConfig:
        """This configuration with the subject's cylinder (e.g. measured on the MRI under the
        grid, :func:`bmiss_engine.anatomy.cylinder_under_grid`): radii as given, the layers kept
        within the forward model's range."""
        layered = self.with_layers(skin_mm, fat_mm)
        return layered.replace(muscle_radius_mm=float(muscle_radius_mm), bone_radius_mm=float(bone_radius_mm))

    def inversion_config(self) -> InversionConfig:
        """The settings of the BMISS inversion that this configuration implies."""
        from bmiss_engine.inversion import InversionConfig

        inv, acc = self.inversion, self.acceptance
        return InversionConfig(
            extension_factor=self.separation.extension_factor,
            target_rows=inv.target_rows,
            n_restarts=inv.restarts,
            n_probe=inv.probe,
            n_candidates=inv.candidates,
            n_steps=inv.steps,
            sil_threshold=acc.sil_threshold,
            min_discharges=acc.min_discharges,
            max_cov_isi=acc.max_cov_isi,
            duplicate_roa=acc.duplicate_roa,
            peel_off=self.separation.peel_off,
            seed=self.seed,
            forward_model=inv.forward_model,
            muscle_radius_mm=inv.cylinder_radii_mm[0],
            bone_radius_mm=inv.cylinder_radii_mm[1],
            grid_around=inv.grid_around,
        )


def _tupled(value: Any) -> Any:
    """JSON arrays as the tuples the settings hold."""
    return tuple(value) if isinstance(value, list) else value


@dataclass(frozen=True, kw_only=True)
class IterationState:
    """A snapshot of a running decomposition (numpy data only, safe to hand to another thread).

    iteration / total: separation vectors tried so far / at most (``method="bmiss"``: restarts
    done / planned); units: accepted so far; current_sil: SIL of the vector just tried (bmiss:
    the best SIL among the restart's candidates; nan before the first); phase; elapsed_s.
    templates_v: (n_units, n_channels_used, n_muap_samples) MUAPs of ``units`` in volts, rendered
    at their θ (bmiss and hybrid, else None); theta: per unit, θ in physical units (bmiss and hybrid);
    stage: which stage of the method runs, in words ("blind separation", "θ fit", …), since
    ``iteration / total`` count that stage's steps.
    """

    iteration: int
    total: int
    units: tuple[MotorUnit, ...]
    current_sil: float
    phase: Phase
    elapsed_s: float
    message: str = ""
    current_pulse_train: NDArray[np.float32] | None = field(default=None, repr=False)
    templates_v: NDArray[np.float32] | None = field(default=None, repr=False)
    theta: tuple[dict[str, float], ...] = ()
    stage: str = ""
