"""Which units an export writes, and where their discharges sit in the recording.

A reviewed result marks each unit accepted, flagged (to look at again) or rejected; units not
looked at yet are unreviewed. An export writes the units not rejected (optionally without the
flagged) with their discharge samples counted from the recording's start, also after a
decomposition of a time window (whose result counts from the window's start, as
:meth:`Recording.crop` does).
"""

from __future__ import annotations

from bmiss_engine.results import DecompositionResult, UnitStatus

EXPORTED_STATUSES: tuple[UnitStatus, ...] = ("unreviewed", "accepted", "flagged")


def exported_statuses(include_flagged: bool = True) -> tuple[UnitStatus, ...]:
    """The review statuses whose units an export writes."""
    return EXPORTED_STATUSES if include_flagged else ("unreviewed", "accepted")


def units_to_export(result: DecompositionResult, offset_samples: int = 0,
                    include_flagged: bool = True) -> DecompositionResult:
    """``result`` with only the units an export writes, in their order.

    offset_samples: where the result's sample 0 lies in the recording (the start of the
    decomposed window, 0 for the whole recording); every kept unit's ``discharge_samples``
    (n_discharges,) is shifted by it, so the samples count from the recording's start. The
    result's other fields (``n_samples``, ``sampling_rate_hz``, provenance) are unchanged.
    """
    keep = exported_statuses(include_flagged)
    offset = int(offset_samples)
    units = [u.replace(discharge_samples=u.discharge_samples + offset) if offset else u
             for u in result.units if u.status in keep]
    return result.with_units(units)


__all__ = ["EXPORTED_STATUSES", "exported_statuses", "units_to_export"]
