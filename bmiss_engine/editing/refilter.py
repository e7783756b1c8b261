"""Update a unit's filter from its discharges, as MUedit's "update MU filter" and DEMUSE's
re-estimation of the pulse train do.

After the reviewer has added missed discharges and removed false ones, the discharges say more
about the unit than the filter that found them. :meth:`UpdateFilter.estimate` computes the
separation vector those discharges define (CKC: the cross-correlation of the whitened
extended recording with the discharge train, :mod:`bmiss_engine.separation.ckc`), the pulse
train it gives, and (by default) the discharges detected anew on that pulse train. The result
is an ordinary edit: applying it swaps the unit's filter, pulse train and discharges, undo
brings the old ones back exactly.

Estimating costs a whitening of the recording (seconds on a long recording): run it off the
GUI thread. Applying costs nothing.
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.editing.base import EditError, unit_of, with_unit
from bmiss_engine.recording import Recording
from bmiss_engine.results import DecompositionResult, MotorUnit, SeparationModel
from bmiss_engine.separation import preprocess

# the decomposer's default band, for results that keep no separation model (imported ones)
_DEFAULT_BAND_HZ = (20.0, 500.0)
# how far after a discharge the filter's source may peak (a MUAP lasts up to ~30 ms), as the
# CKC filters of inverted units (methods.preparation)
_MAX_LAG_S = 0.03
MIN_DISCHARGES = 3


def _encode(a: NDArray[Any], dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype=dtype).tobytes()).decode("ascii")


def _decode(text: str, dtype: str) -> NDArray[Any]:
    return np.frombuffer(base64.b64decode(text.encode("ascii")), dtype=dtype).copy()


def _model_dict(m: SeparationModel | None) -> dict[str, Any] | None:
    if m is None:
        return None
    return {"channels": list(m.channels), "extension_factor": m.extension_factor, "band_hz": list(m.band_hz),
            "notch_hz": m.notch_hz, "sampling_rate_hz": m.sampling_rate_hz}


def _model_from(d: dict[str, Any] | None) -> SeparationModel | None:
    if d is None:
        return None
    band = tuple(float(b) for b in d["band_hz"])
    return SeparationModel(tuple(int(c) for c in d["channels"]), int(d["extension_factor"]),
                           (band[0], band[1]), d["notch_hz"], float(d["sampling_rate_hz"]))


@dataclass(frozen=True, eq=False)
class UpdateFilter:
    """Give a unit the separation filter, pulse train and discharges estimated from its
    discharges (make one with :meth:`estimate`).

    separation_filter: float32 (n_channels_used · extension_factor,), on ``model``'s
    preprocessing; pulse_train: float32 (n_samples,); discharge_samples: int64 (n,);
    source_lag_samples: as :class:`MotorUnit`'s; model: the separation model the filter
    applies to, set on a result that has none (an imported one), else None.
    """

    unit_id: int
    separation_filter: NDArray[np.float32]
    pulse_train: NDArray[np.float32]
    discharge_samples: NDArray[np.int64]
    source_lag_samples: int
    model: SeparationModel | None = None
    kind: ClassVar[str] = "update_filter"

    @property
    def label(self) -> str:
        return f"Update the filter of unit {self.unit_id} from its discharges"

    def apply(self, result: DecompositionResult) -> DecompositionResult:
        u = unit_of(result, self.unit_id)
        if self.pulse_train.size != result.n_samples:
            raise EditError(f"the updated pulse train of unit {self.unit_id} does not fit this result's length")
        new = with_unit(result, u.replace(
            separation_filter=self.separation_filter, pulse_train=self.pulse_train,
            discharge_samples=self.discharge_samples, source_lag_samples=self.source_lag_samples,
        ))
        if result.model is None and self.model is not None:
            new = dataclasses.replace(new, model=self.model)
        return new

    def as_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready); the arrays as base64 of their little-endian bytes."""
        return {
            "kind": self.kind, "unit_id": self.unit_id, "source_lag_samples": self.source_lag_samples,
            "separation_filter": _encode(self.separation_filter, "<f4"),
            "pulse_train": _encode(self.pulse_train, "<f4"),
            "discharge_samples": [int(s) for s in self.discharge_samples], "model": _model_dict(self.model),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> UpdateFilter:
        """The edit :meth:`as_dict` described (without its ``kind``)."""
        return cls(
            int(values["unit_id"]), _decode(values["separation_filter"], "<f4").astype(np.float32),
            _decode(values["pulse_train"], "<f4").astype(np.float32),
            np.asarray(values["discharge_samples"], dtype=np.int64), int(values["source_lag_samples"]),
            _model_from(values.get("model")),
        )

    @classmethod
    def estimate(cls, result: DecompositionResult, unit_id: int, recording: Recording,
                 offset_samples: int = 0, redetect: bool = True) -> UpdateFilter:
        """The update of unit ``unit_id`` of ``result`` from its discharges on ``recording``.

        offset_samples: where the result's sample 0 lies in ``recording`` (the start of a
        decomposed time window); redetect: detect the discharges anew on the new pulse train
        (False keeps the unit's own). Uses the result's separation model (the decomposition's
        channels, band and extension), or the decomposer's defaults on the good channels for a
        result without one. Raises :class:`EditError` when the recording does not fit the
        result or the unit has too few discharges. Takes seconds on a long recording.
        """
        u = unit_of(result, unit_id)
        if u.n_discharges < MIN_DISCHARGES:
            raise EditError(f"unit {unit_id} needs at least {MIN_DISCHARGES} discharges to estimate its filter")
        model = result.model or _default_model(recording)
        x = _preprocessed(recording, result, model, int(offset_samples))
        source, ext_filter, lag = _ckc_source(x, model, u)
        fs = result.sampling_rate_hz
        if redetect:
            pulse, discharges = _detected(source, fs, lag, result.n_samples)
        else:
            pulse, discharges = _scaled(source, lag, u), u.discharge_samples
        return cls(unit_id, ext_filter, pulse, discharges, -lag, None if result.model is not None else model)


def _default_model(recording: Recording) -> SeparationModel:
    from bmiss_engine.separation.whitening import extension_factor_for

    channels = tuple(int(c) for c in recording.grid.good_channels)
    return SeparationModel(channels, extension_factor_for(len(channels)), _DEFAULT_BAND_HZ, None,
                           recording.sampling_rate_hz)


def _preprocessed(recording: Recording, result: DecompositionResult, model: SeparationModel,
                  offset: int) -> NDArray[np.float32]:
    """The result's part of the recording preprocessed as ``model`` says, (n_used, n_samples):
    power-line removal, band-pass, mean removal and scaling to unit median RMS, as the decomposer's
    ``methods.preparation.preprocessed`` (the scale does not change the pulse train, it only
    keeps the filter in the decomposer's units)."""
    fs = recording.sampling_rate_hz
    if abs(fs - result.sampling_rate_hz) > 1e-6:
        raise EditError(f"the recording is sampled at {fs:g} Hz, the result at {result.sampling_rate_hz:g} Hz")
    stop = offset + result.n_samples
    if offset < 0 or stop > recording.n_samples:
        raise EditError("the recording does not cover the decomposed time window")
    if not model.channels or max(model.channels) >= recording.n_channels:
        raise EditError("the recording lacks channels the decomposition used")
    emg = recording.emg_v[list(model.channels), offset:stop]
    if model.notch_hz:  # the power-line interference the decomposition removed, removed the same way
        emg = preprocess.remove_line_interference(emg, fs, model.notch_hz)
    emg = preprocess.bandpass(emg, fs, model.band_hz)
    emg = emg - emg.mean(axis=1, keepdims=True)
    rms = float(np.median(np.sqrt(np.mean(emg.astype(np.float64) ** 2, axis=1))))
    if rms <= 0:
        raise EditError("the recording is flat (zero signal on every channel)")
    return np.asarray(emg / np.float32(rms), dtype=np.float32)


def _ckc_source(x: NDArray[np.float32], model: SeparationModel,
                unit: MotorUnit) -> tuple[NDArray[np.float32], NDArray[np.float32], int]:
    """The CKC source of the unit's discharges (n_samples,), its filter on the extended signal
    (n_used · factor,) and the lag (samples) from a discharge to the source's peak."""
    import torch  # imported on use: the application starts without torch

    from bmiss_engine.separation.ckc import spike_train_filters
    from bmiss_engine.separation.whitening import fit_whitening, whiten

    xt = torch.as_tensor(x)
    factor = model.extension_factor
    whitening = fit_whitening(xt, factor)
    z = whiten(xt, factor, whitening)
    max_lag = round(_MAX_LAG_S * model.sampling_rate_hz) + factor
    w, lags = spike_train_filters(z, [unit.discharge_samples], max_lag)
    if not bool(torch.any(w)):
        raise EditError(f"no discharge of unit {unit.unit_id} lies inside the recording")
    source = (z @ w[:, 0]).numpy().astype(np.float32)
    ext_filter = (whitening.matrix @ w[:, 0]).numpy().astype(np.float32)
    return source, ext_filter, int(lags[0])


def _detected(source: NDArray[np.float32], fs: float, lag: int,
              n_samples: int) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    from bmiss_engine.separation.alignment import shift_train
    from bmiss_engine.separation.spikes import detect_discharges

    det = detect_discharges(source, fs)
    d = det.discharge_samples - lag
    return shift_train(det.pulse_train, -lag), d[(d >= 0) & (d < n_samples)]


def _scaled(source: NDArray[np.float32], lag: int, unit: MotorUnit) -> NDArray[np.float32]:
    """The pulse train of ``source`` moved onto the unit's discharges, scaled so their mean
    height is 1."""
    from bmiss_engine.separation.alignment import shift_train
    from bmiss_engine.separation.spikes import pulse_train_from_source

    pulse = shift_train(pulse_train_from_source(source), -lag)
    d = unit.discharge_samples[unit.discharge_samples < pulse.size]
    peak = float(np.mean(pulse[d])) if d.size else 0.0
    return pulse / np.float32(peak) if peak > 0 else pulse
