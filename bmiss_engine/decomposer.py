"""The front door of a decomposition: ``Decomposer(config).iterate(recording)`` yields
progress and returns the result; ``run()`` drains it; ``transform()`` applies learned filters
to new data. The methods themselves live in :mod:`bmiss_engine.methods`, one module each.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator

import numpy as np
import torch

# re-exported: the settings and snapshots are defined without torch (bmiss_engine.config)
from bmiss_engine.config import DecomposerConfig as DecomposerConfig
from bmiss_engine.config import IterationState as IterationState
from bmiss_engine.config import Method as Method
from bmiss_engine.config import Phase as Phase
from bmiss_engine.device import pick_device
from bmiss_engine.errors import DecompositionError
from bmiss_engine.methods import method_for
from bmiss_engine.methods.preparation import preprocessed
from bmiss_engine.progress import drain
from bmiss_engine.recording import Recording
from bmiss_engine.results import DecompositionResult
from bmiss_engine.separation.alignment import shift_train
from bmiss_engine.separation.spikes import detect_discharges
from bmiss_engine.separation.whitening import apply_extended_filters


class Decomposer:
    """Decomposes recordings into motor units with the settings in ``config``."""

    def __init__(self, config: DecomposerConfig | None = None) -> None:
        self.config = config if config is not None else DecomposerConfig()

    def run(self, recording: Recording) -> DecompositionResult:
        """Decompose ``recording`` to the end and return the result."""
        return drain(self.iterate(recording))

    def iterate(self, recording: Recording) -> Generator[IterationState, None, DecompositionResult]:
        """Decompose step by step with the method the settings name: yields
        :class:`IterationState`, returns the result. Closing the generator (``gen.close()``)
        cancels: device memory is released."""
        return (yield from method_for(self.config).iterate(recording))

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
        x = preprocessed(recording, model, device)
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
