"""Typed errors of the engine; the CLI and the GUI turn them into one-line messages."""

from __future__ import annotations


class BmissError(Exception):
    """Base class of every error the engine raises on purpose."""


class RecordingFormatError(BmissError):
    """A file could not be read as a recording (missing, unreadable, wrong layout, bad values)."""


class ConfigError(BmissError, ValueError):
    """A configuration value is out of range or inconsistent."""


class DecompositionError(BmissError):
    """The decomposition could not run on this recording (too short, no usable channels, ...)."""


class AnatomyError(BmissError):
    """An MRI volume or label map could not be used (unreadable, inconsistent, mismatched)."""


class SurrogateError(BmissError, ValueError):
    """The neural surrogate of the forward model cannot serve a request (weights missing or
    unreadable, or an anatomy, setting or time window outside what it was trained on)."""
