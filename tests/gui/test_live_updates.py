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


class _Bursts:
    """A decomposition yielding its snapshots as FastICA does: a burst (one per vector of a
    batch) after each batch's long computation."""

    def __init__(self, config: object) -> None:
        self.burst_ends: list[float] = []

    def iterate(self, recording):  # type: ignore[no-untyped-def]
        import time

        for batch in range(2):
            time.sleep(0.6)  # the batch's fixed-point iterations
            for i in range(8):
                yield IterationState(iteration=8 * batch + i + 1, total=16, units=(), current_sil=math.nan,
                                     phase="separating", elapsed_s=0.0)
            _BURST_ENDS.append(time.perf_counter())
        return DecompositionResult((), recording.sampling_rate_hz, recording.n_samples)


_BURST_ENDS: list[float] = []


def test_the_end_of_a_burst_shows_before_the_next_batch(qtbot, window, small_recording_file: Path,
                                                        monkeypatch) -> None:
    """The runner hands on the first snapshot of a burst at once and the last one a tenth of a
    second later, not when the next batch yields (the worker is inside it until then)."""
    import time

    from tests.gui.conftest import SMALL_CONFIG

    monkeypatch.setattr("bmiss_engine.Decomposer", _Bursts)
    _BURST_ENDS.clear()
    assert window.open_file(small_recording_file)
    got: list[tuple[int, float]] = []
    order: list[str] = []
    window.runner.snapshot.connect(lambda s: (got.append((s.iteration, time.perf_counter())), order.append("snapshot")))
    window.runner.finished.connect(lambda _r: order.append("finished"))
    with qtbot.waitSignal(window.runner.finished, timeout=20_000):
        assert window.decompose(SMALL_CONFIG)
    iterations = [i for i, _ in got]
    assert 8 in iterations  # the end of the first burst ...
    at_8 = dict(got)[8]
    assert at_8 < _BURST_ENDS[0] + 0.4  # ... shown while the second batch computes (0.6 s)
    assert iterations[-1] == 16, (got, order)  # the last snapshot comes before the result
    assert order[-1] == "finished"
    assert len(got) <= 6  # paced: not 16
