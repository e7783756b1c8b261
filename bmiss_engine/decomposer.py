"""The decomposition driver: ``Decomposer(config).iterate(recording)`` yields progress and
returns the result; ``run()`` drains it; ``transform()`` applies learned filters to new data.

The baseline is convolutive FastICA (Negro et al. 2016): band-pass, extension, whitening,
fixed-point FastICA from the activity-index maxima, CoV-of-ISI refinement, spike detection
by peaks and 2-class k-means, acceptance on SIL, peel-off, duplicate removal. Separation
vectors run in batches: one pass over the whitened data serves the whole batch.

``method="bmiss"`` runs the inversion of the analytic forward model instead
(:mod:`bmiss_engine.inversion`): one :class:`IterationState` per restart, units carrying their
θ estimate and its uncertainty, states carrying the current MUAP templates.

``method="hybrid"`` runs the baseline, then fits θ of every unit found to its spike-triggered
MUAP (:meth:`ThetaSearch.fit_units`): the baseline's discharges, each unit with its depth,
position, innervation zone, conduction velocity, fibre count and their uncertainties.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

# re-exported: the settings and snapshots are defined without torch (bmiss_engine.config)
from bmiss_engine.config import DecomposerConfig as DecomposerConfig
from bmiss_engine.config import IterationState as IterationState
from bmiss_engine.config import Method as Method
from bmiss_engine.config import Phase as Phase
from bmiss_engine.device import describe_device, pick_device, release_device_memory
from bmiss_engine.errors import DecompositionError
from bmiss_engine.forward.parameters import MotorUnitParameters
from bmiss_engine.inversion import InvertedUnit, ThetaSearch
from bmiss_engine.recording import Recording
from bmiss_engine.results import DecompositionResult, MotorUnit, SeparationModel
from bmiss_engine.separation import preprocess
from bmiss_engine.separation.alignment import muap_onset_offset, muap_peak_offset, shift_train
from bmiss_engine.separation.ckc import spike_train_filters
from bmiss_engine.separation.diversity import duplicate_columns, top_peak_samples
from bmiss_engine.separation.duplicates import matched_count, rate_of_agreement, shared_fraction
from bmiss_engine.separation.fastica import contrast_by_name, fixed_point
from bmiss_engine.separation.peel import Peel, peel_off, restore
from bmiss_engine.separation.quality import fires_steadily
from bmiss_engine.separation.spikes import SpikeDetection, detect_discharges, meets_acceptance, refine_by_cov
from bmiss_engine.separation.whitening import (
    apply_extended_filters,
    extension_factor_for,
    fit_whitening,
    whiten,
)

log = logging.getLogger(__name__)

_MIN_DURATION_S = 1.0
# how far after a discharge the CKC filter of an inverted unit may look for its MUAP: a MUAP
# lasts up to ~30 ms from the discharge instant (propagation to the fibre ends)
_CKC_MAX_LAG_S = 0.03
# a candidate sharing more than this fraction of its discharges with a unit is part of it
_FRAGMENT_SHARE = 0.5
# fixed-point steps of the second look: each is one pass of one vector over z (cheap next to
# the main loop's batches), and they pull a filter off the mixture it started in
_POLISH_FIXED_POINT_ITER = 5
# units this clean skip the second look (on MyoGen D_15dB those it helped had SIL 0.93–0.95)
_CLEAN_SIL = 0.95
_SAME_UNIT_ROA = 0.5
# a source this clean is a motor unit, accepted or not: later vectors stay orthogonal to it
_EXPLAINED_SIL = 0.8


@dataclass
class _Prepared:
    x: torch.Tensor  # (n_used, n_samples), preprocessed
    channels: tuple[int, ...]
    factor: int


class Decomposer:
    """Decomposes recordings into motor units with the settings in ``config``."""

    def __init__(self, config: DecomposerConfig | None = None) -> None:
        self.config = config if config is not None else DecomposerConfig()

    # -- public API ----------------------------------------------------------------------
    def run(self, recording: Recording) -> DecompositionResult:
        """Decompose ``recording`` to the end and return the result."""
        gen = self.iterate(recording)
        while True:
            try:
                next(gen)
            except StopIteration as stop:
                result: DecompositionResult = stop.value
                return result

    def iterate(self, recording: Recording) -> Generator[IterationState, None, DecompositionResult]:
        """Decompose step by step: yields :class:`IterationState`, returns the result.

        Closing the generator (``gen.close()``) cancels: device memory is released.
        """
        cfg = self.config
        if cfg.method == "bmiss":
            return (yield from self._iterate_bmiss(recording))
        if cfg.method == "hybrid":
            return (yield from self._iterate_hybrid(recording))
        device = pick_device(cfg.device)
        t0 = time.perf_counter()
        if cfg.window_s is not None:
            recording = recording.crop(*cfg.window_s)
        fs = recording.sampling_rate_hz
        z: torch.Tensor | None = None
        prepared: _Prepared | None = None
        try:
            yield IterationState(0, cfg.n_iterations, (), float("nan"), "preparing", 0.0, "preprocessing")
            prepared = self._prepare(recording, device)
            whitening = fit_whitening(prepared.x, prepared.factor)
            z = whiten(prepared.x, prepared.factor, whitening)
            log.info("whitened %d extended rows to %d", prepared.x.shape[0] * prepared.factor, whitening.n_whitened)
            units: list[MotorUnit] = []
            filters: list[torch.Tensor] = []  # whitened-domain vectors of accepted units
            peels: list[Peel | None] = []  # what peel-off took out of z for each unit
            near_misses: list[torch.Tensor] = []  # vectors of unit-like sources not accepted
            basis: torch.Tensor | None = None
            used = torch.zeros(z.shape[0], dtype=torch.bool, device=device)
            half_window = round(0.025 * fs) + prepared.factor
            exclusion = max(1, round(0.02 * fs))
            # the extension's zero padding and the filter's transients make edge peaks
            used[:half_window] = True
            used[-half_window:] = True
            contrast = contrast_by_name(cfg.contrast)
            iteration, idle_batches = 0, 0
            while iteration < cfg.n_iterations and idle_batches < cfg.patience_batches:
                k = min(cfg.batch_size, cfg.n_iterations - iteration)
                # z changes only by peel-off between batches: one activity index per batch
                activity = torch.linalg.vector_norm(z, dim=1) ** 2
                starts = _activity_maxima(activity, used, k, exclusion)
                if starts.numel() == 0:
                    break
                w = self._diverse_starts(z, activity, starts, used, basis, exclusion, half_window)
                w, _ = fixed_point(z, w, contrast, basis, cfg.max_fixed_point_iter,
                                   cfg.tolerance, cfg.converged_fraction)
                w, detections = refine_by_cov(z, w, fs, cfg.refine_steps)
                added = 0
                for j, det in enumerate(detections):
                    iteration += 1
                    if self._acceptable(det, fs):
                        det, lag = _aligned(det, prepared.x, half_window)
                        slot = self._duplicate_slot(det, units, fs)
                        if slot is None:
                            units.append(_make_unit(len(units), det, fs, lag))
                            filters.append(w[:, j].clone())
                            added += 1
                            peels.append(
                                peel_off(z, torch.as_tensor(det.discharge_samples, device=device), half_window)
                                if cfg.peel_off else None
                            )
                        elif det.cov_isi < units[slot].cov_isi:
                            units[slot] = _make_unit(units[slot].unit_id, det, fs, lag)
                            filters[slot] = w[:, j].clone()
                    elif det.sil >= _EXPLAINED_SIL and det.discharge_samples.size >= cfg.min_discharges:
                        near_misses.append(w[:, j].clone())
                    if det.sil >= _EXPLAINED_SIL:
                        # accepted or not, a unit-like source is not to be found again: keep later
                        # vectors orthogonal to it (Negro et al. 2016). Accepted ones are also peeled.
                        basis = _extend_basis(basis, w[:, j])
                    yield IterationState(
                        iteration, cfg.n_iterations, tuple(units), det.sil, "separating",
                        time.perf_counter() - t0, f"{len(units)} units", det.pulse_train,
                    )
                idle_batches = 0 if added else idle_batches + 1
            if cfg.polish and cfg.peel_off:
                yield from self._polish(z, prepared.x, units, filters, peels, near_misses, fs, half_window,
                                        iteration, t0)
            yield IterationState(iteration, cfg.n_iterations, tuple(units), float("nan"), "finishing",
                                 time.perf_counter() - t0, "removing duplicates")
            keep = _without_duplicates(units, fs, cfg.duplicate_roa)
            ext_filters = [
                (whitening.matrix @ filters[i]).cpu().numpy().astype(np.float32) for i in keep
            ]
            # ids stay those the live snapshots showed: a unit the user watched appear as
            # unit 4 is still unit 4 in the result, even when duplicates before it went away
            final = tuple(
                _marked(dataclasses.replace(units[i], separation_filter=f), prepared.x, half_window, cfg.discharge_marking)
                for i, f in zip(keep, ext_filters, strict=True)
            )
            wall_s = time.perf_counter() - t0
            result = DecompositionResult(
                units=final,
                sampling_rate_hz=fs,
                n_samples=recording.n_samples,
                model=SeparationModel(prepared.channels, prepared.factor, cfg.band_hz, cfg.notch_hz, fs),
                config=cfg.as_dict(),
                provenance={
                    "source": recording.source,
                    "device": describe_device(device),
                    "wall_time_s": wall_s,
                    "n_whitened": whitening.n_whitened,
                    "iterations": iteration,
                    "engine": _engine_version(),
                },
            )
            yield IterationState(iteration, cfg.n_iterations, final, float("nan"), "done", wall_s,
                                 f"{len(final)} units in {wall_s:.1f} s")
            return result
        finally:
            # runs on normal return, on error, and when the consumer closes the generator
            del z, prepared
            release_device_memory(device)

    def _iterate_bmiss(self, recording: Recording) -> Generator[IterationState, None, DecompositionResult]:
        """The BMISS inversion (see :mod:`bmiss_engine.inversion`) behind the same protocol.

        The EMG is used in volts without band-pass: the rendered MUAPs are compared with it
        sample by sample, and a filter on one side only would bias θ. Bad channels (marked or
        detected on a band-passed copy) are left out of both the data and the model's grid.
        """
        cfg = self.config
        device = pick_device(cfg.device)
        t0 = time.perf_counter()
        if cfg.window_s is not None:
            recording = recording.crop(*cfg.window_s)
        fs = recording.sampling_rate_hz
        total = cfg.inversion_restarts
        emg: torch.Tensor | None = None
        try:
            yield IterationState(0, total, (), float("nan"), "preparing", 0.0, "selecting channels")
            channels = self._inversion_channels(recording)
            grid = recording.grid
            sub_grid = dataclasses.replace(grid, channel_rc=grid.channel_rc[list(channels)], bad_channels=())
            emg = torch.as_tensor(np.ascontiguousarray(recording.emg_v[list(channels)]), dtype=torch.float32,
                                  device=device)
            search = ThetaSearch(cfg.inversion_config(), anatomy=cfg.anatomy(), device=device)
            gen = search.iterate(emg, sub_grid, fs)
            while True:
                try:
                    progress = next(gen)
                except StopIteration as stop:
                    found: tuple[InvertedUnit, ...] = stop.value
                    break
                units = tuple(_inverted_unit(i, u, fs) for i, u in enumerate(progress.units))
                best_sil = float(progress.candidate_sil.max()) if progress.candidate_sil.size else float("nan")
                yield IterationState(
                    progress.restart + 1, total, units, best_sil, "separating", time.perf_counter() - t0,
                    f"restart {progress.restart + 1}/{total}: {len(units)} units", None,
                    _templates(progress.units), tuple(u.theta_physical for u in progress.units),
                )
            final = tuple(_inverted_unit(i, u, fs) for i, u in enumerate(found))
            model = SeparationModel(channels, cfg.extension_factor or extension_factor_for(len(channels)), cfg.band_hz,
                                    cfg.notch_hz, fs)
            if final:
                yield IterationState(total, total, final, float("nan"), "finishing", time.perf_counter() - t0,
                                     "separation filters of the units found")
                final = self._with_filters(recording, final, 0, model, device)
            wall_s = time.perf_counter() - t0
            result = DecompositionResult(
                units=final, sampling_rate_hz=fs, n_samples=recording.n_samples, model=model, config=cfg.as_dict(),
                provenance={"source": recording.source, "device": describe_device(device), "wall_time_s": wall_s,
                            "channels": list(channels), "restarts": total, "engine": _engine_version(),
                            "inversion_extension_factor": cfg.inversion_config().extension_for(len(channels),
                                                                                               recording.n_samples)},
            )
            yield IterationState(total, total, final, float("nan"), "done", wall_s,
                                 f"{len(final)} units in {wall_s:.1f} s", None, _templates(found),
                                 tuple(u.theta_physical for u in found))
            return result
        finally:
            del emg
            release_device_memory(device)

    def _iterate_hybrid(self, recording: Recording) -> Generator[IterationState, None, DecompositionResult]:
        """The baseline's units, then θ fitted to each one's spike-triggered MUAP on the
        unfiltered EMG in volts (as the bmiss method, so the model is compared with the data
        sample by sample), on the channels the baseline used."""
        cfg = self.config
        if cfg.window_s is not None:
            recording = recording.crop(*cfg.window_s)
        base_marking = "onset" if cfg.discharge_marking == "model" else cfg.discharge_marking
        baseline = Decomposer(dataclasses.replace(cfg, method="fastica", window_s=None, discharge_marking=base_marking))
        gen = baseline.iterate(recording)
        try:
            while True:
                try:
                    state = next(gen)
                except StopIteration as stop:
                    base: DecompositionResult = stop.value
                    break
                if state.phase != "done":
                    yield state
        finally:
            gen.close()  # a consumer that closes this generator cancels the baseline too
        t0 = time.perf_counter()
        wall_base = float(base.provenance.get("wall_time_s", 0.0))
        n = len(base.units)
        yield IterationState(n, n, base.units, float("nan"), "finishing", wall_base,
                             f"estimating depth, innervation zone and conduction velocity of {n} units")
        device = pick_device(cfg.device)
        emg: torch.Tensor | None = None
        try:
            channels = list(base.model.channels) if base.model is not None else [int(c) for c in recording.grid.good_channels]
            grid = recording.grid
            sub_grid = dataclasses.replace(grid, channel_rc=grid.channel_rc[channels], bad_channels=())
            emg = torch.as_tensor(np.ascontiguousarray(recording.emg_v[channels]), dtype=torch.float32, device=device)
            search = ThetaSearch(cfg.inversion_config(), anatomy=cfg.anatomy(), device=device)
            # a few units per batch on a CPU, so progress shows and Cancel acts between batches;
            # a GPU fits many at once for the same time
            chunk = 4 if device.type == "cpu" else 32
            fitted: list[InvertedUnit] = []
            for start in range(0, n, chunk):
                trains = [u.discharge_samples for u in base.units[start : start + chunk]]
                fitted.extend(search.fit_units(emg, sub_grid, recording.sampling_rate_hz, trains,
                                               cfg.theta_fit_max_lag_s))
                yield IterationState(n, n, base.units, float("nan"), "finishing",
                                     wall_base + time.perf_counter() - t0,
                                     f"estimated depth, innervation zone and conduction velocity of {len(fitted)}/{n} units",
                                     None, _templates(tuple(fitted)), tuple(f.theta_physical for f in fitted))
            names = MotorUnitParameters.field_names()
            units = tuple(
                (_model_marked(u, f.detection.discharge_samples, recording.n_samples) if cfg.discharge_marking == "model"
                 else u).replace(theta=dict(f.theta_physical),
                                 theta_sd={k: float(sd) for k, sd in zip(names, f.theta_sd_unit, strict=True)})
                for u, f in zip(base.units, fitted, strict=True)
            )
            fit_s = time.perf_counter() - t0
            found: tuple[InvertedUnit, ...] = ()
            if cfg.hybrid_restarts:
                # the units the baseline missed: BMISS restarts on what its units leave behind
                residual_search = ThetaSearch(
                    dataclasses.replace(cfg.inversion_config(), n_restarts=cfg.hybrid_restarts),
                    anatomy=cfg.anatomy(), device=device,
                )
                gen_bmiss = residual_search.iterate(emg, sub_grid, recording.sampling_rate_hz,
                                                    known=[f.detection.discharge_samples for f in fitted])
                while True:
                    try:
                        progress = next(gen_bmiss)
                    except StopIteration as stop:
                        found = stop.value
                        break
                    shown, extra = _reportable(progress.units, n, cfg.sil_threshold, recording.sampling_rate_hz)
                    best_sil = float(progress.candidate_sil.max()) if progress.candidate_sil.size else float("nan")
                    yield IterationState(
                        # the progress bar follows the restarts
                        progress.restart + 1, cfg.hybrid_restarts, units + extra, best_sil, "finishing",
                        wall_base + time.perf_counter() - t0,
                        f"residual restart {progress.restart + 1}/{cfg.hybrid_restarts}: "
                        f"{len(extra)} units beyond the baseline's {n}",
                        None, _templates(tuple(fitted) + shown),
                        tuple(f.theta_physical for f in fitted) + tuple(u.theta_physical for u in shown),
                    )
            found, extra = _reportable(found, n, cfg.sil_threshold, recording.sampling_rate_hz)
            units = units + extra
            if found and base.model is not None:
                yield IterationState(cfg.hybrid_restarts, cfg.hybrid_restarts, units, float("nan"), "finishing",
                                     wall_base + time.perf_counter() - t0, "separation filters of the units added")
                # so that transform() applies to the units the residual search added too
                units = self._with_filters(recording, units, n, base.model, device)
        finally:
            del emg
            release_device_memory(device)
        every = tuple(fitted) + found
        wall_s = wall_base + time.perf_counter() - t0
        result = dataclasses.replace(
            base, units=units, config=cfg.as_dict(),
            provenance={**base.provenance, "wall_time_s": wall_s, "theta_fit_s": fit_s,
                        "residual_search_s": wall_s - wall_base - fit_s, "residual_units": len(found),
                        "inversion_extension_factor": cfg.inversion_config().extension_for(len(channels),
                                                                                           recording.n_samples),
                        "theta_residual": [float(f.waveform_residual) for f in every]},
        )
        yield IterationState(len(units), len(units), units, float("nan"), "done", wall_s,
                             f"{len(units)} units in {wall_s:.1f} s", None, _templates(every),
                             tuple(f.theta_physical for f in every))
        return result

    def _with_filters(self, recording: Recording, units: tuple[MotorUnit, ...], start: int, model: SeparationModel,
                      device: torch.device) -> tuple[MotorUnit, ...]:
        """``units`` with a separation filter for each of ``units[start:]`` (units found by the
        inversion have none): the CKC filter of its discharges (:mod:`.separation.ckc`) on
        ``model``'s preprocessing and extension, so :meth:`transform` applies to it."""
        fs = recording.sampling_rate_hz
        x = _preprocessed(recording, model.channels, model.band_hz, model.notch_hz, device)
        whitening = fit_whitening(x, model.extension_factor)
        z = whiten(x, model.extension_factor, whitening)
        w, lags = spike_train_filters(z, [u.discharge_samples for u in units[start:]],
                                      round(_CKC_MAX_LAG_S * fs) + model.extension_factor)
        extended = (whitening.matrix @ w).T.cpu().numpy().astype(np.float32)
        del z, x
        # the filter's source peaks ``lag`` after the discharge; transform() moves detections back
        return units[:start] + tuple(
            u.replace(separation_filter=f, source_lag_samples=-int(lag)) if np.any(f) else u
            for u, f, lag in zip(units[start:], extended, lags, strict=True)
        )

    def _inversion_channels(self, recording: Recording) -> tuple[int, ...]:
        cfg = self.config
        if recording.duration_s < _MIN_DURATION_S:
            raise DecompositionError(
                f"recording lasts {recording.duration_s:.2f} s; at least {_MIN_DURATION_S:g} s is needed"
            )
        channels = [int(c) for c in recording.grid.good_channels]
        if cfg.auto_bad_channels and channels:
            filtered = preprocess.bandpass(recording.emg_v[channels], recording.sampling_rate_hz, cfg.band_hz)
            flagged = set(preprocess.detect_bad_channels(filtered))
            channels = [c for i, c in enumerate(channels) if i not in flagged]
        if len(channels) < 2:
            raise DecompositionError("fewer than 2 usable channels after bad-channel exclusion")
        return tuple(channels)

    def transform(self, result: DecompositionResult, recording: Recording) -> DecompositionResult:
        """Apply the separation filters of ``result`` to another recording of the same grid;
        discharges are detected anew. Units without a filter are dropped."""
        model = result.model
        if model is None:
            raise DecompositionError("this result has no separation filters (imported result?)")
        if recording.n_channels <= max(model.channels):
            raise DecompositionError(
                f"recording has {recording.n_channels} channels; the filters need channel {max(model.channels)}"
            )
        if abs(recording.sampling_rate_hz - model.sampling_rate_hz) > 1e-6:
            raise DecompositionError(
                f"sampling rate {recording.sampling_rate_hz:g} Hz differs from the fit's {model.sampling_rate_hz:g} Hz"
            )
        device = pick_device(self.config.device)
        units = [u for u in result.units if u.separation_filter is not None]
        if not units:
            return result.with_units(())
        x = _preprocessed(recording, model.channels, model.band_hz, model.notch_hz, device)
        filt = torch.as_tensor(np.stack([u.separation_filter for u in units]), device=device)  # type: ignore[misc]
        sources = apply_extended_filters(x, model.extension_factor, filt).cpu().numpy()
        new_units = []
        for u, s in zip(units, sources, strict=True):
            det = detect_discharges(s, recording.sampling_rate_hz)
            if u.source_lag_samples:
                d = det.discharge_samples + u.source_lag_samples
                det = dataclasses.replace(
                    det, discharge_samples=d[(d >= 0) & (d < recording.n_samples)],
                    pulse_train=shift_train(det.pulse_train, u.source_lag_samples),
                )
            new_units.append(u.replace(discharge_samples=det.discharge_samples, pulse_train=det.pulse_train))
        return dataclasses.replace(result, units=tuple(new_units), n_samples=recording.n_samples,
                                   provenance={**result.provenance, "transformed": recording.source})

    # -- steps ---------------------------------------------------------------------------
    def _polish(
        self, z: torch.Tensor, x: torch.Tensor, units: list[MotorUnit], filters: list[torch.Tensor],
        peels: list[Peel | None], near_misses: list[torch.Tensor], fs: float, half_window: int,
        iteration: int, t0: float,
    ) -> Generator[IterationState, None, None]:
        """Second look at every unit once all are peeled, editing the lists in place.

        A unit found late was separated from a signal with only the units before it peeled, and
        an early one from a signal with none: either can carry spikes of a unit found later. Each
        unit's own template is put back into the fully peeled ``z`` (n_samples, d) and its filter
        refined there, against the residual of all the others. Then the near misses (sources
        with SIL ≥ 0.8 that failed acceptance, often two units' mixture) get the same second
        look, in a signal now free of the units they were mixed with.
        """
        cfg = self.config
        device = z.device
        yield IterationState(iteration, cfg.n_iterations, tuple(units), float("nan"), "finishing",
                             time.perf_counter() - t0, "second look at the units found")

        def refine_units() -> None:
            for j in range(len(units)):
                peel = peels[j]
                if peel is None or units[j].sil >= _CLEAN_SIL:
                    continue  # a clean source has nothing of the others in it to lose
                restore(z, peel)
                w, (det,) = self._second_look(z, filters[j][:, None], fs)
                # the same unit, cleaner: not a neighbour the fixed-point steps drifted to
                same = rate_of_agreement(units[j].discharge_samples, det.discharge_samples, fs) >= _SAME_UNIT_ROA
                if same and self._acceptable(det, fs) and det.cov_isi < units[j].cov_isi:
                    det, lag = _aligned(det, x, half_window)
                    units[j] = _make_unit(units[j].unit_id, det, fs, lag)
                    filters[j] = w[:, 0].clone()
                # peeled where the main loop peels: at the aligned discharges (the window covers the lag)
                peels[j] = peel_off(z, torch.as_tensor(units[j].discharge_samples.copy(), device=device),
                                    half_window)

        refine_units()
        found = 0
        # the near misses side by side: one pass over z per step serves them all
        if near_misses:
            retried_w, retried = self._second_look(z, torch.stack(near_misses, dim=1), fs)
        else:
            retried_w, retried = z.new_zeros((z.shape[1], 0)), []
        for j, det in enumerate(retried):
            if not self._acceptable(det, fs) or self._duplicate_slot(det, units, fs) is not None:
                continue
            if any(shared_fraction(u.discharge_samples, det.discharge_samples, fs) > _FRAGMENT_SHARE
                   or _completes(u, det.discharge_samples) for u in units):
                continue  # part of a unit already found, or the discharges it misses: not a new unit
            det, lag = _aligned(det, x, half_window)
            log.info("second look adds a unit of %d discharges (SIL %.3f)", det.discharge_samples.size, det.sil)
            units.append(_make_unit(len(units), det, fs, lag))
            filters.append(retried_w[:, j].clone())
            peels.append(peel_off(z, torch.as_tensor(det.discharge_samples, device=device), half_window))
            found += 1
        if found:
            refine_units()  # the units the new ones were mixed into, once more without them
        yield IterationState(iteration, cfg.n_iterations, tuple(units), float("nan"), "finishing",
                             time.perf_counter() - t0, f"second look: {found} more units")

    def _second_look(self, z: torch.Tensor, w: torch.Tensor, fs: float) -> tuple[torch.Tensor, list[SpikeDetection]]:
        """Fixed-point steps then CoV refinement from vectors (d, K) on ``z``."""
        cfg = self.config
        w1, _ = fixed_point(z, w.clone(), contrast_by_name(cfg.contrast), None, _POLISH_FIXED_POINT_ITER,
                            cfg.tolerance)
        return refine_by_cov(z, w1, fs, cfg.refine_steps)

    def _prepare(self, recording: Recording, device: torch.device) -> _Prepared:
        cfg = self.config
        fs = recording.sampling_rate_hz
        if recording.duration_s < _MIN_DURATION_S:
            raise DecompositionError(
                f"recording lasts {recording.duration_s:.2f} s; at least {_MIN_DURATION_S:g} s is needed"
            )
        channels = [int(c) for c in recording.grid.good_channels]
        if not channels:
            raise DecompositionError("every channel is marked bad")
        # filtered once: bad-channel detection and separation use the same band-passed signal
        filtered = preprocess.bandpass(recording.emg_v[channels], fs, cfg.band_hz)
        if cfg.auto_bad_channels:
            flagged = set(preprocess.detect_bad_channels(filtered))
            if flagged:
                log.info("excluding channels %s as bad (RMS far from the median)", sorted(channels[i] for i in flagged))
                keep = [i for i in range(len(channels)) if i not in flagged]
                channels = [channels[i] for i in keep]
                filtered = filtered[keep]
        if len(channels) < 2:
            raise DecompositionError("fewer than 2 usable channels after bad-channel exclusion")
        factor = cfg.extension_factor or extension_factor_for(len(channels))
        x = _finish_preprocessing(filtered, fs, cfg.notch_hz, device)
        return _Prepared(x, tuple(channels), factor)

    def _diverse_starts(
        self, z: torch.Tensor, activity: torch.Tensor, starts: torch.Tensor, used: torch.Tensor,
        basis: torch.Tensor | None,
        exclusion: int, max_shift: int,
    ) -> torch.Tensor:
        """Initial vectors (d, K) for a batch, restarted where a few fixed-point steps show two
        columns heading for the same unit (see :mod:`separation.diversity`)."""
        cfg = self.config
        contrast = contrast_by_name(cfg.contrast)
        w = z[starts].T.contiguous()
        block = exclusion // 2
        # the peaks of this batch's columns are off limits for its restarts only: marking them
        # for good would use up the starting points of later batches
        avoid = used.clone()
        for _ in range(cfg.reseed_rounds):
            w, _ = fixed_point(z, w, contrast, basis, cfg.reseed_after, cfg.tolerance, 1.0)
            peaks = top_peak_samples(z @ w, block, 30)
            dups = duplicate_columns(peaks, max_shift)
            keep = [j for j in range(w.shape[1]) if j not in dups]
            for j in keep:
                _mark_used(avoid, peaks[j], exclusion // 4)
            if not dups:
                break
            fresh = _activity_maxima(activity, avoid, len(dups), exclusion)
            # the restarts' own neighbourhoods stay off limits for later batches
            used |= _neighbourhoods(fresh, exclusion, used.shape[0], used.device)
            for j, t in zip(dups, fresh.tolist(), strict=False):
                w[:, j] = z[t]
        return w

    def _acceptable(self, det: SpikeDetection, fs: float) -> bool:
        cfg = self.config
        return meets_acceptance(det, cfg.sil_threshold, cfg.min_discharges, cfg.max_cov_isi, fs)

    def _duplicate_slot(self, det: SpikeDetection, units: list[MotorUnit], fs: float) -> int | None:
        for i, u in enumerate(units):
            if rate_of_agreement(u.discharge_samples, det.discharge_samples, fs) > self.config.duplicate_roa:
                return i
        return None


def _preprocessed(
    recording: Recording, channels: tuple[int, ...], band_hz: tuple[float, float], notch_hz: float | None,
    device: torch.device,
) -> torch.Tensor:
    fs = recording.sampling_rate_hz
    emg = preprocess.bandpass(recording.emg_v[list(channels)], fs, band_hz)
    return _finish_preprocessing(emg, fs, notch_hz, device)


def _finish_preprocessing(
    emg: NDArray[np.float32], fs: float, notch_hz: float | None, device: torch.device
) -> torch.Tensor:
    """Notch, mean removal and scaling of band-passed EMG (n_channels, n_samples), on ``device``."""
    if notch_hz:
        emg = preprocess.notch(emg, fs, notch_hz)
    emg = emg - emg.mean(axis=1, keepdims=True)
    # scale to unit median RMS so float32 sums stay well inside range whatever the input unit
    rms = float(np.median(np.sqrt(np.mean(emg.astype(np.float64) ** 2, axis=1))))
    if rms <= 0:
        raise DecompositionError("the recording is flat (zero signal on every channel)")
    return torch.as_tensor(emg / np.float32(rms), dtype=torch.float32, device=device)


def _activity_maxima(activity: torch.Tensor, used: torch.Tensor, k: int, exclusion: int) -> torch.Tensor:
    """Up to ``k`` sample indices of the largest activity index (``Σ z²`` per sample,
    shape (n_samples,)) not yet used, each at least ``exclusion`` samples from the others;
    marks their neighbourhoods used."""
    activity = activity.masked_fill(used, -1.0)
    # one transfer of the best candidates, not one device sync per candidate
    values, order = torch.topk(activity, min(activity.numel(), max(64 * k, 1024)))
    picked: list[int] = []
    for value, t in zip(values.tolist(), order.tolist(), strict=True):
        if value < 0:
            break
        if all(abs(int(t) - p) >= exclusion for p in picked):
            picked.append(int(t))
            if len(picked) == k:
                break
    n = activity.shape[0]
    for t in picked:
        used[max(0, t - exclusion) : min(n, t + exclusion + 1)] = True
    return torch.as_tensor(picked, dtype=torch.long, device=activity.device)


def _mark_used(used: torch.Tensor, samples: NDArray[np.int64], guard: int) -> None:
    n = used.shape[0]
    for lag in range(-guard, guard + 1):
        idx = samples + lag
        used[torch.as_tensor(idx[(idx >= 0) & (idx < n)], device=used.device)] = True


def _neighbourhoods(samples: torch.Tensor, half: int, n: int, device: torch.device) -> torch.Tensor:
    mask = torch.zeros(n, dtype=torch.bool, device=device)
    for t in samples.tolist():
        mask[max(0, t - half) : min(n, t + half + 1)] = True
    return mask


def _extend_basis(basis: torch.Tensor | None, w: torch.Tensor) -> torch.Tensor:
    """Add ``w`` (d,) to the orthonormal basis (d, m) by one Gram-Schmidt step."""
    v = w.clone()
    if basis is not None:
        v = v - basis @ (basis.T @ v)
    norm = v.norm()
    if norm < 1e-6:
        return basis if basis is not None else w[:, None] / w.norm()
    v = (v / norm)[:, None]
    return v if basis is None else torch.cat([basis, v], dim=1)


def _reportable(
    found: tuple[InvertedUnit, ...], first_id: int, sil_threshold: float, fs: float
) -> tuple[tuple[InvertedUnit, ...], tuple[MotorUnit, ...]]:
    """The residual search's units that meet the baseline's standard, and them as table units
    numbered from ``first_id``.

    The standard: the SIL the table shows (the search accepted the unit on its MVDR source; a
    detection moved onto the model's discharge clock can fall below: measured 0.44 on a
    30-discharge false unit), and firing as a motor unit does (a false one on MyoGen D_15dB: 19
    discharges over 13 s, median rate 2 Hz, which the CoV test, blind to ISIs over 0.4 s, let
    through)."""
    pairs = [(u, _inverted_unit(0, u, fs)) for u in found]
    kept = [(u, m) for u, m in pairs
            if m.sil >= sil_threshold and fires_steadily(m.discharge_samples, fs)]
    return tuple(u for u, _ in kept), tuple(m.replace(unit_id=first_id + i) for i, (_, m) in enumerate(kept))


def _completes(unit: MotorUnit, samples: NDArray[np.int64]) -> bool:
    """Whether ``samples`` fill the gaps of ``unit``'s train: merged with it (after the best
    lag within ±10 ms, coincidences within 1 ms kept once) the train gets more regular."""
    fs = unit.sampling_rate_hz
    tol = max(1, round(0.001 * fs))
    _, lag = matched_count(unit.discharge_samples, samples, round(0.010 * fs), tol)
    merged = np.sort(np.concatenate([unit.discharge_samples, samples + lag]))
    merged = merged[np.concatenate([[True], np.diff(merged) > tol])]
    # MotorUnit.cov_isi, so pauses between contractions are left out by the same rule
    return unit.replace(discharge_samples=merged).cov_isi < unit.cov_isi


def _make_unit(unit_id: int, det: SpikeDetection, fs: float, lag: int) -> MotorUnit:
    return MotorUnit(unit_id, det.discharge_samples, det.pulse_train, fs, source_lag_samples=lag)


def _aligned(det: SpikeDetection, x: torch.Tensor, half_window: int) -> tuple[SpikeDetection, int]:
    """The detection moved so its discharges mark the MUAP energy peak, and the shift."""
    lag = muap_peak_offset(x, det.discharge_samples, half_window)
    if lag == 0:
        return det, 0
    d = det.discharge_samples + lag
    d = d[(d >= 0) & (d < x.shape[1])]
    return dataclasses.replace(det, discharge_samples=d, pulse_train=shift_train(det.pulse_train, lag)), lag


def _marked(unit: MotorUnit, x: torch.Tensor, half_window: int, marking: str) -> MotorUnit:
    """The unit as reported: its discharges (marking the MUAP energy peak while searching, where
    peel-off and duplicate tests need them) moved to the MUAP onset when ``marking`` says so."""
    if marking != "onset":
        return unit
    return _shifted(unit, muap_onset_offset(x, unit.discharge_samples, half_window), x.shape[1])


def _model_marked(unit: MotorUnit, model_samples: NDArray[np.int64], n_samples: int) -> MotorUnit:
    """The unit with its discharges moved, as one, to where the θ fit put them (the fitted
    model's discharge instants ``model_samples``), its pulse train with them."""
    fs = unit.sampling_rate_hz
    _, lag = matched_count(unit.discharge_samples, model_samples, round(0.05 * fs), 0)
    return _shifted(unit, -lag, n_samples)  # matched_count's lag moves model_samples onto the unit's


def _shifted(unit: MotorUnit, shift: int, n_samples: int) -> MotorUnit:
    """The unit with its discharges and pulse train moved by ``shift`` samples, as one."""
    if shift == 0:
        return unit
    d = unit.discharge_samples + shift
    return unit.replace(discharge_samples=d[(d >= 0) & (d < n_samples)], pulse_train=shift_train(unit.pulse_train, shift),
                        source_lag_samples=unit.source_lag_samples + shift)


def _without_duplicates(units: list[MotorUnit], fs: float, threshold: float) -> list[int]:
    """Indices to keep: of any two units with RoA > threshold, the one with lower CoV ISI."""
    order = sorted(range(len(units)), key=lambda i: units[i].cov_isi)
    keep: list[int] = []
    for i in order:
        if all(rate_of_agreement(units[j].discharge_samples, units[i].discharge_samples, fs) <= threshold for j in keep):
            keep.append(i)
    return sorted(keep)


def _inverted_unit(unit_id: int, unit: InvertedUnit, fs: float) -> MotorUnit:
    names = MotorUnitParameters.field_names()
    return MotorUnit(
        unit_id, unit.detection.discharge_samples, unit.detection.pulse_train, fs,
        theta=dict(unit.theta_physical),
        theta_sd={name: float(sd) for name, sd in zip(names, unit.theta_sd_unit, strict=True)},
    )


def _templates(units: tuple[InvertedUnit, ...]) -> NDArray[np.float32] | None:
    """Rendered MUAPs (n_units, n_channels, n_muap_samples), or None without units."""
    if not units:
        return None
    return np.stack([u.muap_v for u in units]).astype(np.float32)


def _engine_version() -> str:
    from bmiss_engine import __version__

    return __version__

