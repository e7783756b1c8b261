"""BMISS desktop application (PySide6 + pyqtgraph): open a recording, decompose it while
watching units appear, review and edit them with undo, export discharge times.

Reads the engine through its public API only; ``bmiss-gui`` (``bmiss_gui.app:main``) starts it.
"""

import time

# when the package was first imported: before Qt, the engine and torch (``bmiss-gui
# --startup-time`` reports the time from here to an interactive window)
STARTED_AT = time.perf_counter()
