"""The hybrid method: the FastICA baseline's units, θ fitted to each one's spike-triggered
MUAP (:meth:`~bmiss_engine.inversion.ThetaSearch.fit_units`), then BMISS restarts on what the
baseline's units leave behind, for the units it missed.

θ is fitted on the unfiltered EMG in volts (as the bmiss method, so the model is compared with
the data sample by sample), on the channels the baseline used.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass

import numpy as np
import torch

from bmiss_engine.config import DecomposerConfig, IterationState
from bmiss_engine.device import pick_device, release_device_memory
from bmiss_engine.forward.parameters import MotorUnitParameters
from bmiss_engine.inversion import InversionProgress, InvertedUnit, ThetaSearch
from bmiss_engine.methods.fastica import FastIcaMethod
from bmiss_engine.methods.preparation import inverted_unit, templates, with_filters
from bmiss_engine.methods.units import model_marked
from bmiss_engine.progress import relay
from bmiss_engine.recording import ElectrodeGrid, Recording
from bmiss_engine.results import DecompositionResult, MotorUnit
from bmiss_engine.separation.quality import fires_steadily


@dataclass
class _Fit:
    """The baseline's units with their θ: the recording's EMG in volts (n_used, n_samples) on
    the device, its grid, and the units as fitted so far."""

    emg: torch.Tensor
    grid: ElectrodeGrid
    channels: list[int]
    fitted: list[InvertedUnit]


class HybridMethod:
    """The hybrid decomposition with the settings in ``config``."""

    def __init__(self, config: DecomposerConfig) -> None:
        self.config = config

    def iterate(self, recording: Recording) -> Generator[IterationState, None, DecompositionResult]:
        """Yields snapshots of each stage, returns the result. Closing the generator cancels."""
        cfg = self.config
        if cfg.window_s is not None:
            recording = recording.crop(*cfg.window_s)
        base_marking = "onset" if cfg.discharge_marking == "model" else cfg.discharge_marking
        baseline = FastIcaMethod(dataclasses.replace(cfg, method="fastica", window_s=None, discharge_marking=base_marking))
        # the baseline's own "done" is not this method's end
        base: DecompositionResult = yield from relay(baseline.iterate(recording),
                                                     lambda s: None if s.phase == "done" else s)
        t0 = time.perf_counter()
        wall_base = float(base.provenance.get("wall_time_s", 0.0))
        device = pick_device(cfg.device)
        fit: _Fit | None = None
        try:
            fit = yield from self._fit_theta(recording, base, device, wall_base)
            units = self._with_theta(base.units, fit.fitted, recording.n_samples)
            fit_s = time.perf_counter() - t0
            found: tuple[InvertedUnit, ...] = ()
            if cfg.inversion.hybrid_restarts:
                found = yield from self._residual_search(recording, fit, units, device,
                                                         lambda: wall_base + time.perf_counter() - t0)
            found, extra = reportable(found, len(units), cfg.acceptance.sil_threshold, recording.sampling_rate_hz)
            n_base = len(units)
            units = units + extra
            if found and base.model is not None:
                yield self._state(cfg.inversion.hybrid_restarts, cfg.inversion.hybrid_restarts, units,
                                  wall_base + time.perf_counter() - t0, "separation filters of the units added",
                                  "residual search")
                # so that transform() applies to the units the residual search added too
                units = with_filters(recording, units, n_base, base.model, device)
            channels = fit.channels
            every = tuple(fit.fitted) + found
        finally:
            del fit
            release_device_memory(device)
        wall_s = wall_base + time.perf_counter() - t0
        result = dataclasses.replace(
            base, units=units, config=cfg.as_dict(),
            provenance={**base.provenance, "wall_time_s": wall_s, "theta_fit_s": fit_s,
                        "residual_search_s": wall_s - wall_base - fit_s, "residual_units": len(found),
                        "inversion_extension_factor": cfg.inversion_config().extension_for(len(channels),
                                                                                           recording.n_samples),
                        "theta_residual": [float(f.waveform_residual) for f in every]},
        )
        yield dataclasses.replace(
            self._state(len(units), len(units), units, wall_s, f"{len(units)} units in {wall_s:.1f} s", "done"),
            phase="done", templates_v=templates(every), theta=tuple(f.theta_physical for f in every))
        return result

    def _fit_theta(self, recording: Recording, base: DecompositionResult, device: torch.device, wall_base: float,
                   ) -> Generator[IterationState, None, _Fit]:
        """θ of every baseline unit, a few units at a time so progress shows and Cancel acts."""
        cfg = self.config
        t0 = time.perf_counter()
        n = len(base.units)
        stage = "θ fit"
        yield self._state(n, n, base.units, wall_base,
                          f"estimating depth, innervation zone and conduction velocity of {n} units", stage)
        channels = list(base.model.channels) if base.model is not None else [int(c) for c in recording.grid.good_channels]
        grid = recording.grid
        sub_grid = dataclasses.replace(grid, channel_rc=grid.channel_rc[channels], bad_channels=())
        emg = torch.as_tensor(np.ascontiguousarray(recording.emg_v[channels]), dtype=torch.float32, device=device)
        fit = _Fit(emg, sub_grid, channels, [])
        search = ThetaSearch(cfg.inversion_config(), anatomy=cfg.anatomy(), device=device)
        # a few units per batch on a CPU, so progress shows and Cancel acts between batches;
        # a GPU fits many at once for the same time
        chunk = 4 if device.type == "cpu" else 32
        for start in range(0, n, chunk):
            trains = [u.discharge_samples for u in base.units[start : start + chunk]]
            fit.fitted.extend(search.fit_units(emg, sub_grid, recording.sampling_rate_hz, trains,
                                               cfg.inversion.theta_fit_max_lag_s))
            yield dataclasses.replace(
                self._state(n, n, base.units, wall_base + time.perf_counter() - t0,
                            f"estimated depth, innervation zone and conduction velocity of {len(fit.fitted)}/{n} units",
                            stage),
                templates_v=templates(tuple(fit.fitted)), theta=tuple(f.theta_physical for f in fit.fitted))
        return fit

    def _with_theta(self, units: tuple[MotorUnit, ...], fitted: list[InvertedUnit], n_samples: int,
                    ) -> tuple[MotorUnit, ...]:
        """The baseline's units with their θ (and moved to the model's discharge instants when
        the settings mark discharges so)."""
        names = MotorUnitParameters.field_names()
        by_model = self.config.discharge_marking == "model"
        return tuple(
            (model_marked(u, f.detection.discharge_samples, n_samples) if by_model else u).replace(
                theta=dict(f.theta_physical), theta_sd={k: float(sd) for k, sd in zip(names, f.theta_sd_unit, strict=True)})
            for u, f in zip(units, fitted, strict=True)
        )

    def _residual_search(
        self, recording: Recording, fit: _Fit, units: tuple[MotorUnit, ...], device: torch.device,
        clock: Callable[[], float],
    ) -> Generator[IterationState, None, tuple[InvertedUnit, ...]]:
        """BMISS restarts on what the baseline's units leave behind; a candidate that repeats a
        baseline unit is not a new unit. ``clock()``: the seconds the method has run."""
        cfg = self.config
        restarts = cfg.inversion.hybrid_restarts
        fs, n = recording.sampling_rate_hz, len(units)
        search = ThetaSearch(dataclasses.replace(cfg.inversion_config(), n_restarts=restarts),
                             anatomy=cfg.anatomy(), device=device)

        def state(progress: InversionProgress) -> IterationState:
            shown, extra = reportable(progress.units, n, cfg.acceptance.sil_threshold, fs)
            best_sil = float(progress.candidate_sil.max()) if progress.candidate_sil.size else float("nan")
            every = tuple(fit.fitted) + shown
            return dataclasses.replace(
                # the progress bar follows the restarts
                self._state(progress.restart + 1 if progress.complete else progress.restart, restarts, units + extra,
                            clock(), f"residual restart {progress.restart + 1}/{restarts}"
                            f"{'' if progress.complete else ' running'}: "
                            f"{len(extra)} units beyond the baseline's {n}", "residual search"),
                current_sil=best_sil, templates_v=templates(every), theta=tuple(u.theta_physical for u in every))

        known = [f.detection.discharge_samples for f in fit.fitted]
        found: tuple[InvertedUnit, ...] = yield from relay(search.iterate(fit.emg, fit.grid, fs, known=known), state)
        return found

    @staticmethod
    def _state(iteration: int, total: int, units: tuple[MotorUnit, ...], elapsed_s: float, message: str,
               stage: str) -> IterationState:
        return IterationState(iteration=iteration, total=total, units=units, current_sil=float("nan"),
                              phase="finishing", elapsed_s=elapsed_s, message=message, stage=stage)


def reportable(
    found: tuple[InvertedUnit, ...], first_id: int, sil_threshold: float, fs: float
) -> tuple[tuple[InvertedUnit, ...], tuple[MotorUnit, ...]]:
    """The residual search's units that meet the baseline's standard, and them as table units
    numbered from ``first_id``.

    The standard: the SIL the table shows (the search accepted the unit on its MVDR source; a
    detection moved onto the model's discharge clock can fall below), and firing as a motor
    unit does (the CoV test is blind to ISIs over 0.4 s, so a sparse false unit passes it)."""
    pairs = [(u, inverted_unit(0, u, fs)) for u in found]
    kept = [(u, m) for u, m in pairs if m.sil >= sil_threshold and fires_steadily(m.discharge_samples, fs)]
    return tuple(u for u, _ in kept), tuple(m.replace(unit_id=first_id + i) for i, (_, m) in enumerate(kept))
