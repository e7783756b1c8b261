"""BMISS desktop application (PySide6). Not built yet: see the GUI issue."""
