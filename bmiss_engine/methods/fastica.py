"""Convolutive FastICA (Negro et al. 2016), the blind baseline: band-pass, extension,
whitening, fixed-point FastICA from the activity-index maxima, CoV-of-ISI refinement, spike
detection by peaks and 2-class k-means, acceptance, peel-off, a second look at every unit
(:mod:`.second_look`) and duplicate removal. Separation vectors run in batches: one pass over
the whitened data serves the whole batch."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Generator
from dataclasses import dataclass, field

import numpy as np
import torch
from numpy.typing import NDArray

from bmiss_engine.config import DecomposerConfig, IterationState
from bmiss_engine.device import describe_device, pick_device, release_device_memory
from bmiss_engine.methods.preparation import check_duration, engine_version, finish_preprocessing, usable_channels
from bmiss_engine.methods.second_look import SecondLook
from bmiss_engine.methods.units import aligned, detection_unit, marked, without_duplicates
from bmiss_engine.recording import Recording
from bmiss_engine.results import DecompositionResult, MotorUnit, SeparationModel
from bmiss_engine.separation.acceptance import AcceptanceRule
from bmiss_engine.separation.diversity import duplicate_columns, top_peak_samples
from bmiss_engine.separation.fastica import contrast_by_name, fixed_point
from bmiss_engine.separation.peel import Peel, peel_off
from bmiss_engine.separation.spikes import SpikeDetection, refine_by_cov
from bmiss_engine.separation.whitening import Whitening, extension_factor_for, fit_whitening, whiten

log = logging.getLogger(__name__)

# a source this clean is a motor unit, accepted or not: later vectors stay orthogonal to it
_EXPLAINED_SIL = 0.8
STAGE = "blind separation"


@dataclass
class Separated:
    """What the search has found so far, edited in place as it goes.

    units, filters (whitened-domain vectors (d,)), peels (what peel-off took out of z for each
    unit, None without peel-off): one entry per accepted unit; near_misses: vectors of
    unit-like sources not accepted."""

    units: list[MotorUnit] = field(default_factory=list)
    filters: list[torch.Tensor] = field(default_factory=list)
    peels: list[Peel | None] = field(default_factory=list)
    near_misses: list[torch.Tensor] = field(default_factory=list)


class FastIcaMethod:
    """The FastICA decomposition with the settings in ``config``."""

    def __init__(self, config: DecomposerConfig) -> None:
        self.config = config
        self.rule = AcceptanceRule(**dataclasses.asdict(config.acceptance))

    def iterate(self, recording: Recording) -> Generator[IterationState, None, DecompositionResult]:
        """Yields snapshots, returns the result. Closing the generator cancels: device memory is released."""
        cfg, sep = self.config, self.config.separation
        device = pick_device(cfg.device)
        t0 = time.perf_counter()
        if cfg.window_s is not None:
            recording = recording.crop(*cfg.window_s)
        fs = recording.sampling_rate_hz
        z: torch.Tensor | None = None
        x: torch.Tensor | None = None
        try:
            yield self._state(0, [], t0, "preparing", "preprocessing")
            check_duration(recording)
            usable = usable_channels(recording, cfg)
            channels = usable.channels
            if usable.notch_hz is not None and sep.notch_hz is None:
                yield self._state(0, [], t0, "preparing",
                                  f"power-line interference at {usable.notch_hz:g} Hz found and removed")
            for reason in sorted(set(usable.excluded.values())):
                left_out = sorted(c for c, r in usable.excluded.items() if r == reason)
                yield self._state(0, [], t0, "preparing", f"channels {', '.join(map(str, left_out))} left out ({reason})")
            factor = sep.extension_factor or extension_factor_for(len(channels))
            x = finish_preprocessing(usable.filtered, device)
            whitening = fit_whitening(x, factor)
            z = whiten(x, factor, whitening)
            log.info("whitened %d extended rows to %d", x.shape[0] * factor, whitening.n_whitened)
            found = Separated()
            half_window = round(0.025 * fs) + factor
            iteration = yield from self._search(z, x, found, fs, half_window, t0)
            if sep.polish and sep.peel_off:
                look = SecondLook(z, x, fs, half_window, cfg, self.rule)
                yield self._state(iteration, found.units, t0, "finishing", "second look at the units found")
                n_more = look.run(found.units, found.filters, found.peels, found.near_misses)
                yield self._state(iteration, found.units, t0, "finishing", f"second look: {n_more} more units")
            yield self._state(iteration, found.units, t0, "finishing", "removing duplicates")
            model = SeparationModel(tuple(channels), factor, sep.band_hz, usable.notch_hz, fs)
            result = self._result(recording, found, whitening, model, x, half_window, iteration, t0, device,
                                  usable.excluded)
            wall_s = float(result.provenance["wall_time_s"])
            yield dataclasses.replace(self._state(iteration, list(result.units), t0, "done",
                                                  f"{len(result.units)} units in {wall_s:.1f} s"), elapsed_s=wall_s)
            return result
        finally:
            # runs on normal return, on error, and when the consumer closes the generator
            del z, x
            release_device_memory(device)

    def _search(
        self, z: torch.Tensor, x: torch.Tensor, found: Separated, fs: float, half_window: int, t0: float,
    ) -> Generator[IterationState, None, int]:
        """Batches of separation vectors until the budget is spent or ``patience_batches``
        batches in a row add no unit; returns the number of vectors tried."""
        sep = self.config.separation
        used = torch.zeros(z.shape[0], dtype=torch.bool, device=z.device)
        exclusion = max(1, round(0.02 * fs))
        # the extension's zero padding and the filter's transients make edge peaks
        used[:half_window] = True
        used[-half_window:] = True
        contrast = contrast_by_name(sep.contrast)
        stride = sep.fixed_point_stride(z.shape[0], fs)
        basis: torch.Tensor | None = None
        iteration, idle_batches = 0, 0
        while iteration < sep.n_iterations and idle_batches < sep.patience_batches:
            k = min(sep.batch_size, sep.n_iterations - iteration)
            # z changes only by peel-off between batches: one activity index per batch
            activity = torch.linalg.vector_norm(z, dim=1) ** 2
            starts = activity_maxima(activity, used, k, exclusion)
            if starts.numel() == 0:
                break
            w = self._diverse_starts(z, activity, starts, used, basis, exclusion, half_window, stride)
            w, _ = fixed_point(z[::stride], w, contrast, basis, sep.max_fixed_point_iter, sep.tolerance,
                               sep.converged_fraction)
            w, detections = refine_by_cov(z, w, fs, sep.refine_steps)
            added = 0
            for j, det in enumerate(detections):
                iteration += 1
                added += self._consider(det, w[:, j], z, x, found, fs, half_window)
                if det.sil >= _EXPLAINED_SIL:
                    # accepted or not, a unit-like source is not to be found again: keep later
                    # vectors orthogonal to it (Negro et al. 2016). Accepted ones are also peeled.
                    basis = extend_basis(basis, w[:, j])
                yield dataclasses.replace(self._state(iteration, found.units, t0, "separating", f"{len(found.units)} units"),
                                          current_sil=det.sil, current_pulse_train=det.pulse_train)
            idle_batches = 0 if added else idle_batches + 1
        return iteration

    def _consider(
        self, det: SpikeDetection, w: torch.Tensor, z: torch.Tensor, x: torch.Tensor, found: Separated, fs: float,
        half_window: int,
    ) -> int:
        """Keep ``det`` (its vector ``w`` (d,)) as a new unit, in place of a duplicate it beats, or
        as a near miss; returns 1 when it is a new unit."""
        cfg = self.config
        if not self.rule.accepts(det, fs):
            if det.sil >= _EXPLAINED_SIL and det.discharge_samples.size >= cfg.acceptance.min_discharges:
                found.near_misses.append(w.clone())
            return 0
        det, lag = aligned(det, x, half_window)
        slot = self.rule.duplicate_of(det.discharge_samples, [u.discharge_samples for u in found.units], fs)
        if slot is None:
            found.units.append(detection_unit(len(found.units), det, fs, lag))
            found.filters.append(w.clone())
            found.peels.append(
                peel_off(z, torch.as_tensor(det.discharge_samples, device=z.device), half_window)
                if cfg.separation.peel_off else None
            )
            return 1
        if det.cov_isi < found.units[slot].cov_isi:
            found.units[slot] = detection_unit(found.units[slot].unit_id, det, fs, lag)
            found.filters[slot] = w.clone()
        return 0

    def _result(
        self, recording: Recording, found: Separated, whitening: Whitening, model: SeparationModel, x: torch.Tensor,
        half_window: int, iteration: int, t0: float, device: torch.device, excluded: dict[int, str],
    ) -> DecompositionResult:
        cfg = self.config
        units, fs = found.units, recording.sampling_rate_hz
        # two filters of one unit can lock onto different parts of a long MUAP (its
        # innervation-zone burst, its fibre ends): aligned on the energy peak each sees, their
        # trains may sit more than the RoA's usual 10 ms apart, and the onset marking below
        # would report them as one train twice. The lag searched spans the alignment window.
        keep = without_duplicates(units, fs, cfg.acceptance.duplicate_roa, max_lag_s=half_window / fs)
        ext_filters = [(whitening.matrix @ found.filters[i]).cpu().numpy().astype(np.float32) for i in keep]
        # ids stay those the live snapshots showed: a unit the user watched appear as unit 4 is
        # still unit 4 in the result, even when duplicates before it went away
        final = tuple(
            marked(dataclasses.replace(units[i], separation_filter=f), x, half_window, cfg.discharge_marking)
            for i, f in zip(keep, ext_filters, strict=True)
        )
        return DecompositionResult(
            units=final, sampling_rate_hz=fs, n_samples=recording.n_samples, model=model, config=cfg.as_dict(),
            provenance={
                "source": recording.source, "device": describe_device(device),
                "wall_time_s": time.perf_counter() - t0, "n_whitened": whitening.n_whitened,
                "iterations": iteration, "engine": engine_version(),
                # the power-line frequency found in the recording and notched (None: none found)
                "line_interference_hz": model.notch_hz if cfg.separation.notch_hz is None else None,
                # channels left out by detection (channel index → why), for the user to see
                "channels_left_out": {str(c): why for c, why in sorted(excluded.items())},
            },
        )

    def _state(self, iteration: int, units: list[MotorUnit], t0: float, phase: str, message: str) -> IterationState:
        return IterationState(
            iteration=iteration, total=self.config.separation.n_iterations, units=tuple(units),
            current_sil=float("nan"), phase=phase, elapsed_s=time.perf_counter() - t0,  # type: ignore[arg-type]
            message=message, stage=STAGE,
        )

    def _diverse_starts(
        self, z: torch.Tensor, activity: torch.Tensor, starts: torch.Tensor, used: torch.Tensor,
        basis: torch.Tensor | None, exclusion: int, max_shift: int, stride: int,
    ) -> torch.Tensor:
        """Initial vectors (d, K) for a batch, restarted where a few fixed-point steps show two
        columns heading for the same unit (see :mod:`separation.diversity`)."""
        sep = self.config.separation
        contrast = contrast_by_name(sep.contrast)
        w = z[starts].T.contiguous()
        block = exclusion // 2
        # the peaks of this batch's columns are off limits for its restarts only: marking them
        # for good would use up the starting points of later batches
        avoid = used.clone()
        for _ in range(sep.reseed_rounds):
            w, _ = fixed_point(z[::stride], w, contrast, basis, sep.reseed_after, sep.tolerance, 1.0)
            peaks = top_peak_samples(z @ w, block, 30)
            dups = duplicate_columns(peaks, max_shift)
            for j in range(w.shape[1]):
                if j not in dups:
                    _mark_used(avoid, peaks[j], exclusion // 4)
            if not dups:
                break
            fresh = activity_maxima(activity, avoid, len(dups), exclusion)
            # the restarts' own neighbourhoods stay off limits for later batches
            used |= _neighbourhoods(fresh, exclusion, used.shape[0], used.device)
            for j, t in zip(dups, fresh.tolist(), strict=False):
                w[:, j] = z[t]
        return w


def activity_maxima(activity: torch.Tensor, used: torch.Tensor, k: int, exclusion: int) -> torch.Tensor:
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


def extend_basis(basis: torch.Tensor | None, w: torch.Tensor) -> torch.Tensor:
    """Add ``w`` (d,) to the orthonormal basis (d, m) by one Gram-Schmidt step."""
    v = w.clone()
    if basis is not None:
        v = v - basis @ (basis.T @ v)
    norm = v.norm()
    if norm < 1e-6:
        return basis if basis is not None else w[:, None] / w.norm()
    v = (v / norm)[:, None]
    return v if basis is None else torch.cat([basis, v], dim=1)
