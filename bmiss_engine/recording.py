"""The recording data model: an electrode grid and the EMG sampled on it.

Both classes are frozen: an edit makes a new object. EMG is stored in volts, float32.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.errors import RecordingFormatError

FibreAxis = Literal["rows", "columns"]

VOLTS_PER_UNIT: dict[str, float] = {"V": 1.0, "mV": 1e-3, "uV": 1e-6, "µV": 1e-6}


@dataclass(frozen=True, eq=False)
class ElectrodeGrid:
    """An electrode grid and the position of every recorded channel on it.

    Attributes
    ----------
    n_rows, n_columns:
        Size of the grid (a 13×5 grid has ``n_rows=13``).
    ied_mm:
        Inter-electrode distance in millimetres.
    channel_rc:
        int array of shape (n_channels, 2): row and column of each channel. Electrodes
        absent from the grid (a missing corner) simply have no channel.
    bad_channels:
        Indices of channels to exclude from the decomposition.
    fibre_axis:
        "rows" when moving along the row index follows the muscle fibres, else "columns".
    name:
        Free label, e.g. the manufacturer's code "GR08MM1305".
    """

    n_rows: int
    n_columns: int
    ied_mm: float
    channel_rc: NDArray[np.int64]
    bad_channels: tuple[int, ...] = ()
    fibre_axis: FibreAxis = "rows"
    name: str = ""

    def __post_init__(self) -> None:
        rc = np.asarray(self.channel_rc, dtype=np.int64).reshape(-1, 2)
        rc.setflags(write=False)
        object.__setattr__(self, "channel_rc", rc)
        if self.n_rows < 1 or self.n_columns < 1:
            raise RecordingFormatError(f"grid shape must be positive, got {self.shape}")
        if not self.ied_mm > 0:
            raise RecordingFormatError(f"inter-electrode distance must be > 0 mm, got {self.ied_mm}")
        if len(rc) and (
            rc[:, 0].min() < 0
            or rc[:, 1].min() < 0
            or rc[:, 0].max() >= self.n_rows
            or rc[:, 1].max() >= self.n_columns
        ):
            raise RecordingFormatError(f"channel positions fall outside the {self.shape} grid")
        if len({tuple(p) for p in rc.tolist()}) != len(rc):
            raise RecordingFormatError("two channels share one electrode position")
        bad = tuple(sorted({int(b) for b in self.bad_channels}))
        if bad and (bad[0] < 0 or bad[-1] >= len(rc)):
            raise RecordingFormatError(f"bad channel index out of range 0..{len(rc) - 1}")
        object.__setattr__(self, "bad_channels", bad)
        if self.fibre_axis not in ("rows", "columns"):
            raise RecordingFormatError(f"fibre_axis must be 'rows' or 'columns', got {self.fibre_axis!r}")

    @classmethod
    def full(
        cls, n_rows: int = 13, n_columns: int = 5, ied_mm: float = 8.0, **kwargs: object
    ) -> ElectrodeGrid:
        """A grid with one channel on every electrode, in row-major order."""
        rr, cc = np.meshgrid(np.arange(n_rows), np.arange(n_columns), indexing="ij")
        rc = np.stack([rr.ravel(), cc.ravel()], axis=1)
        return cls(n_rows, n_columns, ied_mm, rc, **kwargs)  # type: ignore[arg-type]

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_rows, self.n_columns)

    @property
    def n_channels(self) -> int:
        return int(self.channel_rc.shape[0])

    @property
    def good_channels(self) -> NDArray[np.int64]:
        """Indices of the channels not marked bad, shape (n_good,)."""
        mask = np.ones(self.n_channels, dtype=bool)
        mask[list(self.bad_channels)] = False
        return np.flatnonzero(mask)

    def positions_mm(self) -> NDArray[np.float64]:
        """Electrode centres in mm, shape (n_channels, 2): (along the fibres, across them),
        relative to the grid centre."""
        rows = (self.channel_rc[:, 0] - (self.n_rows - 1) / 2) * self.ied_mm
        cols = (self.channel_rc[:, 1] - (self.n_columns - 1) / 2) * self.ied_mm
        if self.fibre_axis == "rows":
            return np.stack([rows, cols], axis=1)
        return np.stack([cols, rows], axis=1)

    def with_bad_channels(self, bad_channels: tuple[int, ...]) -> ElectrodeGrid:
        return ElectrodeGrid(
            self.n_rows, self.n_columns, self.ied_mm, self.channel_rc,
            tuple(bad_channels), self.fibre_axis, self.name,
        )


@dataclass(frozen=True, eq=False)
class Recording:
    """HD-sEMG from one grid over one sample clock.

    Attributes
    ----------
    emg_v:
        float32 array of shape (n_channels, n_samples), in volts; channel k sits at
        ``grid.channel_rc[k]``.
    sampling_rate_hz:
        Samples per second.
    grid:
        The electrode grid.
    aux:
        Auxiliary channels by name (e.g. "force"), each float32 of shape (n_samples,).
    source:
        Where it came from: a path or a description.
    file_format:
        Name of the reader that made it ("npz", "simulated", ...).
    """

    emg_v: NDArray[np.float32]
    sampling_rate_hz: float
    grid: ElectrodeGrid
    aux: dict[str, NDArray[np.float32]] = field(default_factory=dict)
    source: str = ""
    file_format: str = ""

    def __post_init__(self) -> None:
        emg = np.asarray(self.emg_v)
        if emg.ndim != 2:
            raise RecordingFormatError(f"EMG must be 2-D (channels, samples), got shape {emg.shape}")
        if emg.shape[1] == 0 or emg.shape[0] == 0:
            raise RecordingFormatError(f"EMG is empty (shape {emg.shape})")
        if not np.issubdtype(emg.dtype, np.number) or np.iscomplexobj(emg):
            raise RecordingFormatError(f"EMG must be real numbers, got dtype {emg.dtype}")
        emg = np.ascontiguousarray(emg, dtype=np.float32)
        if not np.isfinite(emg).all():
            n_bad = int((~np.isfinite(emg)).sum())
            raise RecordingFormatError(f"EMG holds {n_bad} NaN or infinite values")
        if emg.shape[0] != self.grid.n_channels:
            raise RecordingFormatError(
                f"EMG has {emg.shape[0]} channels but the grid describes {self.grid.n_channels}"
            )
        if not (np.isfinite(self.sampling_rate_hz) and self.sampling_rate_hz > 0):
            raise RecordingFormatError(f"sampling rate must be > 0 Hz, got {self.sampling_rate_hz}")
        emg.setflags(write=False)
        object.__setattr__(self, "emg_v", emg)
        object.__setattr__(self, "sampling_rate_hz", float(self.sampling_rate_hz))
        aux = {}
        for name, values in self.aux.items():
            arr = np.ascontiguousarray(values, dtype=np.float32).ravel()
            if arr.shape[0] != emg.shape[1]:
                raise RecordingFormatError(
                    f"auxiliary channel {name!r} has {arr.shape[0]} samples, EMG has {emg.shape[1]}"
                )
            arr.setflags(write=False)
            aux[name] = arr
        object.__setattr__(self, "aux", aux)

    @property
    def n_channels(self) -> int:
        return int(self.emg_v.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.emg_v.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sampling_rate_hz

    def crop(self, start_s: float, stop_s: float) -> Recording:
        """The part of the recording between ``start_s`` and ``stop_s`` (seconds)."""
        a = max(0, round(start_s * self.sampling_rate_hz))
        b = min(self.n_samples, round(stop_s * self.sampling_rate_hz))
        if b <= a:
            raise RecordingFormatError(f"empty time window {start_s}..{stop_s} s")
        return Recording(
            self.emg_v[:, a:b], self.sampling_rate_hz, self.grid,
            {k: v[a:b] for k, v in self.aux.items()}, self.source, self.file_format,
        )
