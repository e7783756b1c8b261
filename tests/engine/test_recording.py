from __future__ import annotations

import numpy as np
import pytest

from bmiss_engine import ElectrodeGrid, Recording, RecordingFormatError


def test_full_grid_positions_are_centred_and_row_major() -> None:
    g = ElectrodeGrid.full(13, 5, 8.0)
    assert g.n_channels == 65
    assert tuple(g.channel_rc[6]) == (1, 1)
    pos = g.positions_mm()
    np.testing.assert_allclose(pos.mean(axis=0), 0.0, atol=1e-12)
    assert pos[:, 0].max() == pytest.approx(48.0)  # 6 rows × 8 mm along the fibres


def test_columns_fibre_axis_swaps_positions() -> None:
    g = ElectrodeGrid.full(13, 5, 8.0, fibre_axis="columns")
    assert g.positions_mm()[:, 0].max() == pytest.approx(16.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channel_rc": [[0, 0], [0, 0]]}, "share"),
        ({"channel_rc": [[13, 0]]}, "outside"),
        ({"channel_rc": [[0, 0]], "ied_mm": 0.0}, "distance"),
        ({"channel_rc": [[0, 0]], "bad_channels": (3,)}, "bad channel"),
    ],
)
def test_grid_rejects_inconsistent_descriptions(kwargs: dict, message: str) -> None:
    args = {"n_rows": 13, "n_columns": 5, "ied_mm": 8.0, **kwargs}
    with pytest.raises(RecordingFormatError, match=message):
        ElectrodeGrid(**args)


def test_good_channels_exclude_bad() -> None:
    g = ElectrodeGrid.full(2, 2, 5.0, bad_channels=(1, 3))
    assert g.good_channels.tolist() == [0, 2]


@pytest.mark.parametrize(
    ("emg", "message"),
    [
        (np.zeros((4, 0)), "empty"),
        (np.zeros(16), "2-D"),
        (np.full((4, 10), np.nan), "NaN"),
        (np.zeros((3, 10)), "3 channels"),
    ],
)
def test_recording_rejects_bad_arrays(emg: np.ndarray, message: str) -> None:
    with pytest.raises(RecordingFormatError, match=message):
        Recording(emg, 2048.0, ElectrodeGrid.full(2, 2, 5.0))


def test_recording_is_immutable_float32_and_crops() -> None:
    rec = Recording(np.ones((4, 2048), dtype=np.float64), 1024.0, ElectrodeGrid.full(2, 2, 5.0),
                    aux={"force": np.arange(2048)})
    assert rec.emg_v.dtype == np.float32
    assert not rec.emg_v.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        rec.emg_v[0, 0] = 2.0
    part = rec.crop(0.5, 1.0)
    assert part.n_samples == 512
    assert part.aux["force"][0] == 512
    assert rec.duration_s == pytest.approx(2.0)
