"""The joint method: the blind stage's units decoded all at once, and the units they hide found on
what they leave.

1. Blind stage: FastICA (:class:`~bmiss_engine.methods.fastica.FastIcaMethod`) at the same settings,
   or a result given to the constructor.
2. Templates: each unit's MUAP on the band-passed EMG, ``template_s`` long and centred on its
   energy peak, estimated for all units at once by least squares from their trains
   (:func:`~bmiss_engine.separation.joint_decoder.least_squares_templates`: the other units' MUAPs
   do not leak into a template as they do into a spike-triggered average).
3. Joint decoding of all known units (:func:`~bmiss_engine.separation.joint_decoder.decode`:
   non-negative sparse deconvolution, reweighted L1, warm-started at the current trains), with
   the noise SD measured on the current residual (median absolute deviation), never taken from a
   simulator. A unit's decoded train must pass the acceptance rule's train tests (enough
   discharges, CoV ISI, steady firing); a blind unit whose decoded train fails them keeps its
   previous train.
4. Discovery: FastICA on the joint residual x − Σ_k M_k ∗ s_k as a new recording; a unit it
   accepts (SIL, CoV ISI, steady firing on the residual) that repeats no known unit (rate of
   agreement ≤ ``duplicate_roa``) joins the dictionary.
5. Repeat 2–4 for ``cycles`` cycles or until discovery adds nothing; a final decode.

The settings are the configuration's ``joint`` section (:class:`~bmiss_engine.config.JointSettings`);
what the method finds is measured in bench/results/accuracy.md and, cycle by cycle, in
research/results/joint_loop_cpu.md.

Units found beyond the blind stage have ``origin="joint"`` (the units table and the exports
show it) and are listed in ``provenance["joint_origin"]`` (unit id → "blind" or "residual
discovery") and ``provenance["joint_new_units"]``; every snapshot's message names them. A
unit's pulse train is its decoded amplitude (1 where one whole MUAP fires), so its SIL and PNR
are those of the decoder's separation of it.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

from bmiss_engine.config import DecomposerConfig, IterationState
from bmiss_engine.device import pick_device, release_device_memory
from bmiss_engine.methods.fastica import FastIcaMethod
from bmiss_engine.methods.preparation import with_filters
from bmiss_engine.methods.units import marked, shifted
from bmiss_engine.progress import relay
from bmiss_engine.recording import Recording
from bmiss_engine.results import DecompositionResult, MotorUnit
from bmiss_engine.separation import preprocess, quality
from bmiss_engine.separation.duplicates import rate_of_agreement
from bmiss_engine.separation.joint_decoder import (
    DecoderProgress,
    DecoderSettings,
    JointDecoding,
    decode,
    least_squares_templates,
    noise_sd,
    peak_offsets,
    place_trains,
    shifted_trains,
    spike_triggered_average,
    train_reconstruction,
)

BLIND = "blind"
DISCOVERED = "residual discovery"
_MAX_ISI_S = 0.4
_SAME_UNIT_ROA = 0.5  # a decoded train below this agreement with its blind unit's is another unit's
# a blind unit's decoded train this much less regular (CoV ISI) than FastICA's has taken a missing
# neighbour's discharges, or lost its own: FastICA's train stands
_COV_ISI_MARGIN = 0.03


@dataclass(frozen=True)
class CycleRecord:
    """One step of the loop, for studies and reports: its stage ("blind stage", "cycle 2: joint
    decode", "cycle 2: + discovery", "final joint decode"), the units' trains (discharges at the
    MUAP energy peak) and origins, the residual's share of the band-passed EMG's energy, the noise
    SD estimated on it (in units of the EMG's RMS) and the seconds since the method started."""

    stage: str
    trains: tuple[NDArray[np.int64], ...]
    origins: tuple[str, ...]
    residual_fraction: float
    noise_sd: float
    elapsed_s: float


@dataclass
class _Dictionary:
    """The known units: trains (discharges at the MUAP peak), origins, ids, templates (U, C, L)."""

    trains: list[NDArray[np.int64]]
    origins: list[str]
    ids: list[int]
    templates: torch.Tensor


class JointMethod:
    """The joint decomposition with the settings in ``config`` (its ``joint`` section, and the
    blind stage's, acceptance rule's, device's); ``baseline``: a blind-stage result of the same
    recording to start from instead of running FastICA."""

    def __init__(self, config: DecomposerConfig, baseline: DecompositionResult | None = None) -> None:
        self.config = config
        self.settings = config.joint
        self.decoder = DecoderSettings(
            kappa=self.settings.decode_kappa, threshold=self.settings.decode_threshold,
            max_iterations=self.settings.decode_iterations, tolerance=self.settings.decode_tolerance,
            reweight_rounds=self.settings.reweight_rounds, reweight_eps=self.settings.reweight_eps,
            refractory_s=self.settings.refractory_s)
        self.baseline = baseline
        self.history: list[CycleRecord] = []
        self._blind: dict[int, NDArray[np.int64]] = {}  # unit id → FastICA's train (at the MUAP peak)
        # whether one template per unit explains the recording (decided at the first decode)
        self.model_fits: bool | None = None
        self._fs = 1.0

    def iterate(self, recording: Recording) -> Generator[IterationState, None, DecompositionResult]:
        """Yields snapshots of every stage, returns the result. Closing the generator cancels."""
        cfg = self.config
        if cfg.window_s is not None:
            recording = recording.crop(*cfg.window_s)
        t0 = time.perf_counter()
        self.history = []
        base_cfg = dataclasses.replace(cfg, method="fastica", window_s=None, discharge_marking="peak")
        base = self.baseline
        if base is None:
            # the baseline's own "done" is not this method's end
            base = yield from relay(FastIcaMethod(base_cfg).iterate(recording),
                                    lambda s: None if s.phase == "done" else s)
        device = pick_device(cfg.device)
        try:
            result = yield from self._joint(recording, base, base_cfg, device, t0)
        finally:
            release_device_memory(device)
        return result

    def _joint(self, recording: Recording, base: DecompositionResult, base_cfg: DecomposerConfig,
               device: torch.device, t0: float) -> Generator[IterationState, None, DecompositionResult]:
        cfg, js = self.config, self.settings
        fs, n_t = recording.sampling_rate_hz, recording.n_samples
        self._fs = fs
        channels = list(base.model.channels) if base.model is not None else [int(c) for c in recording.grid.good_channels]
        x, scale = _prepared(recording, channels, cfg.separation.band_hz, device)
        total = float(x.square().sum())
        onset = round(js.template_s * fs / 2)
        length = 2 * onset + 1
        sub_grid = dataclasses.replace(recording.grid, channel_rc=recording.grid.channel_rc[channels], bad_channels=())
        offsets = peak_offsets(x, [u.discharge_samples for u in base.units], 2 * onset)
        known = _Dictionary(shifted_trains([u.discharge_samples for u in base.units], offsets, n_t),
                            [BLIND] * len(base.units), [u.unit_id for u in base.units],
                            torch.zeros(0, x.shape[0], length, device=device))
        self._blind = dict(zip(known.ids, known.trains, strict=True))
        self.model_fits = None
        next_id = max(known.ids, default=-1) + 1
        known.templates = self._templates(x, known.trains, onset, length)
        residual = x - train_reconstruction(known.templates, known.trains, onset, n_t)
        sigma = noise_sd(residual)
        self._record("blind stage", known, residual, total, sigma, t0)
        # shown as the units' pulse trains until the first decode gives their amplitudes: one
        # whole MUAP at each discharge, so the live view never shows a unit without its train
        amplitude = place_trains(known.trains, n_t, 0, device)
        cycles = js.cycles
        yield self._state(known, amplitude, scale, t0, 0, "checking that the units' templates explain the recording",
                          "joint decoding")
        self.model_fits = yield from self._model_check(x, known, onset, sigma, fs, amplitude, scale, t0)
        if self.model_fits is False:
            yield self._state(known, amplitude, scale, t0, 0, "the units' templates do not explain this recording "
                              "(their MUAPs change over it): FastICA's trains stand", "joint decoding")
        for cycle in range(1, cycles + 2) if self.model_fits is not False else ():
            last = cycle == cycles + 1
            stage = "final joint decode" if last else f"cycle {cycle}: joint decode"
            yield self._state(known, amplitude, scale, t0, cycle, f"{stage}: {len(known.trains)} units", "joint decoding")
            dec: JointDecoding = yield from relay(
                decode(x, known.templates, onset, sigma, fs, self.decoder, start=known.trains),
                functools.partial(self._progress, known=known, amplitude=amplitude, scale=scale, t0=t0, cycle=cycle))
            known, amplitude = self._kept(known, dec, fs)
            residual = x - train_reconstruction(known.templates, known.trains, onset, n_t)
            sigma = noise_sd(residual)
            self._record(stage, known, residual, total, sigma, t0)
            yield self._state(known, amplitude, scale, t0, cycle, f"{stage}: {len(known.trains)} units, residual "
                              f"{100 * float(residual.square().sum()) / total:.2f} % of the energy", "joint decoding")
            if last:
                break
            if not self.model_fits:
                yield self._state(known, amplitude, scale, t0, cycle, "the units' templates do not explain this "
                                  "recording (their MUAPs change over it): FastICA's trains stand", "joint decoding")
                break
            # discovery: FastICA on the joint residual, as a recording of its own
            res_rec = Recording((residual * scale).cpu().numpy(), fs, sub_grid, source=f"{recording.source} (joint residual)")
            found: DecompositionResult = yield from relay(
                FastIcaMethod(self._discovery_config(base_cfg)).iterate(res_rec),
                functools.partial(self._discovery_state, cycle=cycle))
            rule_roa = cfg.acceptance.duplicate_roa
            new = [u.discharge_samples for u in found.units
                   if all(rate_of_agreement(k, u.discharge_samples, fs, self._duplicate_lag_s) <= rule_roa
                          for k in known.trains)]
            if not new:
                break
            new = shifted_trains(new, peak_offsets(x, new, 2 * onset), n_t)
            known.trains += new
            known.origins += [DISCOVERED] * len(new)
            known.ids += list(range(next_id, next_id + len(new)))
            next_id += len(new)
            known.templates = self._templates(x, known.trains, onset, length)
            amplitude = torch.cat([amplitude, place_trains(new, n_t, 0, device)])
            residual = x - train_reconstruction(known.templates, known.trains, onset, n_t)
            self._record(f"cycle {cycle}: + discovery", known, residual, total, noise_sd(residual), t0)
        units = self._units(recording, base, known, amplitude, offsets, x, device)
        wall_s = float(base.provenance.get("wall_time_s", 0.0)) + time.perf_counter() - t0
        origin = {int(i): o for i, o in zip(known.ids, known.origins, strict=True)}
        result = dataclasses.replace(
            base, units=units, config=cfg.as_dict(),
            provenance={**base.provenance, "wall_time_s": wall_s, "joint_origin": origin,
                        "joint_new_units": [i for i, o in origin.items() if o == DISCOVERED],
                        "joint_noise_sd": sigma * scale, "joint_residual_fraction": self.history[-1].residual_fraction,
                        "joint_model_fits": bool(self.model_fits),
                        "joint_cycles": [dataclasses.asdict(r) | {"trains": None} for r in self.history]},
        )
        n_new = len(result.provenance["joint_new_units"])
        yield dataclasses.replace(
            self._state(known, amplitude, scale, t0, cycles, f"{len(units)} units ({n_new} beyond the blind stage) "
                        f"in {wall_s:.1f} s", "done"), phase="done", elapsed_s=wall_s)
        return result

    def _model_check(self, x: torch.Tensor, known: _Dictionary, onset: int, sigma: float, fs: float,
                     amplitude: torch.Tensor, scale: float, t0: float) -> Generator[IterationState, None, bool | None]:
        """Whether one template per unit explains the recording: the blind units' trains decoded on
        a ``model_check_s`` window in the middle of it agree with FastICA's (median rate of
        agreement ≥ ``blind_agreement``, over the units with enough discharges inside it, edges
        left out). None when no unit fires enough there, or when the recording is shorter than
        two windows (the check would cost about what it saves): the first whole decode decides."""
        js, n_t = self.settings, x.shape[1]
        span = round(js.model_check_s * fs)
        if 2 * span > n_t:
            return None
        start = (n_t - span) // 2
        edge = 2 * onset + 1  # a MUAP cut by the window's edge decodes as something else
        inside = [t[(t >= start) & (t < start + span)] - start for t in known.trains]
        dec: JointDecoding = yield from relay(
            decode(x[:, start:start + span].contiguous(), known.templates, onset, sigma, fs, self.decoder, start=inside),
            lambda p: self._state(known, amplitude, scale, t0, 0, "checking that the units' templates explain the "
                                  f"recording: iteration {p.iteration}/{p.total}", "joint decoding"))
        agreement = []
        for blind, decoded in zip(inside, dec.trains, strict=True):
            blind = blind[(blind >= edge) & (blind < span - edge)]
            if blind.size >= self.config.acceptance.min_discharges:
                agreement.append(rate_of_agreement(blind, decoded[(decoded >= edge) & (decoded < span - edge)], fs))
        if not agreement:
            return None
        return float(np.median(agreement)) >= js.blind_agreement

    @property
    def _duplicate_lag_s(self) -> float:
        """The lag within which two trains of one unit are looked for: two filters of one unit
        can mark a long MUAP at different parts of it, up to half a template apart, beyond the
        usual ±10 ms (FastICA's final duplicate pass searches as far)."""
        return self.settings.template_s / 2 + 0.010

    def _discovery_config(self, base_cfg: DecomposerConfig) -> DecomposerConfig:
        js = self.settings
        return base_cfg.replace(auto_bad_channels=False, n_iterations=js.discovery_vectors,
                                patience_batches=js.discovery_patience, polish=js.discovery_polish)

    def _templates(self, x: torch.Tensor, trains: list[NDArray[np.int64]], onset: int, length: int) -> torch.Tensor:
        if self.settings.templates == "spike_triggered":
            return spike_triggered_average(x, trains, onset, length)
        return least_squares_templates(x, trains, onset, length, self.settings.ridge)

    def _kept(self, known: _Dictionary, dec: JointDecoding, fs: float) -> tuple[_Dictionary, torch.Tensor]:
        """The dictionary after a decode: decoded trains that pass the rule's train tests (and, for a
        discovered unit, its SIL; for a blind unit, agree with FastICA's train); a blind unit whose
        decoded train fails keeps FastICA's, a discovered one is dropped; of two trains that
        repeat each other, the discovered one (or the one with the higher CoV ISI) goes."""
        acc = self.config.acceptance
        pulse = dec.amplitude.cpu().numpy()
        agreement = {k: rate_of_agreement(self._blind[known.ids[k]], d, fs)
                     for k, d in enumerate(dec.trains) if known.origins[k] == BLIND}
        if self.model_fits is None and agreement:
            # decided once, at the first decode: where one template per unit explains the
            # recording, the decoded trains of most blind units repeat FastICA's and the decoder
            # only refines them; where most differ, the MUAPs change over the contraction (real
            # recordings) and FastICA's trains stand, with no discovery on such a residual
            self.model_fits = float(np.median(list(agreement.values()))) >= self.settings.blind_agreement
        trains, keep = [], []
        for k, d in enumerate(dec.trains):
            ok = _train_ok(d, fs, acc.min_discharges, acc.max_cov_isi)
            if ok and known.origins[k] == DISCOVERED:
                # a discovered unit must also separate as the rule asks of any unit: SIL of its
                # decoded amplitude (its pulse train in the result)
                ok = quality.silhouette(pulse[k], d, fs) >= acc.sil_threshold
            elif ok:
                # a decoded train that agrees this little with its unit's is another unit's
                ok = bool(self.model_fits) and agreement[k] >= _SAME_UNIT_ROA and self._as_regular(k, d, known)
            if ok:
                trains.append(d)
                keep.append(k)
            elif known.origins[k] == BLIND:
                trains.append(self._blind[known.ids[k]])
                keep.append(k)
        order = sorted(range(len(keep)), key=lambda i: (known.origins[keep[i]] != BLIND,
                                                        quality.cov_isi(trains[i], int(_MAX_ISI_S * fs))))
        kept: list[int] = []
        for i in order:
            if all(rate_of_agreement(trains[j], trains[i], fs, self._duplicate_lag_s) <= acc.duplicate_roa
                   for j in kept):
                kept.append(i)
        kept.sort()
        index = [keep[i] for i in kept]
        return _Dictionary([trains[i] for i in kept], [known.origins[k] for k in index], [known.ids[k] for k in index],
                           known.templates[index]), dec.amplitude[index]

    def _as_regular(self, k: int, decoded: NDArray[np.int64], known: _Dictionary) -> bool:
        """Whether blind unit ``k``'s decoded train is about as regular as FastICA's (CoV ISI at most
        ``_COV_ISI_MARGIN`` higher). A decode refines a train by filling its gaps and dropping
        another unit's discharges, both of which make it more regular; one whose MUAP looks like
        a unit the dictionary lacks takes that unit's discharges too and becomes less regular."""
        max_isi = int(_MAX_ISI_S * self._fs)
        blind = self._blind[known.ids[k]]
        return quality.cov_isi(decoded, max_isi) <= quality.cov_isi(blind, max_isi) + _COV_ISI_MARGIN

    def _units(self, recording: Recording, base: DecompositionResult, known: _Dictionary, amplitude: torch.Tensor,
               offsets: list[int], x: torch.Tensor, device: torch.device) -> tuple[MotorUnit, ...]:
        """The result's units: blind units keep their separation filter (moved with their
        discharges), discovered ones get the CKC filter of their train; discharges marked as the
        settings say."""
        fs, n_t = recording.sampling_rate_hz, recording.n_samples
        by_id = {u.unit_id: (u, off) for u, off in zip(base.units, offsets, strict=True)}
        pulse = amplitude.cpu().numpy().astype(np.float32)
        units: list[MotorUnit] = []
        for k, (d, uid) in enumerate(zip(known.trains, known.ids, strict=True)):
            if uid in by_id and np.array_equal(d, self._blind[uid]):
                units.append(shifted(*by_id[uid], n_t))  # FastICA's train stands, with its pulse train
            elif uid in by_id:
                unit, off = by_id[uid]
                units.append(shifted(unit, off, n_t).replace(discharge_samples=d, pulse_train=pulse[k]))
            else:
                units.append(MotorUnit(uid, d, pulse[k], fs, origin="joint"))
        n_blind = sum(o == BLIND for o in known.origins)
        result = tuple(units)
        if len(result) > n_blind and base.model is not None:
            result = with_filters(recording, result, n_blind, base.model, device)
        half_window = round(0.025 * fs) + (base.model.extension_factor if base.model is not None else 0)
        marking = "onset" if self.config.discharge_marking == "model" else self.config.discharge_marking
        return tuple(marked(u, x, half_window, marking) for u in result)

    def _record(self, stage: str, known: _Dictionary, residual: torch.Tensor, total: float, sigma: float,
                t0: float) -> None:
        self.history.append(CycleRecord(stage, tuple(known.trains), tuple(known.origins),
                                        float(residual.square().sum()) / total, sigma, time.perf_counter() - t0))

    def _discovery_state(self, state: IterationState, cycle: int) -> IterationState | None:
        """FastICA's snapshot on the residual, as this method's (its units are candidates)."""
        if state.phase == "done":
            return None
        return dataclasses.replace(state, stage="discovery on the residual", iteration=cycle, total=self.settings.cycles,
                                   message=f"cycle {cycle}: discovery on the residual: {len(state.units)} candidate units")

    def _progress(self, progress: DecoderProgress, known: _Dictionary, amplitude: torch.Tensor, scale: float,
                  t0: float, cycle: int) -> IterationState:
        return self._state(known, amplitude, scale, t0, cycle,
                           f"cycle {cycle}: joint decoding of {len(known.trains)} units, iteration "
                           f"{progress.iteration}/{progress.total}", "joint decoding")

    def _state(self, known: _Dictionary, amplitude: torch.Tensor, scale: float, t0: float, cycle: int, message: str,
               stage: str) -> IterationState:
        n_new = sum(o == DISCOVERED for o in known.origins)
        pulse = amplitude.cpu().numpy().astype(np.float32)
        units = tuple(MotorUnit(uid, d, pulse[k], self._fs, origin="blind" if o == BLIND else "joint")
                      for k, (d, uid, o) in enumerate(zip(known.trains, known.ids, known.origins, strict=True)))
        return IterationState(
            iteration=min(cycle, self.settings.cycles), total=self.settings.cycles, units=units,
            current_sil=float("nan"), phase="finishing", elapsed_s=time.perf_counter() - t0,
            message=f"{message} ({n_new} beyond the blind stage)",
            templates_v=(known.templates * scale).cpu().numpy().astype(np.float32), stage=stage)


def _prepared(recording: Recording, channels: list[int], band_hz: tuple[float, float],
              device: torch.device) -> tuple[torch.Tensor, float]:
    """The band-passed EMG of ``channels`` (n_used, n_samples) float32 on ``device``, mean removed and
    scaled to unit RMS, and the scale (volts per unit)."""
    emg = preprocess.bandpass(recording.emg_v[channels], recording.sampling_rate_hz, band_hz)
    emg = emg - emg.mean(axis=1, keepdims=True)
    scale = float(np.sqrt(np.mean(emg.astype(np.float64) ** 2))) or 1.0
    return torch.as_tensor(emg / np.float32(scale), dtype=torch.float32, device=device), scale


def _train_ok(d: NDArray[np.int64], fs: float, min_discharges: int, max_cov_isi: float | None) -> bool:
    """The acceptance rule's tests of a train alone: enough discharges, regular, steady firing."""
    if d.size < min_discharges or not quality.fires_steadily(d, fs):
        return False
    return max_cov_isi is None or quality.cov_isi(d, int(_MAX_ISI_S * fs)) <= max_cov_isi
