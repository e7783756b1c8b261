"""Live snapshots while decomposing: the views are redrawn for a snapshot that shows other units
than the last one drawn, and not for one that shows the same (most snapshots of a batch of
the search add no unit)."""

from __future__ import annotations

from tests.gui.conftest import require_gui

require_gui()

import dataclasses
import math
from pathlib import Path

from bmiss_engine import DecompositionResult, IterationState


def _snapshot(iteration: int, result: DecompositionResult, n_units: int) -> IterationState:
    return IterationState(iteration=iteration, total=100, units=result.units[:n_units], current_sil=math.nan,
                          phase="separating", elapsed_s=float(iteration))


def test_a_snapshot_with_the_same_units_redraws_nothing(window, small_recording_file: Path,
                                                        small_result: DecompositionResult) -> None:
    assert window.open_file(small_recording_file)
    redraws: dict[int, int] = {}
    for i, view in enumerate(window.live_redraw._views):
        redraws[i] = 0

        def counted(original=view.redraw, i=i) -> None:  # type: ignore[no-untyped-def]
            redraws[i] += 1
            original()

        view.redraw = counted
        view.min_interval_s = 0.0  # every request is drawn at once here
    session = window.session
    session.begin_decomposition(None)

    def show(state: IterationState) -> list[int]:
        session.show_progress(state)
        window.live_redraw.flush()
        return list(redraws.values())

    first = show(_snapshot(1, small_result, 2))
    assert all(n == 1 for n in first), first
    # the next vectors of the batch found nothing: the same unit objects again
    assert show(_snapshot(2, small_result, 2)) == first
    assert show(dataclasses.replace(_snapshot(3, small_result, 2), current_sil=0.5)) == first
    # a new unit: every live view is redrawn once
    third = show(_snapshot(4, small_result, 3))
    assert all(n == 2 for n in third), third
    assert window.views["units"].units_model.rowCount() == 3
    # the end of the run draws the result even with the same units
    session.keep_partial(_snapshot(5, small_result, 3))
    window.live_redraw.flush()
    assert all(n == 3 for n in redraws.values()), redraws
