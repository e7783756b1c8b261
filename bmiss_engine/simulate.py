"""Synthetic HD-sEMG with ground truth.

A motor-unit pool with recruitment thresholds spread exponentially (Fuglevand et al. 1993),
rate coding from an excitation profile, Gaussian ISI variability, MUAPs from a
:class:`~bmiss_engine.forward.MuapGenerator` (the line-source model by default, the analytic
layered model or the cylindrical one on request), and white noise at a chosen SNR. The truth
carries every unit's parameters θ in the analytic model's terms, physical and mapped to [0, 1],
so that an inversion of the forward model can be scored on them (for the cylinder: depth below
the muscle surface, ml the arc on the skin, so the unit's angle is ml over the skin radius).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from numpy.typing import NDArray
from scipy import signal as sps

from bmiss_engine.errors import ConfigError
from bmiss_engine.forward import (
    LIMBS,
    AnalyticGenerator,
    AnatomyParameters,
    CylindricalForwardModel,
    CylindricalGenerator,
    LineSourceGenerator,
    MotorUnitParameters,
    MotorUnitProperties,
    MuapGenerator,
    motor_unit_parameters,
    to_unit_interval,
)
from bmiss_engine.recording import ElectrodeGrid, Recording


@dataclass(frozen=True)
class SimulationConfig:
    """Settings of a simulated recording (defaults: 20 units, 13×5 grid at 8 mm, 2048 Hz, 20 s,
    trapezoidal contraction to 70 % excitation, 20 dB SNR; the (0, 0) corner electrode absent,
    as on commercial grids, so 64 channels).

    muap_generator: "line_source" (:class:`LineSourceGenerator`, the default), "analytic"
    (:class:`AnalyticGenerator`) or "cylindrical" (:class:`CylindricalGenerator`); a
    ``generator`` passed to :func:`simulate_recording` overrides it. muscle_width_mm: units
    spread medio-laterally over the grid's width or this, whichever is narrower (on the
    cylinder: arc lengths on the skin; a grid around the limb is as wide as its circumference).
    depth_range_mm: the units' depth below the skin (the model's depth is below the muscle:
    skin and fat are subtracted, and a unit above the muscle is put at its surface).

    The layers and the limb (analytic and cylindrical): skin_mm, fat_mm (None: 1 and 2 mm for
    the analytic model, the limb's for the cylinder); limb, muscle_radius_mm, bone_radius_mm:
    the cylinder's ("forearm" or "thigh" of :data:`bmiss_engine.forward.LIMBS`, whose radii
    apply where these are None: the muscle's is the limb's skin radius less skin and fat);
    grid_around: the grid is wrapped once around the limb, its columns spread evenly over the
    circumference (its ``ied_mm`` is then the spacing along the fibres only).
    """

    n_units: int = 20
    duration_s: float = 20.0
    sampling_rate_hz: float = 2048.0
    grid_shape: tuple[int, int] = (13, 5)
    ied_mm: float = 8.0
    snr_db: float = 20.0
    peak_excitation: float = 0.7
    ramp_s: float = 4.0
    recruitment_range: float = 30.0
    max_threshold: float = 0.6
    min_rate_hz: float = 8.0
    peak_rate_first_hz: float = 30.0
    peak_rate_last_hz: float = 20.0
    isi_cov: float = 0.15
    fibre_range: tuple[float, float] = (60.0, 900.0)
    depth_range_mm: tuple[float, float] = (2.0, 8.0)
    muscle_width_mm: float = 80.0
    missing_corner: bool = True
    muap_generator: Literal["line_source", "analytic", "cylindrical"] = "line_source"
    seed: int = 0
    skin_mm: float | None = None
    fat_mm: float | None = None
    limb: str = "forearm"
    muscle_radius_mm: float | None = None
    bone_radius_mm: float | None = None
    grid_around: bool = False

    def __post_init__(self) -> None:
        if self.n_units < 1:
            raise ConfigError("n_units must be at least 1")
        if self.duration_s <= 0 or self.sampling_rate_hz <= 0:
            raise ConfigError("duration and sampling rate must be positive")
        if not 0 < self.max_threshold <= 1:
            raise ConfigError("max_threshold must be in (0, 1]")
        if self.muap_generator not in ("line_source", "analytic", "cylindrical"):
            raise ConfigError("muap_generator must be 'line_source', 'analytic' or 'cylindrical', "
                              f"got {self.muap_generator!r}")
        if self.limb not in LIMBS:
            raise ConfigError(f"limb must be one of {', '.join(map(repr, LIMBS))}, got {self.limb!r}")
        if self.grid_around and self.muap_generator != "cylindrical":
            raise ConfigError("grid_around needs the cylindrical MUAP generator")
        if self.muap_generator == "cylindrical":
            self.cylinder()  # a limb the model cannot take fails here

    def anatomy(self) -> AnatomyParameters:
        """The layers of the analytic and cylindrical generators (see the class doc)."""
        cylinder = self.muap_generator == "cylindrical"
        skin = self.skin_mm if self.skin_mm is not None else LIMBS[self.limb].skin_mm if cylinder else 1.0
        fat = self.fat_mm if self.fat_mm is not None else LIMBS[self.limb].fat_mm if cylinder else 2.0
        return AnatomyParameters.default(skin_mm=skin, fat_mm=fat)

    def cylinder(self) -> CylindricalForwardModel:
        """The cylindrical model of this limb (muscle and bone radii, grid around or not)."""
        preset = LIMBS[self.limb]
        anatomy = self.anatomy()
        muscle = (preset.skin_radius_mm - float(anatomy.skin_mm) - float(anatomy.fat_mm)
                  if self.muscle_radius_mm is None else self.muscle_radius_mm)
        bone = preset.bone_radius_mm if self.bone_radius_mm is None else self.bone_radius_mm
        model = CylindricalForwardModel(muscle_radius_mm=muscle, bone_radius_mm=bone, grid_around=self.grid_around)
        try:
            model.geometry(anatomy)
        except ValueError as exc:
            raise ConfigError(f"bad limb: {exc}") from None
        return model

    def generator(self) -> MuapGenerator:
        """The MUAP generator ``muap_generator`` names."""
        if self.muap_generator == "cylindrical":
            return CylindricalGenerator(model=self.cylinder(), anatomy=self.anatomy())
        if self.muap_generator == "analytic":
            return AnalyticGenerator(anatomy=self.anatomy())
        return LineSourceGenerator(seed=self.seed)

    def across_span_mm(self) -> float:
        """The grid's width across the fibres, mm on the skin (its circumference when it is
        wrapped around the limb)."""
        if self.grid_around:
            model = self.cylinder()
            return 2 * math.pi * model.geometry(self.anatomy()).skin_radius_mm
        return (self.grid_shape[1] - 1) * self.ied_mm


@dataclass(frozen=True)
class SimulationTruth:
    """Ground truth of a simulated recording.

    discharge_samples: one sorted int64 array per unit; muaps_v: (n_units, n_channels,
    n_muap_samples); muap_onset: index in the MUAP of the discharge instant;
    thresholds: (n_units,) recruitment excitation; properties: the units' MUAP parameters;
    excitation: (n_samples,) drive profile.
    theta_physical: the units' :class:`MotorUnitParameters` fields in physical units, each
    (n_units,) float64 (depth below the muscle surface, so skin and fat of the anatomy used are
    subtracted from ``properties.depth_mm``); theta_unit: the same mapped to [0, 1], shape
    (n_units, n_params), columns in ``MotorUnitParameters.field_names()`` order. The anatomy is
    the analytic or cylindrical generator's when it rendered the MUAPs, else the default one
    (the line-source model has no layers, so there θ is the closest analytic description, not
    an exact one). geometry: the layers (``skin_mm``, ``fat_mm``) and, for the cylinder, its
    ``muscle_radius_mm``, ``bone_radius_mm``, ``skin_radius_mm`` and ``grid_around`` (1 or 0).
    """

    discharge_samples: tuple[NDArray[np.int64], ...]
    muaps_v: NDArray[np.float32]
    muap_onset: int
    thresholds: NDArray[np.float64]
    properties: MotorUnitProperties
    excitation: NDArray[np.float32]
    config: dict[str, Any] = field(default_factory=dict)
    theta_physical: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    theta_unit: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 0)))
    geometry: dict[str, float] = field(default_factory=dict)

    def as_npz_dict(self) -> dict[str, Any]:
        """Arrays in the shared truth layout (``unitK`` = discharge samples of unit K;
        ``geometry_<name>`` the geometry's values)."""
        out: dict[str, Any] = {f"unit{k}": d for k, d in enumerate(self.discharge_samples)}
        out["muaps_v"] = self.muaps_v
        out["muap_onset"] = self.muap_onset
        out["thresholds"] = self.thresholds
        out["excitation"] = self.excitation
        for name, values in self.properties.as_dict().items():
            out[f"prop_{name}"] = values
        for name, values in self.theta_physical.items():
            out[f"theta_{name}"] = values
        for name, value in self.geometry.items():
            out[f"geometry_{name}"] = np.float64(value)
        return out


def true_theta(
    props: MotorUnitProperties, anatomy: AnatomyParameters
) -> tuple[dict[str, NDArray[np.float64]], NDArray[np.float64]]:
    """θ of the units in the analytic model's terms: physical values per field (n_units,) and
    the [0, 1] map, shape (n_units, n_params)."""
    params: MotorUnitParameters = motor_unit_parameters(props, anatomy, torch.float64)
    physical = {k: v.detach().cpu().numpy().astype(np.float64) for k, v in params.as_dict().items()}
    unit = to_unit_interval(params).detach().cpu().numpy().astype(np.float64)
    return physical, unit


def trapezoid(n_samples: int, sampling_rate_hz: float, peak: float, ramp_s: float) -> NDArray[np.float32]:
    """Excitation rising linearly over ``ramp_s``, holding at ``peak``, falling over ``ramp_s``."""
    t = np.arange(n_samples) / sampling_rate_hz
    total = n_samples / sampling_rate_hz
    ramp = max(min(ramp_s, total / 2), 1e-9)
    up = np.clip(t / ramp, 0, 1)
    down = np.clip((total - t) / ramp, 0, 1)
    return (peak * np.minimum(up, down)).astype(np.float32)


def discharge_train(
    excitation: NDArray[np.floating], sampling_rate_hz: float, threshold: float, min_rate_hz: float,
    peak_rate_hz: float, isi_cov: float, rng: np.random.Generator,
) -> NDArray[np.int64]:
    """Discharge samples of one unit: rate rises linearly from ``min_rate_hz`` at threshold
    to ``peak_rate_hz`` at full excitation; each ISI is drawn with CoV ``isi_cov``."""
    n = excitation.shape[0]
    out: list[int] = []
    t = 0
    gain = (peak_rate_hz - min_rate_hz) / max(1e-6, 1.0 - threshold)
    while t < n:
        e = float(excitation[t])
        if e < threshold:
            above = np.flatnonzero(excitation[t:] >= threshold)
            if above.size == 0:
                break
            t += int(above[0]) + int(rng.integers(0, int(0.05 * sampling_rate_hz) + 1))
            continue
        rate = min(peak_rate_hz, min_rate_hz + gain * (e - threshold))
        isi = (1.0 / rate) * max(0.3, 1.0 + isi_cov * rng.standard_normal())
        out.append(t)
        t += max(1, round(isi * sampling_rate_hz))
    return np.asarray([s for s in out if s < n], dtype=np.int64)


def motor_unit_pool(cfg: SimulationConfig, rng: np.random.Generator) -> tuple[NDArray[np.float64], MotorUnitProperties]:
    """Thresholds (n_units,) spread exponentially, and MUAP properties growing with them."""
    i = np.arange(cfg.n_units) / max(1, cfg.n_units - 1)
    thresholds = cfg.max_threshold * np.exp(np.log(cfg.recruitment_range) * i) / cfg.recruitment_range
    lo, hi = cfg.fibre_range
    n_fibres = lo * (hi / lo) ** i
    # units lie in one muscle under the grid: a grid wider than the muscle (a 32-column grid
    # around the forearm) sees units only over the muscle's width, as the forward model's
    # medio-lateral bound (±40 mm) assumes
    span_ml = min(cfg.across_span_mm(), cfg.muscle_width_mm)
    span_z = (cfg.grid_shape[0] - 1) * cfg.ied_mm
    props = MotorUnitProperties(
        depth_mm=rng.uniform(*cfg.depth_range_mm, cfg.n_units),
        ml_mm=rng.uniform(-span_ml / 2, span_ml / 2, cfg.n_units),
        iz_mm=rng.uniform(-span_z / 6, span_z / 6, cfg.n_units),
        cv_m_s=rng.normal(4.0, 0.4, cfg.n_units).clip(2.8, 5.5) + 0.6 * i,
        fibre_length_mm=rng.uniform(100.0, 130.0, cfg.n_units),
        territory_radius_mm=1.0 + 3.0 * np.sqrt(n_fibres / hi),
        n_fibres=n_fibres,
    )
    return thresholds, props


def simulate_recording(
    cfg: SimulationConfig = SimulationConfig(), generator: MuapGenerator | None = None
) -> tuple[Recording, SimulationTruth]:
    """Simulate a recording and its ground truth (EMG in volts)."""
    rng = np.random.default_rng(cfg.seed)
    grid = ElectrodeGrid.full(cfg.grid_shape[0], cfg.grid_shape[1], cfg.ied_mm)
    if cfg.missing_corner:
        # commercial 13×5 grids have 64 electrodes: the (0, 0) corner is absent
        grid = ElectrodeGrid(grid.n_rows, grid.n_columns, grid.ied_mm, grid.channel_rc[1:])
    n = round(cfg.duration_s * cfg.sampling_rate_hz)
    excitation = trapezoid(n, cfg.sampling_rate_hz, cfg.peak_excitation, cfg.ramp_s)
    thresholds, props = motor_unit_pool(cfg, rng)
    gen = generator if generator is not None else cfg.generator()
    muaps, onset = gen.render(props, grid, cfg.sampling_rate_hz)
    peak_rates = np.linspace(cfg.peak_rate_first_hz, cfg.peak_rate_last_hz, cfg.n_units)
    trains = tuple(
        discharge_train(excitation, cfg.sampling_rate_hz, float(thresholds[k]), cfg.min_rate_hz,
                        float(peak_rates[k]), cfg.isi_cov, rng)
        for k in range(cfg.n_units)
    )
    clean = np.zeros((grid.n_channels, n), dtype=np.float64)
    for k, train in enumerate(trains):
        impulses = np.zeros(n + muaps.shape[2])
        impulses[train] = 1.0
        # each discharge places the MUAP so that its onset sample lands on the discharge
        contrib = sps.oaconvolve(impulses[None, :], muaps[k], axes=1)[:, onset : onset + n]
        clean += contrib
    power = float(np.mean(clean**2))
    noise_sd = np.sqrt(power / 10 ** (cfg.snr_db / 10)) if power > 0 else 0.0
    emg = clean + noise_sd * rng.standard_normal(clean.shape)
    rec = Recording(emg.astype(np.float32), cfg.sampling_rate_hz, grid,
                    aux={"excitation": excitation}, source="simulated", file_format="simulated")
    anatomy = gen.anatomy if isinstance(gen, (AnalyticGenerator, CylindricalGenerator)) else AnatomyParameters.default()
    theta_physical, theta_unit = true_theta(props, anatomy)
    geometry = {"skin_mm": float(anatomy.skin_mm), "fat_mm": float(anatomy.fat_mm)}
    if isinstance(gen, CylindricalGenerator):
        limb = gen.model.geometry(anatomy)
        geometry.update(muscle_radius_mm=limb.muscle_radius_mm, bone_radius_mm=limb.bone_radius_mm,
                        skin_radius_mm=limb.skin_radius_mm, grid_around=float(gen.model.grid_around))
    truth = SimulationTruth(trains, muaps, onset, thresholds, props, excitation,
                            config={k: getattr(cfg, k) for k in cfg.__dataclass_fields__},
                            theta_physical=theta_physical, theta_unit=theta_unit, geometry=geometry)
    return rec, truth
