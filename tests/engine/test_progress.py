"""Running and cancelling step-by-step computations (bmiss_engine.progress)."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator

import pytest

from bmiss_engine import Decomposer, DecomposerConfig
from bmiss_engine.progress import CancelFlag, Cancelled, cancellable, checkpoint, drain, relay
from bmiss_engine.simulate import SimulationConfig, simulate_recording
from tests.engine._single_thread import single_torch_thread  # noqa: F401


def _counting(n: int, closed: list[bool]) -> Generator[int, None, str]:
    try:
        yield from range(n)
        return f"counted {n}"
    finally:
        closed.append(True)


def test_drain_returns_the_value_and_sees_every_step() -> None:
    seen: list[int] = []
    assert drain(_counting(4, []), seen.append) == "counted 4"
    assert seen == [0, 1, 2, 3]


def test_relay_converts_skips_and_closes_the_inner_generator() -> None:
    def outer(closed: list[bool]) -> Generator[str, None, str]:
        value = yield from relay(_counting(5, closed), lambda i: None if i % 2 else f"step {i}")
        return value.upper()

    seen: list[str] = []
    assert drain(outer([]), seen.append) == "COUNTED 5"
    assert seen == ["step 0", "step 2", "step 4"]
    closed: list[bool] = []
    gen = outer(closed)
    next(gen)
    gen.close()  # a Cancel of the outer generator reaches the inner one
    assert closed == [True]


def test_checkpoint_raises_only_when_this_thread_is_asked_to_stop() -> None:
    checkpoint()  # outside any cancellable block: never stops
    flag = CancelFlag()
    with cancellable(flag):
        checkpoint()
        flag.set()
        with pytest.raises(Cancelled):
            checkpoint()
    checkpoint()  # the flag belongs to the block that installed it


def test_cancel_stops_the_theta_fit_within_a_second() -> None:
    """Cancel acts inside a long step (the θ fit of a chunk of units takes seconds), not only
    between snapshots, and nothing is yielded after it."""
    rec, _ = simulate_recording(SimulationConfig(
        n_units=4, duration_s=3.0, grid_shape=(6, 4), missing_corner=False, snr_db=25.0, ramp_s=0.3,
        peak_excitation=0.7, depth_range_mm=(1.0, 6.0), muap_generator="analytic", seed=3,
    ))
    config = DecomposerConfig().replace(method="hybrid", n_iterations=32, batch_size=8, extension_factor=8,
                                        device="cpu", hybrid_restarts=0)
    flag = CancelFlag()
    gen = Decomposer(config).iterate(rec)
    with cancellable(flag):
        state = next(gen)
        while state.stage != "θ fit":
            state = next(gen)
        assert state.units, "the baseline found no unit to fit"
        timer = threading.Timer(0.3, flag.set)
        timer.start()
        t0 = time.perf_counter()
        with pytest.raises(Cancelled):
            next(gen)
        stopped_after_s = time.perf_counter() - t0
    timer.join()
    assert stopped_after_s < 0.3 + 1.0
    with pytest.raises(StopIteration):
        next(gen)  # the generator is finished: no unit arrives after the Cancel
