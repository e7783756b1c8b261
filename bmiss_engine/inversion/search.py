"""BMISS inversion: ascend the sparsity of MVDR sources over motor-unit parameters θ.

For a batch of candidate θ (normalised to [0, 1], anatomy fixed) the analytic model renders
MUAPs b(θ), R consecutive samples of each become an extended column b̃(θ)
(:mod:`.columns`), and the MVDR estimator gives the source ŝ(θ) = b̃ᵀC⁻¹x̃ (:mod:`.mvdr`). Its
excess kurtosis (:mod:`.contrast`) is ascended over θ with Adam, all candidates of a restart in
one batch, from the best points of a Latin-hypercube probe. Each restart ends with spike
detection on the converged sources (peaks + 2-means, as the baseline), acceptance by SIL,
pooling of unique units (duplicates by rate of agreement keep the higher contrast), and
peel-off: the accepted units' spike-triggered MUAPs are subtracted from the recording and the
estimator refitted, so smaller units can surface in the next restart.

What the contrast can and cannot see: ŝ is scaled by 1/(b̃ᵀC⁻¹b̃), so the kurtosis is
invariant to the MUAP's amplitude and the fibre count has no gradient. It is left out of the
search (held at its mid-range). The contrast is also flat along some directions (conduction
velocity, fibre lengths and territory size trade off for sparsity), so every new unit's θ is
then refined against its spike-triggered MUAP (:mod:`.waveform`), which also gives the fibre
count (least-squares gain), the discharge instants on the model's clock, and the uncertainty:
the Laplace (Gauss–Newton) standard deviation of that least-squares fit, per field, in
normalised units.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from numpy.typing import NDArray
from scipy.stats import qmc

from bmiss_engine.forward.analytic import AnalyticForwardModel, SpectralGrid
from bmiss_engine.forward.cylindrical import AxialGrid, CylindricalForwardModel
from bmiss_engine.forward.parameters import AnatomyParameters, Bound, MotorUnitParameters, to_unit_interval
from bmiss_engine.forward.surrogate import ForwardModel, SurrogateForwardModel, check_anatomy
from bmiss_engine.inversion.columns import extended_columns
from bmiss_engine.inversion.contrast import excess_kurtosis
from bmiss_engine.inversion.mvdr import MvdrEstimator
from bmiss_engine.inversion.residual import (
    activity_snapshots,
    detect_mvdr_discharges,
    detection_at,
    peeled,
    spike_triggered_average,
)
from bmiss_engine.inversion.settings import InversionConfig, InversionProgress, InvertedUnit
from bmiss_engine.inversion.waveform import fit_to_waveform, misfit_table
from bmiss_engine.progress import checkpoint, drain, relay
from bmiss_engine.recording import ElectrodeGrid
from bmiss_engine.separation.acceptance import AcceptanceRule
from bmiss_engine.separation.spikes import SpikeDetection

log = logging.getLogger(__name__)

# the candidates' contrasts and SILs of a snapshot taken within a restart: none yet
_NONE = np.zeros(0, dtype=np.float64)

THETA_NAMES: tuple[str, ...] = MotorUnitParameters.field_names()
# the contrast is blind to amplitude: the fibre count is fitted afterwards, not searched
AMPLITUDE_FIELD = "n_fibres"
SEARCHED_FIELDS: tuple[str, ...] = tuple(n for n in THETA_NAMES if n != AMPLITUDE_FIELD)
_POSITION_FIELDS = ("depth_mm", "ml_mm", "iz_mm")


@dataclass
class _PoolEntry:
    theta: NDArray[np.float64]  # searched fields only
    detection: SpikeDetection
    contrast: float
    restart: int
    n_converged: int = 1
    amplitude: float | None = None  # normalised fibre count from the waveform fit
    sd: NDArray[np.float64] | None = None  # searched fields
    residual: float = float("nan")


class ThetaSearch:
    """Runs the inversion on one recording (EMG in volts) with a fixed anatomy.

    ``model`` renders the MUAPs (its pre/duration window fixes the MUAP length; None: the one
    ``config.forward_model`` names); ``anatomy`` holds scalar tensors. Computation runs on
    ``device`` in float32. The surrogate raises :class:`~bmiss_engine.errors.SurrogateError`
    here already for an anatomy it does not serve.

    θ is searched in [0, 1] over :meth:`bounds`: the planar models' fixed
    :attr:`MotorUnitParameters.BOUNDS`; for the cylinder, depth and medio-lateral position
    fitted to the limb and the grid (:meth:`CylindricalForwardModel.unit_bounds`). The units
    returned give θ on the fixed bounds' scale whatever the model (``theta_unit`` and
    ``theta_sd_unit``, as :data:`bmiss_engine.results.THETA_FIELDS` read them).
    """

    def __init__(
        self,
        config: InversionConfig | None = None,
        model: ForwardModel | None = None,
        anatomy: AnatomyParameters | None = None,
        device: torch.device | None = None,
    ) -> None:
        self.config = config if config is not None else InversionConfig()
        cfg = self.config
        self.rule = AcceptanceRule(cfg.sil_threshold, cfg.min_discharges, cfg.max_cov_isi, cfg.duplicate_roa)
        # the inversion's own model: spectral sums cut at e^(−kD) < 1e-3 (1.6× faster than the
        # simulator's 1e-5, MUAPs within 1e-6 relative of it on the test problems)
        self.model: ForwardModel
        if model is not None:
            self.model = model
        elif self.config.forward_model == "surrogate":
            self.model = SurrogateForwardModel()
        elif self.config.forward_model == "cylindrical":
            # the same 1e-3 cut as the planar model's (research/README.md section 12); each unit's
            # transfer read from a table over the radius built once per limb, not Bessel
            # recurrences at every call (MUAPs within 1e-8 of them, the restart 1.2-1.4x faster:
            # bench/results/cylinder_fast_path_cpu.md)
            self.model = CylindricalForwardModel(
                muscle_radius_mm=cfg.muscle_radius_mm, bone_radius_mm=cfg.bone_radius_mm, grid_around=cfg.grid_around,
                axial=AxialGrid(tolerance=1e-3), radial_step_mm=0.5,
            )
        else:
            self.model = AnalyticForwardModel(spectral=SpectralGrid(tolerance=1e-3))
        self.device = device if device is not None else torch.device("cpu")
        base = anatomy if anatomy is not None else AnatomyParameters.default()
        self.anatomy = AnatomyParameters(
            **{k: v.to(device=self.device, dtype=torch.float32) for k, v in base.as_dict().items()}
        )
        if isinstance(self.model, SurrogateForwardModel):
            check_anatomy(self.anatomy)
        if isinstance(self.model, CylindricalForwardModel):
            self.model.geometry(self.anatomy)  # a limb the cylinder cannot take fails here
        self._amplitude_mid = 0.5  # normalised fibre count while searching

    # -- the search space -----------------------------------------------------------------
    def bounds(self, grid: ElectrodeGrid) -> dict[str, Bound]:
        """Physical range of every θ field that [0, 1] spans in the search, on ``grid``."""
        if isinstance(self.model, CylindricalForwardModel):
            return self.model.unit_bounds(self.anatomy, grid)
        return MotorUnitParameters.BOUNDS

    def parameters(self, theta_unit: torch.Tensor, grid: ElectrodeGrid) -> MotorUnitParameters:
        """Units in physical terms of full θ (..., n_params) in the search's [0, 1]."""
        if theta_unit.shape[-1] != len(THETA_NAMES):
            raise ValueError(f"expected {len(THETA_NAMES)} columns ({', '.join(THETA_NAMES)}), got {theta_unit.shape[-1]}")
        bounds = self.bounds(grid)
        return MotorUnitParameters(**{n: bounds[n].from_unit(theta_unit[..., i]) for i, n in enumerate(THETA_NAMES)})

    def rendered(self, units: MotorUnitParameters) -> MotorUnitParameters:
        """``units`` as the model renders them: a territory that would reach past the muscle
        surface (or, in the cylinder, into the bone) is rendered as the largest that fits, so
        that is the radius reported (the search can wander to any larger one at no cost)."""
        if isinstance(self.model, CylindricalForwardModel):
            limit = self.model.territory_limit_mm(units.depth_mm, self.model.geometry(self.anatomy))
        else:
            limit = units.depth_mm  # the planar models' territory stays below the muscle surface
        return replace(units, territory_radius_mm=torch.minimum(units.territory_radius_mm,
                                                                            limit.to(units.territory_radius_mm)))

    # -- θ and sources --------------------------------------------------------------------
    def full_theta(self, searched: torch.Tensor, amplitude: torch.Tensor | None = None) -> torch.Tensor:
        """θ (K, n_params) from the searched fields (K, n_searched); the fibre count is
        ``amplitude`` (K,) or its mid-range."""
        n = searched.shape[0]
        amp = amplitude if amplitude is not None else torch.full((n,), self._amplitude_mid, dtype=searched.dtype,
                                                                 device=searched.device)
        cols = []
        it = iter(searched.unbind(dim=1))
        for name in THETA_NAMES:
            cols.append(amp if name == AMPLITUDE_FIELD else next(it))
        return torch.stack(cols, dim=1)

    def render(self, theta_unit: torch.Tensor, grid: ElectrodeGrid, fs: float) -> torch.Tensor:
        """MUAPs (K, n_channels, n_muap_samples) in volts of full θ (K, n_params) in [0, 1]."""
        return self.model.muaps(self.parameters(theta_unit.to(torch.float32), grid), self.anatomy, grid, fs)

    def sources(
        self, searched: torch.Tensor, estimator: MvdrEstimator, grid: ElectrodeGrid, fs: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """MVDR sources (K, n_samples) of searched θ (K, n_searched), and each window end d (K,)."""
        muaps = self.render(self.full_theta(searched), grid, fs)
        columns, end = extended_columns(muaps, estimator.extension_factor)
        return estimator.sources(columns), end

    def contrast(self, searched: torch.Tensor, estimator: MvdrEstimator, grid: ElectrodeGrid,
                 fs: float) -> torch.Tensor:
        """Excess kurtosis (K,) of the sources of searched θ (K, n_searched)."""
        src, _ = self.sources(searched, estimator, grid, fs)
        return excess_kurtosis(src, guard=self._guard(estimator, fs), clip=self.config.contrast_clip)

    def _guard(self, estimator: MvdrEstimator, fs: float) -> int:
        """Samples left out at each end: the extension's zero padding and MUAPs cut by the edge."""
        return estimator.extension_factor + self.model.n_samples(fs)

    def ascend(
        self, start: torch.Tensor, estimator: MvdrEstimator, grid: ElectrodeGrid, fs: float, n_steps: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Adam ascent of the contrast from searched θ (K, n_searched), kept in [0, 1]; returns
        each candidate's best θ seen and its contrast (K,)."""
        return drain(self.ascent(start, estimator, grid, fs, n_steps))

    def ascent(
        self, start: torch.Tensor, estimator: MvdrEstimator, grid: ElectrodeGrid, fs: float, n_steps: int
    ) -> Generator[int, None, tuple[torch.Tensor, torch.Tensor]]:
        """:meth:`ascend` step by step: yields the step just taken, returns as it does."""
        theta = start.detach().clone().to(self.device, torch.float32).requires_grad_(True)
        optimiser = torch.optim.Adam([theta], lr=self.config.learning_rate)
        best = theta.detach().clone()
        best_value = torch.full((theta.shape[0],), -torch.inf, device=self.device)
        for step in range(n_steps + 1):
            checkpoint()
            value = self.contrast(theta, estimator, grid, fs)
            with torch.no_grad():
                better = value.detach() > best_value
                best[better] = theta.detach()[better]
                best_value = torch.where(better, value.detach(), best_value)
            if step == n_steps:
                break
            optimiser.zero_grad()
            torch.autograd.backward(-value.sum())  # candidates are independent: one backward for all
            optimiser.step()
            with torch.no_grad():
                theta.clamp_(0.0, 1.0)
            yield step
        return best, best_value

    def probe(
        self, estimator: MvdrEstimator, grid: ElectrodeGrid, fs: float, restart: int, x: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Starting points of a restart, searched θ (n_candidates, n_searched), from one
        Latin-hypercube probe rendered once.

        Up to ``snapshot_candidates`` of them come from the data (when ``x``, the current
        recording (n_channels, n_samples), is given): at the instants of highest activity
        Σ_c x², one unit's MUAP dominates the multichannel snapshot, and the probe point whose
        MUAP fits the snapshot best (any lag) is a start near that unit. The rest are the
        probe points of highest contrast, kept apart in position.
        """
        cfg = self.config
        sampler = qmc.LatinHypercube(d=len(SEARCHED_FIELDS), seed=cfg.seed + 7919 * restart)
        points = torch.as_tensor(sampler.random(cfg.n_probe), dtype=torch.float32, device=self.device)
        # the source's sparsity hangs mostly on position; the other fields start near mid-range,
        # where a poor value costs least, and the ascent moves them
        others = [i for i, n in enumerate(SEARCHED_FIELDS) if n not in _POSITION_FIELDS]
        points[:, others] = 0.5 + (points[:, others] - 0.5) * cfg.probe_other_width
        n_muap = self.model.n_samples(fs)
        snapshots = None
        if x is not None and cfg.snapshot_candidates > 0:
            snapshots = activity_snapshots(x, cfg.snapshot_candidates, n_muap, self._guard(estimator, fs),
                                            round(0.02 * fs))
        values, misfits = [], []
        with torch.no_grad():
            for start in range(0, cfg.n_probe, cfg.probe_batch):
                checkpoint()
                muaps = self.render(self.full_theta(points[start : start + cfg.probe_batch]), grid, fs)
                columns, _ = extended_columns(muaps, estimator.extension_factor)
                values.append(excess_kurtosis(estimator.sources(columns), guard=self._guard(estimator, fs),
                                              clip=cfg.contrast_clip))
                if snapshots is not None:
                    misfits.append(misfit_table(muaps, snapshots, n_muap // 2))
        picked: list[int] = []
        if misfits:
            for i in torch.cat(misfits, dim=1).argmin(dim=1).tolist():
                if i not in picked:
                    picked.append(i)
        order = torch.cat(values).argsort(descending=True).tolist()
        # the best points of one basin crowd out the others: keep the candidates apart in position
        position = points[:, [SEARCHED_FIELDS.index(n) for n in _POSITION_FIELDS]]
        for i in order:
            if len(picked) >= cfg.n_candidates:
                break
            if all(float((position[i] - position[p]).norm()) >= cfg.probe_separation for p in picked):
                picked.append(i)
        for i in order:  # too few far apart: fill up with the best of the rest
            if len(picked) >= cfg.n_candidates:
                break
            if i not in picked:
                picked.append(i)
        return points[picked[: cfg.n_candidates]]

    # -- the whole search -----------------------------------------------------------------
    def iterate(
        self, emg_v: torch.Tensor, grid: ElectrodeGrid, fs: float, known: Sequence[NDArray[np.int64]] = ()
    ) -> Generator[InversionProgress, None, tuple[InvertedUnit, ...]]:
        """Run the restarts on EMG (n_channels, n_samples) in volts (channels as ``grid``);
        yields after each restart, returns the pooled units.

        ``known``: discharge instants (samples, the model's discharge clock) of units found
        already, e.g. by the baseline: they are peeled off before the first restart, so the
        search runs on the residual, and a candidate that repeats one of them is not a new
        unit. They are not among the units returned."""
        cfg = self.config
        x = emg_v.to(self.device, torch.float32)
        x = x - x.mean(dim=1, keepdim=True)
        scale = float(x.pow(2).mean().sqrt().clamp_min(1e-30))
        x = x / scale  # unit RMS: float32 covariance well inside range; the MVDR source is scale-free
        factor = cfg.extension_for(x.shape[0], x.shape[1])
        onset = self.model.onset(fs)
        known_entries = [_PoolEntry(np.full(len(SEARCHED_FIELDS), 0.5), detection_at(np.asarray(d, dtype=np.int64),
                                                                                     x.shape[1]), float("nan"), -1)
                         for d in known]
        if known_entries:
            x, _ = peeled(x, [e.detection.discharge_samples for e in known_entries], onset, self.model.n_samples(fs), fs)
        estimator, loaded = MvdrEstimator.fit_floors(x, factor, (cfg.rel_floor, cfg.search_rel_floor))
        pool: list[_PoolEntry] = []
        pooled: tuple[InvertedUnit, ...] = ()
        for restart in range(cfg.n_restarts):

            def heartbeat(_: object, restart: int = restart, shown: tuple[InvertedUnit, ...] = pooled,
                          ) -> InversionProgress:
                # a snapshot between the steps of a restart: the pool as the last restart left it
                return InversionProgress(restart, cfg.n_restarts, shown, _NONE, _NONE, complete=False)

            # probe and ascent on the loaded estimator (wide basins), then a few steps on the
            # fine one, whose sources separate best
            start = self.probe(loaded, grid, fs, restart, x)
            theta, _ = yield from relay(self.ascent(start, loaded, grid, fs, cfg.n_steps), heartbeat)
            theta, value = yield from relay(self.ascent(theta, estimator, grid, fs, cfg.fine_steps), heartbeat)
            with torch.no_grad():
                src, end = self.sources(theta, estimator, grid, fs)
                src_loaded, _ = self.sources(theta, loaded, grid, fs)
            sources = src.cpu().numpy()
            sources_loaded = src_loaded.cpu().numpy()
            shift = (end - onset).cpu().numpy()
            sils: list[float] = []
            promising: list[_PoolEntry] = []
            for j in range(theta.shape[0]):
                # a θ still a little off separates better through the loaded estimator: the
                # cleaner of the two sources is kept
                det = max((detect_mvdr_discharges(s, fs, int(shift[j]), factor) for s in (sources[j], sources_loaded[j])),
                          key=lambda d: d.sil)
                sils.append(det.sil)
                if det.sil < min(cfg.refine_sil, cfg.sil_threshold) or det.discharge_samples.size < cfg.min_discharges:
                    continue
                entry = _PoolEntry(theta[j].detach().cpu().numpy().astype(np.float64), det, float(value[j]), restart)
                slot = self._duplicate_slot(det, known_entries + pool + promising, fs)
                if slot is None:
                    promising.append(entry)
                elif slot >= len(known_entries):
                    (pool + promising)[slot - len(known_entries)].n_converged += 1
            if log.isEnabledFor(logging.DEBUG):
                log.debug("restart %d: best candidate SILs %s, %d promising", restart,
                          [round(v, 3) for v in sorted(sils)[-5:]], len(promising))
            if promising and cfg.refine_steps > 0:
                yield heartbeat(None)
                # half-converged candidates too: the STA fit pulls θ into the unit's basin, and
                # the source at the refined θ is detected again
                self._refine(promising, x * scale, grid, fs)
                yield heartbeat(None)
                self._redetect(promising, estimator, grid, fs)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("restart %d: refined candidates (SIL, discharges, CoV ISI) %s", restart,
                          [(round(e.detection.sil, 3), int(e.detection.discharge_samples.size),
                            round(e.detection.cov_isi, 2)) for e in promising])
            new: list[_PoolEntry] = []
            for entry in promising:
                if (self._acceptable(entry.detection, fs)
                        and self._duplicate_slot(entry.detection, known_entries + pool + new, fs) is None):
                    new.append(entry)
            pool.extend(new)
            log.info("restart %d: %d candidates, %d new units, %d in the pool", restart, theta.shape[0], len(new),
                     len(pool))
            if cfg.peel_off and new and restart + 1 < cfg.n_restarts:
                x, completed = peeled(x, [e.detection.discharge_samples for e in new], onset,
                                       self.model.n_samples(fs), fs)
                for e, discharges in zip(new, completed, strict=True):
                    e.detection = replace(e.detection, discharge_samples=discharges)
                del estimator, loaded  # free their whitened signals before the new pair is built
                estimator, loaded = MvdrEstimator.fit_floors(x, factor, (cfg.rel_floor, cfg.search_rel_floor))
            pooled = tuple(self._unit(e, grid, fs, emg_v) for e in pool)
            yield InversionProgress(
                restart, cfg.n_restarts, pooled,
                value.detach().cpu().numpy().astype(np.float64), np.asarray(sils, dtype=np.float64),
            )
        return pooled

    def run(
        self, emg_v: torch.Tensor, grid: ElectrodeGrid, fs: float, known: Sequence[NDArray[np.int64]] = ()
    ) -> tuple[InvertedUnit, ...]:
        """All restarts (``known`` as :meth:`iterate`); the pooled units."""
        found: tuple[InvertedUnit, ...] = drain(self.iterate(emg_v, grid, fs, known))
        return found

    # -- steps ----------------------------------------------------------------------------
    def _acceptable(self, det: SpikeDetection, fs: float) -> bool:
        return self.rule.accepts(det, fs)

    def _duplicate_slot(self, det: SpikeDetection, pool: list[_PoolEntry], fs: float) -> int | None:
        # a wrong θ can misplace the MVDR window by up to a MUAP: lags up to its duration
        return self.rule.duplicate_of(det.discharge_samples, [e.detection.discharge_samples for e in pool], fs,
                                      max_lag_s=self.model.duration_s)

    def _redetect(self, entries: list[_PoolEntry], estimator: MvdrEstimator, grid: ElectrodeGrid, fs: float) -> None:
        """Detect the entries' discharges again on the MVDR source of their (refined) θ; the
        new detection replaces the old where its SIL is at least as high."""
        theta = torch.as_tensor(np.stack([e.theta for e in entries]), dtype=torch.float32, device=self.device)
        with torch.no_grad():
            src, end = self.sources(theta, estimator, grid, fs)
            value = excess_kurtosis(src, guard=self._guard(estimator, fs), clip=self.config.contrast_clip)
        shift = (end - self.model.onset(fs)).cpu().numpy()
        sources = src.cpu().numpy()
        for k, e in enumerate(entries):
            det = detect_mvdr_discharges(sources[k], fs, int(shift[k]), estimator.extension_factor)
            if det.sil >= e.detection.sil and det.discharge_samples.size >= 2:
                e.detection = det
                e.contrast = float(value[k])

    def fit_units(
        self, emg_v: torch.Tensor, grid: ElectrodeGrid, fs: float, trains: list[NDArray[np.int64]],
        max_lag_s: float = 0.02, templates_v: torch.Tensor | None = None,
    ) -> tuple[InvertedUnit, ...]:
        """θ of units whose discharges are already known (e.g. from FastICA), fitted to their
        spike-triggered MUAPs in ``emg_v`` (n_channels, n_samples, volts, channels as
        ``grid``): one :class:`InvertedUnit` per train, its detection holding the discharges
        moved to the modelled discharge instant.

        Each unit starts from the best-fitting points of a Latin-hypercube probe (there is no
        contrast θ to start from). ``max_lag_s``: how far the discharges given may sit from the
        model's discharge instant (FastICA marks the MUAP's energy peak, up to a propagation
        time after the instant). ``templates_v``: (K, n_channels, n_muap + 2·lag) MUAP estimates
        in volts to fit instead of the spike-triggered averages (e.g. joint least-squares ones,
        which the other units do not leak into), the discharge ``lag`` = round(max_lag_s·fs)
        samples after each window's start plus the model's onset."""
        x = emg_v.to(self.device, torch.float32)
        x = x - x.mean(dim=1, keepdim=True)
        entries = [
            _PoolEntry(np.full(len(SEARCHED_FIELDS), 0.5), detection_at(np.asarray(t, dtype=np.int64), x.shape[1]),
                       float("nan"), 0)
            for t in trains
        ]
        if entries:
            self._refine(entries, x, grid, fs, max_lag_s=max_lag_s, probe_starts_only=True, targets=templates_v)
        return tuple(self._unit(e, grid, fs, x) for e in entries)

    def _refine(self, entries: list[_PoolEntry], x_v: torch.Tensor, grid: ElectrodeGrid, fs: float,
                max_lag_s: float | None = None, probe_starts_only: bool = False,
                targets: torch.Tensor | None = None) -> None:
        """Fit the new units' θ to their spike-triggered MUAPs in ``x_v`` (n_channels,
        n_samples, volts), in place: θ, fibre count, Laplace sd, discharges moved to the
        modelled discharge instant. ``probe_starts_only``: the entries' θ is no estimate, the
        fit starts from the probe's best points alone."""
        cfg = self.config
        onset, n_muap = self.model.onset(fs), self.model.n_samples(fs)
        max_lag = max(1, round((cfg.refine_max_lag_s if max_lag_s is None else max_lag_s) * fs))
        if targets is not None:
            sta = targets.to(self.device, torch.float32)
        else:
            sta = torch.stack([
                spike_triggered_average(x_v, e.detection.discharge_samples, onset + max_lag, n_muap + 2 * max_lag)
                for e in entries
            ])

        def render(searched: torch.Tensor) -> torch.Tensor:
            return self.render(self.full_theta(searched), grid, fs)

        sampler = qmc.LatinHypercube(d=len(SEARCHED_FIELDS), seed=cfg.seed + 1)
        probe = torch.as_tensor(sampler.random(cfg.n_probe), dtype=torch.float32, device=self.device)
        # without an estimate the fit starts from the probe's best points alone
        start = None if probe_starts_only else torch.as_tensor(
            np.stack([e.theta for e in entries]), dtype=torch.float32, device=self.device)
        fit = fit_to_waveform(render, start, sta, max_lag, cfg.refine_steps, cfg.refine_learning_rate,
                              n_starts=cfg.refine_starts, probe=probe, probe_batch=cfg.probe_batch)
        bound = MotorUnitParameters.BOUNDS[AMPLITUDE_FIELD]
        n_mid = float(bound.from_unit(torch.tensor(self._amplitude_mid, dtype=torch.float64)))
        for k, e in enumerate(entries):
            e.theta = fit.theta[k].detach().cpu().numpy().astype(np.float64)
            n_fibres = float(np.clip(n_mid * max(float(fit.gain[k]), 1e-12), bound.low, bound.high))
            e.amplitude = float(bound.to_unit(torch.tensor(n_fibres, dtype=torch.float64)))
            e.sd = fit.sd[k]
            e.residual = float(fit.relative_residual[k])
            # the STA matched the model shifted by ``lag``: the discharges move by it too
            d = e.detection.discharge_samples + int(fit.lag[k])
            e.detection = replace(e.detection, discharge_samples=d[(d >= 0) & (d < x_v.shape[1])],
                                  pulse_train=np.roll(e.detection.pulse_train, int(fit.lag[k])))

    def _unit(self, entry: _PoolEntry, grid: ElectrodeGrid, fs: float, emg_v: torch.Tensor) -> InvertedUnit:
        """The pooled entry as a unit: θ in full (fibre count from the waveform fit, or from the
        spike-triggered average's gain when there was none), rendered MUAP, uncertainty."""
        searched = torch.as_tensor(entry.theta[None, :], dtype=torch.float32, device=self.device)
        onset = self.model.onset(fs)
        with torch.no_grad():
            if entry.amplitude is None:
                reference = self.render(self.full_theta(searched), grid, fs)[0]
                x_v = emg_v.to(self.device, torch.float32)
                average = spike_triggered_average(x_v - x_v.mean(dim=1, keepdim=True),
                                                   entry.detection.discharge_samples, onset, reference.shape[1])
                gain = float((reference * average).sum() / (reference * reference).sum().clamp_min(1e-30))
                bound = MotorUnitParameters.BOUNDS[AMPLITUDE_FIELD]
                n_mid = float(bound.from_unit(torch.tensor(self._amplitude_mid, dtype=torch.float64)))
                n_fibres = float(np.clip(n_mid * max(gain, 1e-12), bound.low, bound.high))
                entry.amplitude = float(bound.to_unit(torch.tensor(n_fibres, dtype=torch.float64)))
            amplitude = torch.tensor([entry.amplitude], dtype=torch.float32, device=self.device)
            theta_full = self.full_theta(searched, amplitude)
            muap = self.render(theta_full, grid, fs)[0]
            physical = self.rendered(self.parameters(theta_full.double().cpu(), grid))
        sd = np.full(len(THETA_NAMES), np.nan)
        if entry.sd is not None:
            sd[[THETA_NAMES.index(n) for n in SEARCHED_FIELDS]] = entry.sd
        # θ and its sd on the fixed bounds' scale (where the search's differ: the cylinder)
        bounds, fixed = self.bounds(grid), MotorUnitParameters.BOUNDS
        sd *= np.array([(bounds[n].high - bounds[n].low) / (fixed[n].high - fixed[n].low) if not fixed[n].log else 1.0
                        for n in THETA_NAMES])
        return InvertedUnit(
            theta_unit=to_unit_interval(physical)[0].numpy(),
            theta_sd_unit=sd,
            theta_physical={k: float(v[0]) for k, v in physical.as_dict().items()},
            detection=entry.detection,
            contrast=entry.contrast,
            muap_v=muap.cpu().numpy().astype(np.float32),
            muap_onset=onset,
            restart=entry.restart,
            n_converged=entry.n_converged,
            waveform_residual=entry.residual,
        )

