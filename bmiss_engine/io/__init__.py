"""Readers and writers. ``open_recording`` picks the reader by content and extension."""

from bmiss_engine.io.export import read_result_npz, write_result
from bmiss_engine.io.npz import read_npz, write_npz
from bmiss_engine.io.registry import open_recording

__all__ = ["open_recording", "read_npz", "read_result_npz", "write_npz", "write_result"]
