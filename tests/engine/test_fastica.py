from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from bmiss_engine import ConfigError, Decomposer, DecomposerConfig
from bmiss_engine.io.npz import read_npz
from bmiss_engine.methods.units import without_duplicates
from bmiss_engine.metrics import match_units
from bmiss_engine.recording import Recording
from bmiss_engine.results import MotorUnit
from bmiss_engine.separation.duplicates import rate_of_agreement
from bmiss_engine.separation.fastica import contrast_by_name, fixed_point
from tests.engine._single_thread import single_torch_thread  # noqa: F401


def test_fixed_point_recovers_sparse_sources_of_an_instantaneous_mixture() -> None:
    g = torch.Generator().manual_seed(0)
    n, k = 20000, 4
    sources = (torch.rand(k, n, generator=g) < 0.01).float() * (1 + torch.rand(k, n, generator=g))
    sources = (sources - sources.mean(1, keepdim=True)) / sources.std(1, keepdim=True)
    q, _ = torch.linalg.qr(torch.randn(k, k, generator=g))
    z = (q @ sources).T.contiguous()  # whitened mixture, (n, k)
    w0 = torch.randn(k, 1, generator=g)
    found = []
    basis = None
    for _ in range(k):
        w, _ = fixed_point(z, torch.randn(k, 1, generator=g), contrast_by_name("skew"), basis, 200, 1e-6)
        s = (z @ w)[:, 0]
        corr = torch.stack([torch.corrcoef(torch.stack([s, src]))[0, 1].abs() for src in sources])
        found.append(int(corr.argmax()))
        assert corr.max() > 0.99
        basis = w if basis is None else torch.cat([basis, w], 1)
    assert sorted(found) == list(range(k)), "orthogonalisation must lead to every source once"
    del w0


def test_fixed_point_steps_on_a_long_recording_read_every_kth_row(
        sim_short, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a recording at least twice ``fixed_point_min_s`` long the fixed-point expectations
    average over every k-th row (a view: the peel-offs show in it); shorter ones, or None, read
    every row. A bad setting is refused."""
    import bmiss_engine.methods.fastica as fastica_method
    import bmiss_engine.methods.second_look as second_look

    rows: list[tuple[int, bool]] = []
    real = fastica_method.fixed_point

    def counted(z: torch.Tensor, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        rows.append((int(z.shape[0]), z.is_contiguous()))
        return real(z, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fastica_method, "fixed_point", counted)
    monkeypatch.setattr(second_look, "fixed_point", counted)
    rec, _ = sim_short
    n = rec.n_samples
    small = {"n_iterations": 16, "batch_size": 8, "patience_batches": 1}
    duration_s = n / rec.sampling_rate_hz  # 6 s
    Decomposer(DecomposerConfig().replace(**small, fixed_point_min_s=duration_s / 3)).run(rec)
    assert rows
    assert all(r == ((n + 2) // 3, False) for r in rows)
    rows.clear()
    Decomposer(DecomposerConfig().replace(**small, fixed_point_min_s=duration_s / 1.9)).run(rec)
    assert rows
    assert all(r == (n, True) for r in rows)
    rows.clear()
    Decomposer(DecomposerConfig().replace(**small, fixed_point_min_s=None)).run(rec)
    assert rows
    assert all(r == (n, True) for r in rows)
    with pytest.raises(ConfigError, match="fixed_point_min_s"):
        DecomposerConfig().replace(fixed_point_min_s=0.0)


def test_unknown_contrast_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="contrast"):
        contrast_by_name("cosh")


def test_the_final_duplicate_pass_sees_one_unit_aligned_on_two_parts_of_its_muap() -> None:
    """Two filters of one unit, their trains aligned 38 samples (18.6 ms) apart as on the demo
    recording with a dead channel: one unit once the lag searched spans the alignment window."""
    fs = 2048.0
    rng = np.random.default_rng(0)
    train = np.cumsum(rng.integers(100, 160, 150)).astype(np.int64)
    other = np.cumsum(rng.integers(90, 150, 160)).astype(np.int64) + 7
    units = [MotorUnit(i, d, np.zeros(train[-1] + 200, np.float32), fs) for i, d in
             enumerate((train, other, train + 38))]
    assert without_duplicates(units, fs, 0.3) == [0, 1, 2]  # the RoA's own ±10 ms misses it
    assert len(without_duplicates(units, fs, 0.3, max_lag_s=0.033)) == 2


def _bad(rec: Recording, kind: str, channel: int, tmp_path: Path) -> Recording:  # the recording, spoilt
    emg = rec.emg_v.astype(np.float64)
    if kind == "int16":
        # as a raw ADC file comes: whole microvolts in int16, read by the .npz reader
        path = tmp_path / "int16.npz"
        np.savez(path, emg=np.round(emg * 1e6).astype(np.int16), fs_hz=rec.sampling_rate_hz,
                 grid_shape=np.asarray(rec.grid.shape), ied_mm=rec.grid.ied_mm, unit="uV")
        return read_npz(path)
    scale = float(np.abs(emg).max())
    emg[channel] = {"dead": np.zeros(emg.shape[1]),
                    "railed": np.full(emg.shape[1], 10 * scale),  # stuck at the rail
                    "offset": emg[channel] + 20 * scale}[kind]
    return dataclasses.replace(rec, emg_v=emg.astype(np.float32))


@pytest.mark.parametrize("kind", ["dead", "railed", "offset", "int16"])
def test_a_bad_signal_leaves_no_duplicate_unit(sim_short, kind: str, tmp_path: Path) -> None:
    """A dead, railed or offset channel, or int16 data: no two units of the result repeat each
    other, whatever lag their alignment left between them, and a flat channel is left out."""
    rec, truth = sim_short
    spoilt = _bad(rec, kind, 5, tmp_path)
    config = DecomposerConfig().replace(method="fastica", n_iterations=48, device="cpu")
    result = Decomposer(config).run(spoilt)
    fs = rec.sampling_rate_hz
    trains = [u.discharge_samples for u in result.units]
    repeats = [(i, j) for i in range(len(trains)) for j in range(i + 1, len(trains))
               if rate_of_agreement(trains[i], trains[j], fs, max_lag_s=0.05) > config.acceptance.duplicate_roa]
    assert repeats == []
    assert result.model is not None
    assert (5 in result.model.channels) == (kind in ("offset", "int16"))
    found = match_units(truth.discharge_samples, trains, fs).n_identified
    assert found >= 5, found
