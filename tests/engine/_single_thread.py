"""A module-scoped fixture that runs torch on one intra-op thread.

The forward-model tests work on small tensors; on the shared 2-core test machine a second
thread makes them 10–40× slower (threads wait on each other), never faster. Import the fixture
into a test module to use it; the previous thread count is restored afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def single_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
