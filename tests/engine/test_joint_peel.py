"""Joint peel-off: MUAPs of overlapping units fitted together, and missed discharges completed."""

from __future__ import annotations

import numpy as np
import torch

from bmiss_engine.inversion.peel import design_matrix, joint_muaps, joint_peeled


def _two_overlapping_units(seed: int = 0) -> tuple[np.ndarray, list[np.ndarray], np.ndarray, int]:
    """x (4, 6000): unit 1 fires 6 samples after unit 0 at most of unit 0's discharges, so
    every spike-triggered average of one carries the other."""
    rng = np.random.default_rng(seed)
    n, n_muap, onset = 6000, 30, 5
    muaps = rng.standard_normal((2, 4, n_muap)) * np.hanning(n_muap)
    first = np.arange(100, n - 100, 97) + rng.integers(-10, 10, size=len(range(100, n - 100, 97)))
    second = np.sort(np.concatenate([first[::5] + 40, first[np.arange(len(first)) % 5 != 0] + 6]))
    trains = [first.astype(np.int64), second.astype(np.int64)]
    x = 0.01 * rng.standard_normal((4, n))
    for muap, train in zip(muaps, trains, strict=True):
        for d in train:
            x[:, d - onset : d - onset + n_muap] += muap
    return x, trains, muaps, onset


def test_design_matrix_places_each_muap_sample_after_its_discharge() -> None:
    design = design_matrix([np.array([10, 50])], onset=3, n_muap=5, n_samples=60).toarray()
    assert design.shape == (60, 5)
    # sample j of the MUAP lands at discharge − onset + j
    assert design[7, 0] == 1 and design[11, 4] == 1 and design[47, 0] == 1
    assert design.sum() == 10


def test_joint_fit_recovers_muaps_that_spike_triggered_averages_blur() -> None:
    x, trains, muaps, onset = _two_overlapping_units()
    fitted, explained = joint_muaps(x, trains, onset, muaps.shape[2])
    error = np.linalg.norm(fitted - muaps, axis=(1, 2)) / np.linalg.norm(muaps, axis=(1, 2))
    assert error.max() < 0.02
    # the spike-triggered average of unit 0 carries unit 1's MUAP, 6 samples late
    sta = np.mean([x[:, d - onset : d - onset + muaps.shape[2]] for d in trains[0]], axis=0)
    assert np.linalg.norm(sta - muaps[0]) / np.linalg.norm(muaps[0]) > 0.3
    # what is left is the noise
    assert np.sqrt(np.mean((x - explained) ** 2)) < 0.0105


def test_joint_peel_completes_a_missed_discharge_and_leaves_the_noise() -> None:
    x, trains, muaps, onset = _two_overlapping_units(1)
    missed = int(trains[0][7])
    given = [np.delete(trains[0], 7), trains[1]]
    residual, completed = joint_peeled(torch.as_tensor(x, dtype=torch.float32), given, onset, muaps.shape[2], 2048.0)
    assert missed in set(completed[0].tolist())
    assert np.array_equal(completed[1], np.unique(trains[1]))
    assert residual.dtype == torch.float32
    assert float(residual.pow(2).mean().sqrt()) < 0.0105
