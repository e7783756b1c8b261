"""The inversion's settings and what it returns: :class:`InversionConfig`, the extension it
uses, each :class:`InvertedUnit` found and the :class:`InversionProgress` after a restart."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.forward.cylindrical import LIMBS
from bmiss_engine.forward.surrogate import FORWARD_MODELS
from bmiss_engine.separation.spikes import SpikeDetection

INVERSION_DELAYS = 10
SAMPLES_PER_ROW = 6


def inversion_extension_factor(n_channels: int, n_samples: int) -> int:
    """Delays R of the inversion's extended recording: ``INVERSION_DELAYS``, fewer where the
    recording is too short to estimate an (n_channels·R)² covariance (at least
    ``SAMPLES_PER_ROW`` samples per row).

    Unlike FastICA, whose separation vector has n_channels·R free entries and overfits a long
    extension (one-sample sources at 320 channels × R = 8 on 10 s), the inversion's filter is the
    MVDR of a column rendered from 8 parameters, so a longer extension only gives it more
    room to null the other units (the MVDR of a unit's exact MUAP reaches more units as R grows
    to about 10: research/results/oracle_cpu.md, hybrid_extension_sweep_cpu.md).
    """
    by_length = n_samples // (SAMPLES_PER_ROW * max(1, n_channels))
    return max(1, min(INVERSION_DELAYS, by_length))


@dataclass(frozen=True)
class InversionConfig:
    """Settings of the inversion.

    extension_factor: delays R (None: ``target_rows`` if given, else :func:`inversion_extension_factor`,
    R = 10 within what the recording's length supports); rel_floor: eigenvalue
    floor relative to the largest (see :mod:`.mvdr`) for the final sources; search_rel_floor:
    the heavier floor (diagonal loading) of the probe and the ascent: with little noise the
    MVDR is so selective that the contrast is flat except within ~0.05 of a unit's θ, and
    loading widens the basins (measured: from 0.05 off the truth, 30 steps climb back with a
    floor of 1e-2 and not with 1e-6); fine_steps: Adam steps on the fine estimator after
    the ascent; n_restarts: Latin-hypercube probes, each
    followed by an ascent; n_probe: θ evaluated per probe; n_candidates: best probe points
    ascended together; n_steps, learning_rate: Adam on normalised θ; sil_threshold,
    min_discharges, max_cov_isi: acceptance (as the baseline); duplicate_roa: RoA above which
    two units are one (over lags up to a MUAP's duration: the MVDR window's offset is not
    known); peel_off: subtract accepted units before the next restart; refine_steps,
    refine_learning_rate, refine_starts, refine_max_lag_s: the fit of θ to the spike-triggered
    MUAP, from the unit's θ and the best-fitting points of an ``n_probe`` Latin-hypercube probe
    (0 steps: none); contrast_clip: soft clip of the standardised source before the
    kurtosis (None: the plain kurtosis of the paper; see :func:`.contrast.excess_kurtosis`).
    The default, 12, is near the standardised spike height of a train at 15 Hz sampled at
    2048 Hz (sqrt(2048 / 15) ≈ 11.7), so the missed discharges a peel leaves behind, a few
    lone MUAPs, do not outscore a unit's whole train (research/results/contrast_clip_cpu.md);
    snapshot_candidates: starts taken from the data's most active instants (see
    :meth:`ThetaSearch.probe`); refine_sil:
    candidates at this SIL or above are refined and detected again before acceptance;
    probe_separation: the probe's candidates are at least this far apart in normalised
    (depth, medio-lateral, innervation-zone) position; probe_other_width: the probe spans
    position fully and the other fields over this width around mid-range; probe_batch: θ
    rendered at once in the probe (memory); forward_model: "analytic" (the layered volume
    conductor), "surrogate" (its neural surrogate: faster, fibre angle 0 and default
    conductivities only, see :mod:`bmiss_engine.forward.surrogate`) or "cylindrical" (bone,
    muscle, fat and skin as concentric cylinders, :mod:`bmiss_engine.forward.cylindrical`);
    muscle_radius_mm, bone_radius_mm, grid_around: the cylinder's muscle and bone radii (skin
    and fat come with the anatomy) and whether the grid is wrapped around the limb
    (cylindrical only; default: the forearm of ``forward.cylindrical.LIMBS``).
    """

    extension_factor: int | None = None
    target_rows: int | None = None
    rel_floor: float = 1e-6
    search_rel_floor: float = 1e-2
    fine_steps: int = 10
    n_restarts: int = 4
    n_probe: int = 256
    n_candidates: int = 16
    n_steps: int = 60
    learning_rate: float = 0.02
    sil_threshold: float = 0.90
    min_discharges: int = 10
    max_cov_isi: float | None = 0.5
    duplicate_roa: float = 0.3
    peel_off: bool = True
    refine_steps: int = 100
    refine_sil: float = 0.75
    refine_learning_rate: float = 0.03
    refine_starts: int = 4
    refine_max_lag_s: float = 0.005
    contrast_clip: float | None = 12.0
    snapshot_candidates: int = 2
    probe_separation: float = 0.1
    probe_other_width: float = 0.4
    probe_batch: int = 64
    seed: int = 0
    forward_model: str = "analytic"
    muscle_radius_mm: float = LIMBS["forearm"].muscle_radius_mm
    bone_radius_mm: float = LIMBS["forearm"].bone_radius_mm
    grid_around: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.bone_radius_mm < self.muscle_radius_mm - 1.0:
            raise ValueError(f"need 0 ≤ bone radius < muscle radius − 1 mm, got {self.bone_radius_mm:g} and "
                             f"{self.muscle_radius_mm:g} mm")
        if self.forward_model not in FORWARD_MODELS:
            raise ValueError(f"forward_model {self.forward_model!r} is unknown; use {' or '.join(map(repr, FORWARD_MODELS))}")
        if self.n_restarts < 1 or self.n_probe < 1 or self.n_candidates < 1:
            raise ValueError("n_restarts, n_probe and n_candidates must be at least 1")
        if self.n_candidates > self.n_probe:
            raise ValueError("n_candidates cannot exceed n_probe")
        if self.extension_factor is not None and self.extension_factor < 1:
            raise ValueError("extension_factor must be at least 1")

    def extension_for(self, n_channels: int, n_samples: int) -> int:
        """Delays R the inversion uses on a recording of n_channels × n_samples."""
        if self.extension_factor is not None:
            return self.extension_factor
        if self.target_rows:
            return max(1, round(self.target_rows / max(1, n_channels)))
        return inversion_extension_factor(n_channels, n_samples)


@dataclass(frozen=True, eq=False)
class InvertedUnit:
    """One motor unit found by the inversion.

    theta_unit: (n_params,) θ in [0, 1], fields in ``THETA_NAMES`` order (the fibre count
    fitted by amplitude); theta_sd_unit: (n_params,) Laplace standard deviation of the
    waveform fit per field (nan where not measured, always for the fibre count); theta_physical: field → value in
    physical units; detection: discharges (sample indices of the discharge instants) and the
    pulse train; contrast: excess kurtosis of its source; muap_v: (n_channels, n_muap_samples)
    rendered MUAP at θ in volts, discharge at ``muap_onset``; restart: where it was found;
    n_converged: candidates of all restarts that converged to it (duplicates included);
    waveform_residual: |STA − fitted MUAP|² / |STA|² (nan without refinement).
    """

    theta_unit: NDArray[np.float64]
    theta_sd_unit: NDArray[np.float64]
    theta_physical: dict[str, float]
    detection: SpikeDetection
    contrast: float
    muap_v: NDArray[np.float32]
    muap_onset: int
    restart: int
    n_converged: int = 1
    waveform_residual: float = float("nan")


@dataclass(frozen=True)
class InversionProgress:
    """Snapshot after one restart: units pooled so far, and the candidates' final contrasts.

    complete: False for the snapshots taken between the steps of restart ``restart`` (so a
    consumer can cancel within a step): the pool as the restart before left it, no candidates."""

    restart: int
    n_restarts: int
    units: tuple[InvertedUnit, ...]
    candidate_contrast: NDArray[np.float64]
    candidate_sil: NDArray[np.float64]
    complete: bool = True

