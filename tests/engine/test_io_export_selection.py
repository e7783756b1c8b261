"""The export rule: the units not rejected (optionally without the flagged), their discharges
counted from the recording's start."""

from __future__ import annotations

from bmiss_engine.io import units_to_export
from tests.engine.io_helpers import small_result


def test_rejected_units_are_left_out_and_flagged_ones_on_request() -> None:
    result = small_result()  # units 0, 2, 5
    reviewed = result.with_units((result.units[0].replace(status="rejected"), result.units[1].replace(status="flagged"),
                                  result.units[2]))
    assert [u.unit_id for u in units_to_export(reviewed).units] == [2, 5]
    assert [u.unit_id for u in units_to_export(reviewed, include_flagged=False).units] == [5]
    kept = units_to_export(reviewed)
    assert kept.units[0] is reviewed.units[1]  # no offset: the very units, not copies
    assert (kept.n_samples, kept.sampling_rate_hz) == (result.n_samples, result.sampling_rate_hz)
    assert [u.unit_id for u in result.units] == [0, 2, 5]
    assert reviewed.units[0].status == "rejected"


def test_a_windowed_results_discharges_count_from_the_recordings_start() -> None:
    result = small_result()
    shifted = units_to_export(result, offset_samples=2048)
    for before, after in zip(result.units, shifted.units, strict=True):
        assert after.unit_id == before.unit_id
        assert after.discharge_samples.tolist() == (before.discharge_samples + 2048).tolist()
