from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bmiss_engine.simulate import SimulationConfig, simulate_recording

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(autouse=True, scope="session")
def _threads() -> None:
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def sim20():
    """The issue's benchmark case: 20 units, 20 dB, 20 s, 64 channels."""
    return simulate_recording(SimulationConfig(n_units=20, snr_db=20.0, duration_s=20.0, seed=0))


@pytest.fixture(scope="session")
def sim_short():
    """A small, quick recording: 8 units, 6 s."""
    return simulate_recording(SimulationConfig(n_units=8, duration_s=6.0, ramp_s=1.0, seed=3))
