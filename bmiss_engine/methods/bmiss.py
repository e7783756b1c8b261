"""The BMISS inversion (:mod:`bmiss_engine.inversion`) as a decomposition method: units found
by ascending a sparsity contrast over the forward model's parameters θ, one snapshot per
restart, each unit with its θ, its uncertainty and its rendered MUAP.

The EMG is used in volts without band-pass: the rendered MUAPs are compared with it sample by
sample, and a filter on one side only would bias θ. Bad channels (marked or detected on a
band-passed copy) are left out of both the data and the model's grid.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Generator

import numpy as np
import torch

from bmiss_engine.config import DecomposerConfig, IterationState
from bmiss_engine.device import describe_device, pick_device, release_device_memory
from bmiss_engine.inversion import InversionProgress, InvertedUnit, ThetaSearch
from bmiss_engine.methods.preparation import (
    engine_version,
    inversion_channels,
    inverted_unit,
    separation_model,
    templates,
    with_filters,
)
from bmiss_engine.progress import relay
from bmiss_engine.recording import Recording
from bmiss_engine.results import DecompositionResult

STAGE = "inversion"


class BmissMethod:
    """The inversion with the settings in ``config``."""

    def __init__(self, config: DecomposerConfig) -> None:
        self.config = config

    def iterate(self, recording: Recording) -> Generator[IterationState, None, DecompositionResult]:
        """Yields a snapshot per restart, returns the result. Closing the generator cancels."""
        cfg = self.config
        device = pick_device(cfg.device)
        t0 = time.perf_counter()
        if cfg.window_s is not None:
            recording = recording.crop(*cfg.window_s)
        fs = recording.sampling_rate_hz
        total = cfg.inversion.restarts
        emg: torch.Tensor | None = None

        def state(progress: InversionProgress) -> IterationState:
            units = tuple(inverted_unit(i, u, fs) for i, u in enumerate(progress.units))
            best_sil = float(progress.candidate_sil.max()) if progress.candidate_sil.size else float("nan")
            done = progress.restart + 1 if progress.complete else progress.restart
            return IterationState(
                iteration=done, total=total, units=units, current_sil=best_sil, phase="separating",
                elapsed_s=time.perf_counter() - t0,
                message=f"restart {progress.restart + 1}/{total}{'' if progress.complete else ' running'}: {len(units)} units",
                templates_v=templates(progress.units), theta=tuple(u.theta_physical for u in progress.units),
                stage=STAGE,
            )

        try:
            yield IterationState(iteration=0, total=total, units=(), current_sil=float("nan"), phase="preparing",
                                 elapsed_s=0.0, message="selecting channels", stage=STAGE)
            channels = inversion_channels(recording, cfg)
            grid = recording.grid
            sub_grid = dataclasses.replace(grid, channel_rc=grid.channel_rc[list(channels)], bad_channels=())
            emg = torch.as_tensor(np.ascontiguousarray(recording.emg_v[list(channels)]), dtype=torch.float32,
                                  device=device)
            search = ThetaSearch(cfg.inversion_config(), anatomy=cfg.anatomy(), device=device)
            found: tuple[InvertedUnit, ...] = yield from relay(search.iterate(emg, sub_grid, fs), state)
            final = tuple(inverted_unit(i, u, fs) for i, u in enumerate(found))
            model = separation_model(cfg, channels, fs)
            if final:
                yield IterationState(iteration=total, total=total, units=final, current_sil=float("nan"),
                                     phase="finishing", elapsed_s=time.perf_counter() - t0,
                                     message="separation filters of the units found", stage=STAGE)
                final = with_filters(recording, final, 0, model, device)
            wall_s = time.perf_counter() - t0
            result = DecompositionResult(
                units=final, sampling_rate_hz=fs, n_samples=recording.n_samples, model=model, config=cfg.as_dict(),
                provenance={"source": recording.source, "device": describe_device(device), "wall_time_s": wall_s,
                            "channels": list(channels), "restarts": total, "engine": engine_version(),
                            "inversion_extension_factor": cfg.inversion_config().extension_for(len(channels),
                                                                                               recording.n_samples)},
            )
            yield IterationState(iteration=total, total=total, units=final, current_sil=float("nan"), phase="done",
                                 elapsed_s=wall_s, message=f"{len(final)} units in {wall_s:.1f} s",
                                 templates_v=templates(found), theta=tuple(u.theta_physical for u in found), stage=STAGE)
            return result
        finally:
            del emg
            release_device_memory(device)
