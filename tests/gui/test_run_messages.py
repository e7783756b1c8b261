"""What the window says at the end of a run."""

from __future__ import annotations

from tests.gui.conftest import require_gui

require_gui()

import dataclasses

from bmiss_engine import DecompositionResult


def test_the_status_bar_names_the_channels_a_run_left_out(window, small_result: DecompositionResult) -> None:  # type: ignore[no-untyped-def]
    """At the end of a run the status bar says which channels detection left out, and why."""
    provenance = {**small_result.provenance, "channels_left_out": {"5": "saturated", "9": "saturated",
                                                                   "12": "RMS far from the median"}}
    window.run._on_finished(dataclasses.replace(small_result, provenance=provenance))
    message = window.statusBar().currentMessage()
    assert f"{small_result.n_units} motor units" in message
    assert "channels 5, 9 left out (saturated)" in message
    assert "channel 12 left out (RMS far from the median)" in message
