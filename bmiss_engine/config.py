"""The settings of a decomposition and the snapshots it yields: plain values, no torch.

:class:`DecomposerConfig` and :class:`IterationState` live apart from the decomposer so that
reading or editing settings (the desktop application's dialogs, the command line's
``--config``) does not load torch and SciPy's statistics; ``bmiss_engine.decomposer``
re-exports both.
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

Method = Literal["fastica", "bmiss", "hybrid"]
Phase = Literal["preparing", "separating", "finishing", "done"]
# the inversion's forward models (bmiss_engine.forward.surrogate.FORWARD_MODELS, kept here
# without torch; tests/engine/test_surrogate.py checks they agree)
FORWARD_MODELS = ("analytic", "surrogate")

_DEFAULT_CONTRAST = "skew"
# the forward model's bounds on the layers (AnatomyParameters.BOUNDS, kept here without torch;
# tests/engine/test_hybrid.py checks they agree)
LAYER_RANGES_MM = {"skin_mm": (0.5, 3.0), "fat_mm": (0.5, 20.0)}


@dataclass(frozen=True)
class DecomposerConfig:
    """Settings of a decomposition. Defaults follow the field's practice (Negro et al. 2016).

    n_iterations: separation vectors tried at most; batch_size: tried side by side;
    patience_batches: stop after this many batches in a row add no unit (8: MyoGen A_10dB 9 → 10
    of 11 over 3, at 1.2× the passes);
    extension_factor: delays R (None: channels·R ≈ 1000); band_hz / notch_hz: preprocessing;
    sil_threshold, min_discharges, max_cov_isi: acceptance; duplicate_roa: RoA above which
    two units are one; peel_off: subtract accepted units before looking further;
    window_s: decompose only this (start, stop) part; device: "auto", "cpu", "cuda".
    inversion_restarts, inversion_probe, inversion_candidates, inversion_steps: the BMISS
    inversion's restarts, Latin-hypercube probe size, candidates ascended per restart and Adam
    steps (``method="bmiss"`` only); inversion_target_rows: with extension_factor None, the
    inversion extends to n_channels·R ≈ this; None (the default): R = 10 delays, fewer on a
    recording too short for them (bench/oracle.py: the MVDR of a unit's true MUAP reaches more
    units as R grows, up to about 10; see :func:`~bmiss_engine.inversion.search.inversion_extension_factor`).
    skin_mm, fat_mm: the layers above the muscle under the grid, for the forward model of the
    bmiss and hybrid methods (from the subject's MRI where there is one);
    theta_fit_max_lag_s: (hybrid) how far a baseline discharge may sit from the modelled
    discharge instant; discharge_marking: where reported discharges sit on the MUAP, "onset"
    (where its energy first reaches 20 % of the peak: the motor neuron fires at the MUAP's start;
    bench/sweep.py over all seven datasets: real 3 → 4 of 5, demo 7 → 10 of 20, the others
    unchanged), "peak" (its energy peak, as the search marks them) or "model" (hybrid: the
    discharge instant of the fitted forward model, i.e. when the motor neuron fired; the bmiss
    method always marks so).
    polish: (fastica, hybrid) a second look once every unit is peeled: each unit's filter is
    refined against the residual of all the others, and the near misses (SIL ≥ 0.8, often two
    units' mixture) are tried again; candidates that are a unit's fragment or the discharges it
    misses are not new units (bench/sweep.py: D_15dB 21 → 22, D_10dB 18 → 19 of 34, no
    dataset loses a unit or gains an unmatched one).
    hybrid_restarts: (hybrid) BMISS restarts on the residual once the baseline's units are
    peeled off: the inversion looks for the units the baseline missed, and a candidate that
    repeats a baseline unit is not a new unit (0: the baseline's units and their θ only; 4:
    bench/sweep.py over the seven ground-truth datasets, D_10dB 19 → 20 of 34 and demo 10 → 11
    of 20, none loses a unit or gains an unmatched one).
    forward_model: the inversion's forward model (bmiss and hybrid), "analytic" or "surrogate"
    (the neural surrogate of the analytic model: faster; fibre angle 0 and textbook
    conductivities only, as this configuration's anatomy is).
    """

    method: Method = "fastica"
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
    sil_threshold: float = 0.90
    min_discharges: int = 10
    max_cov_isi: float | None = 0.5
    duplicate_roa: float = 0.3
    peel_off: bool = True
    window_s: tuple[float, float] | None = None
    device: str = "auto"
    seed: int = 0
    inversion_restarts: int = 4
    inversion_probe: int = 256
    inversion_candidates: int = 16
    inversion_steps: int = 60
    skin_mm: float = 1.0
    fat_mm: float = 2.0
    theta_fit_max_lag_s: float = 0.02
    discharge_marking: str = "onset"
    polish: bool = True
    forward_model: str = "analytic"
    hybrid_restarts: int = 4
    inversion_target_rows: int | None = None

    def __post_init__(self) -> None:
        if self.method not in ("fastica", "bmiss", "hybrid"):
            raise ConfigError(f"method {self.method!r} is unknown; use 'fastica', 'hybrid' or 'bmiss'")
        if self.discharge_marking not in ("peak", "onset", "model"):
            raise ConfigError(
                f"discharge_marking must be 'peak', 'onset' or 'model', got {self.discharge_marking!r}"
            )
        if self.discharge_marking == "model" and self.method == "fastica":
            raise ConfigError("discharge_marking 'model' needs a forward model: use method 'hybrid' or 'bmiss'")
        if self.forward_model not in FORWARD_MODELS:
            raise ConfigError(f"forward_model must be 'analytic' or 'surrogate', got {self.forward_model!r}")
        for name, (low, high) in LAYER_RANGES_MM.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ConfigError(f"{name} = {value:g} is outside [{low:g}, {high:g}] mm")
        if self.hybrid_restarts < 0:
            raise ConfigError(f"hybrid_restarts must be 0 or more, got {self.hybrid_restarts}")
        if self.method == "bmiss" or (self.method == "hybrid" and self.hybrid_restarts):
            try:
                self.inversion_config()
            except ValueError as exc:
                raise ConfigError(f"bad inversion setting: {exc}") from None
        if self.n_iterations < 1 or self.batch_size < 1:
            raise ConfigError("n_iterations and batch_size must be at least 1")
        if not 0 <= self.sil_threshold <= 1:
            raise ConfigError(f"sil_threshold must be in [0, 1], got {self.sil_threshold}")
        if self.extension_factor is not None and self.extension_factor < 1:
            raise ConfigError("extension_factor must be at least 1")
        if self.contrast != _DEFAULT_CONTRAST:
            # the contrasts live with FastICA (torch); the default needs no look-up
            from bmiss_engine.separation.fastica import contrast_by_name

            contrast_by_name(self.contrast)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DecomposerConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
        fixed: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        try:
            return cls(**fixed)
        except TypeError as exc:
            raise ConfigError(f"bad setting: {exc}") from None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def anatomy(self) -> AnatomyParameters:
        """The forward model's anatomy for this run (layer thicknesses; textbook conductivities)."""
        from bmiss_engine.forward.parameters import AnatomyParameters

        return AnatomyParameters.default(skin_mm=self.skin_mm, fat_mm=self.fat_mm)

    def with_layers(self, skin_mm: float, fat_mm: float) -> DecomposerConfig:
        """This configuration with the layers measured under the grid (e.g. on the subject's
        MRI), kept within the forward model's range."""
        (skin_low, skin_high), (fat_low, fat_high) = LAYER_RANGES_MM["skin_mm"], LAYER_RANGES_MM["fat_mm"]
        return dataclasses.replace(self, skin_mm=float(np.clip(skin_mm, skin_low, skin_high)),
                                   fat_mm=float(np.clip(fat_mm, fat_low, fat_high)))

    def inversion_config(self) -> InversionConfig:
        """The settings of the BMISS inversion that this configuration implies."""
        from bmiss_engine.inversion import InversionConfig

        return InversionConfig(
            extension_factor=self.extension_factor,
            target_rows=self.inversion_target_rows,
            n_restarts=self.inversion_restarts,
            n_probe=self.inversion_probe,
            n_candidates=self.inversion_candidates,
            n_steps=self.inversion_steps,
            sil_threshold=self.sil_threshold,
            min_discharges=self.min_discharges,
            max_cov_isi=self.max_cov_isi,
            duplicate_roa=self.duplicate_roa,
            peel_off=self.peel_off,
            seed=self.seed,
            forward_model=self.forward_model,
        )


@dataclass(frozen=True)
class IterationState:
    """A snapshot of a running decomposition (numpy data only, safe to hand to another thread).

    iteration / total: separation vectors tried so far / at most (``method="bmiss"``: restarts
    done / planned); units: accepted so far; current_sil: SIL of the vector just tried (bmiss:
    the best SIL among the restart's candidates; nan before the first); phase; elapsed_s.
    templates_v: (n_units, n_channels_used, n_muap_samples) MUAPs of ``units`` in volts, rendered
    at their θ (bmiss and hybrid, else None); theta: per unit, θ in physical units (bmiss and hybrid).
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
