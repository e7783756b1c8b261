"""A neural surrogate of the analytic forward model: one MLP pass renders a batch of MUAPs.

What it learns, and why it generalises to any grid and sampling rate. With the fibres along
the grid's fibre axis and textbook conductivities, the analytic model's monopolar potential at
a point (x, z) of the skin depends on the unit only through

* the point's position relative to the unit: dx = x − ml (across the fibres) and
  dz = z − iz (along them, from the innervation zone);
* the fibre semi-lengths L− and L+, the depth and territory radius, skin and fat thickness;
* the conduction velocity v, and time t, only through f = v·t, how far the wavefronts have
  run from the innervation zone (the source is a fixed spatial profile that moves: the model's
  source term depends on v·t alone);

and it is exactly proportional to the fibre count. It is also even in dx (circular territory,
symmetric conductor) and unchanged by the mirror z → −z that swaps L− and L+. So an MLP takes
per-point features that carry these symmetries exactly (smooth |dx| and |dz|, L− + L+,
(L+ − L−)·sign(dz) made smooth, the distances from the point to both tendon ends, layers,
depth, radius) and gives a log-amplitude and four profiles, one per event of the source, each
on its own axis: the wavefront passing under the point (f − |dz|), the generation at the
innervation zone with the wave running away (f), the extinction at the near tendon
(f − L_near) and at the far one (f − L_far). The per-fibre waveform is exp(log-amplitude)
times the sum of the profiles read (Catmull–Rom) at each sample's f, zero before the discharge.
Sharp events stay put on their own axes whatever dz, L or v; a single axis cannot offer that
(tried, same data and settings: one profile on the f − |dz| axis reached a validation median of
29 % after 1500 steps, a fixed time axis 38 % after 1000, the four frames 3.6 % after 1000).
The fibre count multiplies; the spatial filter is the analytic model's
(:class:`~bmiss_engine.forward.analytic._Geometry`: linear combinations of monopolar points),
so any grid and filter is served; any sampling rate too (the profiles are read at any instant).

What it serves: fibre angle 0, the default conductivities, electrode radius, innervation-zone
and tendon spreads and fibre size of :class:`AnalyticForwardModel`, skin and fat within their
bounds, and MUAP windows up to 31.2 ms after the discharge. Anything else raises
:class:`~bmiss_engine.errors.SurrogateError` (use the analytic model there). Training:
``bench/train_surrogate.py`` (seeded); weights, settings and the held-out error in
``resources/surrogate/`` (``metadata.json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from bmiss_engine.errors import SurrogateError
from bmiss_engine.forward.analytic import AnalyticForwardModel, SpatialFilter, _Geometry
from bmiss_engine.forward.parameters import AnatomyParameters, MotorUnitParameters
from bmiss_engine.recording import ElectrodeGrid
from bmiss_engine.resources import bundled_path

WEIGHTS_PATH = bundled_path("resources", "surrogate", "surrogate.pt")

# the profile axes, one per event of the source, as (first mm, step mm, samples): f = v·t is
# how far each wavefront has run from the innervation zone; the frames follow the wavefront
# passing the point (f − |dz|), the generation at the IZ and the wave leaving the point (f),
# and the extinction at the near and at the far tendon (f − L_near, f − L_far)
FRAMES: tuple[tuple[float, float, int], ...] = ((-100.0, 0.5, 401), (-2.0, 1.0, 193), (-60.0, 0.75, 161),
                                                (-60.0, 0.75, 161))
N_PROFILE = sum(n for _, _, n in FRAMES)
# the longest time after the discharge served (v·t must stay on the axes for v ≤ 6 m/s)
MAX_TIME_S = 0.0312
# per-fibre waveforms are learned in µV
OUTPUT_SCALE_V = 1e-6
_SMOOTH_MM = 0.25  # |d| ≈ sqrt(d² + δ²): the symmetric features stay differentiable at d = 0
N_FEATURES = 12

# settings of the analytic model the surrogate was trained on (checked at use)
_ANALYTIC = AnalyticForwardModel()
TRAINED_SETTINGS: dict[str, float] = {
    "electrode_radius_mm": _ANALYTIC.electrode_radius_mm,
    "iz_spread_mm": _ANALYTIC.iz_spread_mm,
    "end_spread_mm": _ANALYTIC.end_spread_mm,
    "fibre_radius_um": _ANALYTIC.fibre_radius_um,
    "intracellular_conductivity_s_m": _ANALYTIC.intracellular_conductivity_s_m,
}
_DEFAULT_ANATOMY = AnatomyParameters.default()
FIXED_ANATOMY: dict[str, float] = {
    name: float(getattr(_DEFAULT_ANATOMY, name))
    for name in ("sigma_muscle_along_s_m", "sigma_muscle_across_s_m", "sigma_fat_s_m", "sigma_skin_s_m",
                 "fibre_angle_deg")
}


# the inversion's forward models: the planar layered conductor, its surrogate, the cylinder
# (bmiss_engine.forward.cylindrical); bmiss_engine.config keeps a torch-free copy
FORWARD_MODELS = ("analytic", "surrogate", "cylindrical")


class ForwardModel(Protocol):
    """What the inversion needs of a forward model (the analytic one, the surrogate, the cylinder)."""

    @property
    def pre_s(self) -> float: ...

    @property
    def duration_s(self) -> float: ...

    @property
    def spatial_filter(self) -> SpatialFilter: ...

    def onset(self, sampling_rate_hz: float) -> int: ...

    def n_samples(self, sampling_rate_hz: float) -> int: ...

    def muaps(
        self, units: MotorUnitParameters, anatomy: AnatomyParameters, grid: ElectrodeGrid, sampling_rate_hz: float
    ) -> Tensor: ...


def point_features(
    dx_mm: Tensor, dz_mm: Tensor, units: MotorUnitParameters, skin_mm: Tensor, fat_mm: Tensor
) -> Tensor:
    """Network inputs (U, P, N_FEATURES) for points at (dx, dz) (U, P) from each unit's
    territory centre and innervation zone; ``skin_mm``, ``fat_mm`` are () or (U,). Invariant
    under dx → −dx and under (dz, L−, L+) → (−dz, L+, L−), smooth in every parameter."""

    def col(v: Tensor) -> Tensor:
        return v.reshape(-1, 1).expand(dx_mm.shape[0], dx_mm.shape[1]) if v.ndim else v.expand_as(dx_mm)

    ax = torch.sqrt(dx_mm.square() + _SMOOTH_MM**2)
    az = torch.sqrt(dz_mm.square() + _SMOOTH_MM**2)
    neg = col(units.semi_length_neg_mm)
    pos = col(units.semi_length_pos_mm)
    depth = col(units.depth_mm)
    radius = col(units.territory_radius_mm)
    skin, fat = col(skin_mm), col(fat_mm)
    total = neg + pos
    signed = (pos - neg) * dz_mm / az  # ≈ L(towards the point) − L(away from it)
    towards = 0.5 * (total + signed)  # fibre length on the point's side of the IZ
    away = 0.5 * (total - signed)
    below = depth + skin + fat  # territory centre below the skin
    feats = [
        ax / 50.0,
        az / 100.0,
        total / 200.0,
        signed / 100.0,
        (towards - az) / 100.0,  # point to the near tendon (+: inside the fibres' span)
        (away + az) / 200.0,
        depth / 30.0,
        radius / 10.0,
        skin / 3.0,
        fat / 20.0,
        0.5 * torch.log(ax.square() + below.square()) / 4.0,
        torch.log(az) / 4.0,
    ]
    return torch.stack(feats, dim=-1)


class SurrogateNetwork(nn.Module):
    """MLP: features (..., N_FEATURES) → log-amplitude (...,) and profiles (..., N_PROFILE)
    on the axes of ``FRAMES``; the per-fibre waveform in µV is exp(log-amplitude) times the
    sum of the profiles read at each frame's coordinate."""

    def __init__(self, width: int = 256, depth: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        n_in = N_FEATURES
        for _ in range(depth):
            layers += [nn.Linear(n_in, width), nn.SiLU()]
            n_in = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 1 + N_PROFILE)
        self.width, self.depth = width, depth

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        out = self.head(self.body(features))
        return out[..., 0], out[..., 1:]


def frame_coordinates(front_mm: Tensor, dz_abs_mm: Tensor, near_mm: Tensor, far_mm: Tensor) -> list[Tensor]:
    """Each frame's coordinate (..., T) from the wavefront's run f (..., T) and, per point
    (...,), |dz| and the fibre lengths on the point's side of the IZ and on the other."""
    front = front_mm.expand(*dz_abs_mm.shape, front_mm.shape[-1])  # gather needs one coordinate per point
    return [front - dz_abs_mm[..., None], front, front - near_mm[..., None], front - far_mm[..., None]]


def sample_profiles(profiles: Tensor, coordinates: list[Tensor]) -> Tensor:
    """Sum over the frames of Catmull–Rom interpolation of each profile (slices of
    ``profiles`` (..., N_PROFILE)) at its coordinate (..., T); C¹, so gradients reach v, the
    positions and the lengths; zero outside a frame's axis."""
    out: Tensor | None = None
    start = 0
    for (first, step, n), coord in zip(FRAMES, coordinates, strict=True):
        profile = profiles[..., start : start + n]
        start += n
        u = (coord - first) / step
        inside = (u >= 0) & (u <= n - 1)
        u = u.clamp(1.0, n - 2.0 - 1e-4)
        k0 = torch.floor(u.detach())
        s = u - k0
        k = k0.long()
        s2, s3 = s * s, s * s * s
        taps = (-0.5 * s3 + s2 - 0.5 * s, 1.5 * s3 - 2.5 * s2 + 1.0, -1.5 * s3 + 2.0 * s2 + 0.5 * s,
                0.5 * s3 - 0.5 * s2)
        part = torch.zeros_like(coord)
        for j, w in enumerate(taps):
            part = part + w * torch.gather(profile, -1, k + (j - 1))
        part = torch.where(inside, part, torch.zeros_like(part))
        out = part if out is None else out + part
    assert out is not None
    return out


def point_geometry(dz_mm: Tensor, units: MotorUnitParameters) -> tuple[Tensor, Tensor, Tensor]:
    """Per point (U, P): smoothed |dz| and the fibre lengths towards the point and away (smooth
    in dz, as the features)."""
    az = torch.sqrt(dz_mm.square() + _SMOOTH_MM**2)
    neg, pos = units.semi_length_neg_mm[:, None], units.semi_length_pos_mm[:, None]
    signed = (pos - neg) * dz_mm / az
    return az, 0.5 * (neg + pos + signed), 0.5 * (neg + pos - signed)


def waveforms(net: SurrogateNetwork, features: Tensor, coordinates: list[Tensor], after_discharge: Tensor) -> Tensor:
    """Per-fibre waveforms in µV (..., T) (zero where ``after_discharge`` (T,) is false:
    before the discharge the source is silent)."""
    log_amp, profiles = net(features)
    return torch.exp(log_amp)[..., None] * sample_profiles(profiles, coordinates) * after_discharge


@lru_cache(maxsize=4)
def _load(path: Path) -> tuple[SurrogateNetwork, dict[str, Any]]:
    if not path.is_file():
        raise SurrogateError(f"no surrogate weights at {path}; train them with bench/train_surrogate.py "
                             "or use forward_model='analytic'")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        meta = json.loads(saved["metadata"])
        net = SurrogateNetwork(width=int(meta["width"]), depth=int(meta["depth"]))
        net.load_state_dict({k: v.to(torch.float32) for k, v in saved["state"].items()})
    except (KeyError, RuntimeError, ValueError, OSError) as exc:
        raise SurrogateError(f"cannot read the surrogate weights at {path}: {exc}") from None
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net, meta


@dataclass(frozen=True)
class SurrogateForwardModel:
    """Renders MUAPs with the trained network; the interface of :class:`AnalyticForwardModel`.

    spatial_filter, pre_s, duration_s: as the analytic model (the window must fit the
    network's time axis). weights: the saved network (default: the bundled one).
    """

    spatial_filter: SpatialFilter = "monopolar"
    pre_s: float = 0.005
    duration_s: float = 0.035
    weights: Path = WEIGHTS_PATH
    network: SurrogateNetwork = field(init=False, repr=False, compare=False)
    metadata: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        net, meta = _load(Path(self.weights))
        object.__setattr__(self, "network", net)
        object.__setattr__(self, "metadata", meta)

    def onset(self, sampling_rate_hz: float) -> int:
        """Index of the MUAP sample at which the unit discharges."""
        return round(self.pre_s * sampling_rate_hz)

    def n_samples(self, sampling_rate_hz: float) -> int:
        return round(self.duration_s * sampling_rate_hz)

    def times_s(self, sampling_rate_hz: float) -> NDArray[np.float64]:
        """(n_samples,) time of each MUAP sample from the discharge; SurrogateError beyond the
        trained window."""
        t = (np.arange(self.n_samples(sampling_rate_hz)) - self.onset(sampling_rate_hz)) / sampling_rate_hz
        if t.size and t[-1] > MAX_TIME_S:
            raise SurrogateError(f"the MUAP window reaches {t[-1] * 1e3:.1f} ms after the discharge; the surrogate "
                                 f"serves up to {MAX_TIME_S * 1e3:.1f} ms (use the analytic model)")
        return t

    def muaps(
        self, units: MotorUnitParameters, anatomy: AnatomyParameters, grid: ElectrodeGrid, sampling_rate_hz: float
    ) -> Tensor:
        """MUAPs in volts, float32 tensor of shape (n_units, n_channels, n_samples), as
        :meth:`AnalyticForwardModel.muaps`; differentiable in ``units`` and the layer
        thicknesses, computed on the device of ``units``."""
        check_anatomy(anatomy)
        device = units.depth_mm.device
        dtype = torch.float32
        net = self.network
        if next(net.parameters()).device != device:
            net = _on_device(self.weights, device)
        t_ms = torch.as_tensor(self.times_s(sampling_rate_hz) * 1e3, dtype=dtype, device=device)
        geometry = _Geometry.of(grid, self.spatial_filter)
        along = torch.as_tensor(geometry.along_mm, dtype=dtype, device=device)
        across = torch.as_tensor(geometry.across_mm, dtype=dtype, device=device)
        u32 = MotorUnitParameters(**{k: v.to(dtype) for k, v in units.as_dict().items()})
        dx = across[None, :] - u32.ml_mm[:, None]
        dz = along[None, :] - u32.iz_mm[:, None]
        feats = point_features(dx, dz, u32, anatomy.skin_mm.to(dtype), anatomy.fat_mm.to(dtype))
        az, near, far = point_geometry(dz, u32)
        front = (u32.cv_m_s[:, None] * t_ms)[:, None, :]  # (U, 1, T): m/s·ms = mm
        potential = waveforms(net, feats, frame_coordinates(front, az, near, far), t_ms >= 0)  # (U, P, T) µV per fibre
        potential = potential * (u32.n_fibres * OUTPUT_SCALE_V)[:, None, None]
        combine = torch.as_tensor(geometry.combine, dtype=dtype, device=device)
        return torch.matmul(combine, potential)


@lru_cache(maxsize=4)
def _on_device(weights: Path, device: torch.device) -> SurrogateNetwork:
    net, _ = _load(Path(weights))
    moved = SurrogateNetwork(net.width, net.depth)
    moved.load_state_dict(net.state_dict())
    moved.to(device).eval()
    for p in moved.parameters():
        p.requires_grad_(False)
    return moved


def check_anatomy(anatomy: AnatomyParameters) -> None:
    """Raise SurrogateError where the anatomy lies outside what the surrogate was trained on:
    conductivities other than the defaults, a fibre angle, layers outside their bounds."""
    for name, value in FIXED_ANATOMY.items():
        tensor = getattr(anatomy, name).detach()
        if not torch.allclose(tensor.double().cpu(), torch.tensor(value, dtype=torch.float64), rtol=1e-5, atol=1e-6):
            raise SurrogateError(
                f"the surrogate serves {name} = {value:g} only (got {tensor.double().cpu().numpy()}); "
                "use the analytic model"
            )
    for name in ("skin_mm", "fat_mm"):
        bound = AnatomyParameters.BOUNDS[name]
        tensor = getattr(anatomy, name).detach()
        if bool((tensor < bound.low - 1e-6).any()) or bool((tensor > bound.high + 1e-6).any()):
            raise SurrogateError(f"{name} outside the surrogate's [{bound.low:g}, {bound.high:g}] mm")


def normalised_rmse(estimate: Tensor, reference: Tensor) -> Tensor:
    """Per MUAP ||estimate − reference||_F / ||reference||_F over (C, T): (U,)."""
    diff: Tensor = torch.linalg.vector_norm((estimate - reference).double().flatten(1), dim=1)
    ref: Tensor = torch.linalg.vector_norm(reference.double().flatten(1), dim=1)
    out: Tensor = diff / ref.clamp_min(1e-30)
    return out


__all__ = [
    "FORWARD_MODELS",
    "FRAMES",
    "N_PROFILE",
    "WEIGHTS_PATH",
    "ForwardModel",
    "SurrogateForwardModel",
    "SurrogateNetwork",
    "check_anatomy",
    "frame_coordinates",
    "normalised_rmse",
    "point_features",
    "point_geometry",
    "sample_profiles",
    "waveforms",
]
