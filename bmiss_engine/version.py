"""The engine's version, apart from the package's __init__ so that any module can read it
without importing the package's lazily loaded members."""

__version__ = "0.1.0"
