"""Readers and writers. ``open_recording`` (one grid) / ``open_recordings`` (every grid) and
``open_result`` pick the reader by content and extension; ``write_result`` picks the writer by
file name, and ``RESULT_FORMATS`` lists the writers (for an export dialog)."""

from bmiss_engine.io.bids_emg import write_bids_emg
from bmiss_engine.io.discharge_tables import discharges_beside, is_unit_summary, table_columns
from bmiss_engine.io.export import (
    RESULT_FORMATS,
    ResultFormat,
    is_result_npz,
    read_result_npz,
    result_format,
    write_result,
)
from bmiss_engine.io.export_selection import units_to_export
from bmiss_engine.io.matrix_import import MatrixShape, TabularDescription, is_tabular, peek_matrix
from bmiss_engine.io.npz import read_npz, write_npz
from bmiss_engine.io.otb import read_otb_plus
from bmiss_engine.io.registry import open_recording, open_recordings, open_recordings_with_units, open_result
from bmiss_engine.io.session import Session, load_session, save_session

__all__ = [
    "RESULT_FORMATS", "MatrixShape", "ResultFormat", "Session", "TabularDescription", "discharges_beside",
    "is_result_npz", "is_tabular", "is_unit_summary", "load_session", "open_recording", "open_recordings",
    "open_recordings_with_units", "open_result", "peek_matrix", "read_npz", "read_otb_plus", "read_result_npz",
    "result_format", "save_session", "table_columns", "units_to_export", "write_bids_emg", "write_npz", "write_result",
]
