"""Readers and writers. ``open_recording`` and ``open_result`` pick the reader by content and
extension; ``write_result`` picks the writer by file name."""

from bmiss_engine.io.bids_emg import write_bids_emg
from bmiss_engine.io.export import read_result_npz, write_result
from bmiss_engine.io.export_selection import units_to_export
from bmiss_engine.io.matrix_import import MatrixShape, TabularDescription, is_tabular, peek_matrix
from bmiss_engine.io.npz import read_npz, write_npz
from bmiss_engine.io.otb import read_otb_plus
from bmiss_engine.io.registry import open_recording, open_result
from bmiss_engine.io.session import Session, load_session, save_session

__all__ = [
    "MatrixShape", "Session", "TabularDescription", "is_tabular", "load_session", "open_recording", "open_result",
    "peek_matrix", "read_npz", "read_otb_plus", "read_result_npz", "save_session", "units_to_export",
    "write_bids_emg", "write_npz", "write_result",
]
