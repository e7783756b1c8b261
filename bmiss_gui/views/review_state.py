"""What the unit views draw, as one immutable value: the views are given it and never ask the
controller for anything."""

from __future__ import annotations

from dataclasses import dataclass

from bmiss_engine import DecompositionResult, MotorUnit


@dataclass(frozen=True)
class ReviewState:
    """The result shown and the units selected.

    result: the units (live snapshots during a decomposition, then the edited result), None
    before any; selected_ids: the selected units, the one the pulse train and MUAP grid show
    first; offset_samples: where the result's sample 0 lies in the recording (the start of a
    decomposed time window), so views draw in the recording's seconds; live: a decomposition
    is running (nothing can be edited).
    """

    result: DecompositionResult | None = None
    selected_ids: tuple[int, ...] = ()
    offset_samples: int = 0
    live: bool = False

    @property
    def units(self) -> tuple[MotorUnit, ...]:
        return self.result.units if self.result is not None else ()

    @property
    def selected_unit(self) -> MotorUnit | None:
        """The first selected unit, None when none is (or it is not in the result)."""
        if self.result is None or not self.selected_ids:
            return None
        try:
            return self.result.unit(self.selected_ids[0])
        except KeyError:
            return None

    def to_result_samples(self, t0_s: float, t1_s: float) -> tuple[float, float]:
        """Two times in the recording's seconds as samples of the result, in order."""
        fs = self.result.sampling_rate_hz if self.result is not None else 1.0
        a, b = sorted((t0_s * fs - self.offset_samples, t1_s * fs - self.offset_samples))
        return a, b
