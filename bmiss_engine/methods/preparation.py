"""Steps every decomposition method shares: channel choice, preprocessing, the CKC filters of
units found without one, and the result's provenance."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch
from numpy.typing import NDArray

from bmiss_engine.config import DecomposerConfig
from bmiss_engine.errors import DecompositionError
from bmiss_engine.forward.parameters import MotorUnitParameters
from bmiss_engine.inversion import InvertedUnit
from bmiss_engine.recording import Recording
from bmiss_engine.results import MotorUnit, SeparationModel
from bmiss_engine.separation import preprocess
from bmiss_engine.separation.ckc import spike_train_filters
from bmiss_engine.separation.whitening import extension_factor_for, fit_whitening, whiten
from bmiss_engine.version import __version__

MIN_DURATION_S = 1.0
# how far after a discharge the CKC filter of an inverted unit may look for its MUAP: a MUAP
# lasts up to ~30 ms from the discharge instant (propagation to the fibre ends)
_CKC_MAX_LAG_S = 0.03

log = logging.getLogger(__name__)


def check_duration(recording: Recording) -> None:
    """Refuse a recording too short to decompose."""
    if recording.duration_s < MIN_DURATION_S:
        raise DecompositionError(
            f"recording lasts {recording.duration_s:.2f} s; at least {MIN_DURATION_S:g} s is needed"
        )


@dataclass(frozen=True)
class UsableEmg:
    """channels: the good channels; filtered: their band-passed (and notched) EMG (n_used,
    n_samples); notch_hz: the power-line frequency notched (the settings' or the one found in the
    recording), or None; excluded: the channels left out by detection, each with the reason
    ("saturated" or "RMS far from the median"), in channel order."""

    channels: list[int]
    filtered: NDArray[np.float32]
    notch_hz: float | None
    excluded: dict[int, str] = field(default_factory=dict)


def usable_channels(recording: Recording, config: DecomposerConfig) -> UsableEmg:
    """The good channels (marked, then, when the settings say so, neither saturated in the raw
    EMG nor with an RMS far from the median once band-passed) and their band-passed EMG, notched
    at the power-line frequency where the settings name one or, with ``auto_notch``, where the
    recording shows one."""
    sep = config.separation
    fs = recording.sampling_rate_hz
    channels = [int(c) for c in recording.grid.good_channels]
    if not channels:
        raise DecompositionError("every channel is marked bad")
    # filtered once: bad-channel detection and separation use the same band-passed signal
    filtered = preprocess.bandpass(recording.emg_v[channels], fs, sep.band_hz)
    notch_hz = sep.notch_hz
    if notch_hz is None and sep.auto_notch:
        notch_hz = preprocess.detect_line_interference(filtered, fs)
        if notch_hz is not None:
            log.warning("power-line interference at %g Hz: removed with its harmonics", notch_hz)
    if notch_hz:
        # before the band-pass, whose ringing at the ends a strong hum would leave behind, and
        # before the bad-channel test: hum on a few channels would make them look bad
        filtered = preprocess.bandpass(preprocess.remove_line_interference(recording.emg_v[channels], fs, notch_hz),
                                       fs, sep.band_hz)
    excluded: dict[int, str] = {}
    if sep.auto_bad_channels:
        # on the raw EMG: the band-pass rounds a clipped channel's flat tops off, and its RMS,
        # bounded by the rails, can stay within the RMS rule's ratio of the median
        saturated = set(preprocess.detect_saturated_channels(recording.emg_v[channels], fs))
        if saturated:
            log.warning("excluding channels %s as saturated (flat at their max or min)",
                        sorted(channels[i] for i in saturated))
        rest = [i for i in range(len(channels)) if i not in saturated]
        far = {rest[j] for j in preprocess.detect_bad_channels(filtered[rest])} if rest else set()
        if far:
            log.info("excluding channels %s as bad (RMS far from the median)", sorted(channels[i] for i in far))
        excluded = {channels[i]: "saturated" if i in saturated else "RMS far from the median"
                    for i in sorted(saturated | far)}
        if excluded:
            keep = [i for i in range(len(channels)) if channels[i] not in excluded]
            channels = [channels[i] for i in keep]
            filtered = filtered[keep]
    if len(channels) < 2:
        raise DecompositionError("fewer than 2 usable channels after bad-channel exclusion")
    return UsableEmg(channels, filtered, notch_hz, excluded)


def finish_preprocessing(emg: NDArray[np.float32], device: torch.device) -> torch.Tensor:
    """Mean removal and scaling of band-passed EMG (n_channels, n_samples), on ``device``."""
    emg = emg - emg.mean(axis=1, keepdims=True)
    # scale to unit median RMS so float32 sums stay well inside range whatever the input unit
    rms = float(np.median(np.sqrt(np.mean(emg.astype(np.float64) ** 2, axis=1))))
    if rms <= 0:
        raise DecompositionError("the recording is flat (zero signal on every channel)")
    return torch.as_tensor(emg / np.float32(rms), dtype=torch.float32, device=device)


def preprocessed(recording: Recording, model: SeparationModel, device: torch.device) -> torch.Tensor:
    """The channels of ``model`` preprocessed as it was fitted, (n_used, n_samples) on ``device``."""
    fs = recording.sampling_rate_hz
    emg = recording.emg_v[list(model.channels)]
    if model.notch_hz:
        emg = preprocess.remove_line_interference(emg, fs, model.notch_hz)
    return finish_preprocessing(preprocess.bandpass(emg, fs, model.band_hz), device)


def inversion_channels(recording: Recording, config: DecomposerConfig) -> tuple[int, ...]:
    """The channels the inversion uses: the usable ones (its EMG itself stays unfiltered)."""
    check_duration(recording)
    return tuple(usable_channels(recording, config).channels)


def separation_model(config: DecomposerConfig, channels: tuple[int, ...], fs: float) -> SeparationModel:
    """The preprocessing and extension that separation filters of ``channels`` apply."""
    sep = config.separation
    factor = sep.extension_factor or extension_factor_for(len(channels))
    return SeparationModel(channels, factor, sep.band_hz, sep.notch_hz, fs)


def with_filters(recording: Recording, units: tuple[MotorUnit, ...], start: int, model: SeparationModel,
                 device: torch.device) -> tuple[MotorUnit, ...]:
    """``units`` with a separation filter for each of ``units[start:]`` (units found by the
    inversion have none): the CKC filter of its discharges (:mod:`.separation.ckc`) on
    ``model``'s preprocessing and extension, so ``Decomposer.transform`` applies to it."""
    fs = recording.sampling_rate_hz
    x = preprocessed(recording, model, device)
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


def inverted_unit(unit_id: int, unit: InvertedUnit, fs: float) -> MotorUnit:
    """The table's unit of an inversion's unit, with its θ and θ's uncertainty."""
    names = MotorUnitParameters.field_names()
    return MotorUnit(
        unit_id, unit.detection.discharge_samples, unit.detection.pulse_train, fs,
        theta=dict(unit.theta_physical),
        theta_sd={name: float(sd) for name, sd in zip(names, unit.theta_sd_unit, strict=True)},
        origin="model",
    )


def templates(units: tuple[InvertedUnit, ...]) -> NDArray[np.float32] | None:
    """Rendered MUAPs (n_units, n_channels, n_muap_samples), or None without units."""
    if not units:
        return None
    return np.stack([u.muap_v for u in units]).astype(np.float32)


def engine_version() -> str:
    return __version__
