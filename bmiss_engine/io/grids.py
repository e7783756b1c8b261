"""Electrode grids sold by OT Bioelettronica: shape, inter-electrode distance and the
(row, column) of every channel, from the grid's product code.

Channel orders known here (channel k counts from 0 in the order the amplifier records them):

========================  ======  =====  ====================================================
code                      rows×c  ied    order (rows run along the grid's long axis)
========================  ======  =====  ====================================================
GR04MM1305, GR08MM1305    13×5    4, 8   serpentine down the columns; (0, 0) has no electrode
HD04MM1305, HD08MM1305    13×5    4, 8   column by column from the last column; (0, 4) empty
GR10MM0808, HD10MM0808    8×8     10     column by column, each column from the bottom row
HD05MM0804, HD10MM0804    8×4     5, 10  column by column, each column from the top row
GR10MM0804                8×4     10     from the last column, each column from the bottom row
========================  ======  =====  ====================================================

Sources: the wiring tables of openhdemg's ``electrodes.sort_rawemg`` (orientation 180°: the
connector towards the researcher) and MUedit's ``formatsignalHDEMG`` (``ElChannelMap``; the only
source for GR10MM0804). They agree on the GR grids and the HD..0804 and, for the GR08MM1305,
with the correlation of neighbouring channels in openhdemg's real sample (``bench/realdata.py``).
For HD..1305 and HD10MM0808 they disagree (MUedit mirrors the GR wiring left-right; openhdemg
keeps the 8×8 as the GR and wires the 13×5 columns all in one direction): openhdemg's tables are
used here, and those three orders deserve a check on real data.
Other codes of the form ``GRddMMrrcc``/``HDddMMrrcc`` get their shape and
distance from the code and a plain column-major order, with a warning: their wiring is not known
here, so neighbours on the grid may not be neighbours in the data.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from bmiss_engine.recording import ElectrodeGrid

log = logging.getLogger(__name__)

GRID_CODE = re.compile(r"^(GR|HD)(\d{2})MM(\d{2})(\d{2})$")


def _gr_1305(k: int) -> tuple[int, int]:
    if k < 12:
        return k + 1, 0
    j = k - 12  # 13 electrodes per column over columns 1..4, alternating direction
    col, pos = 1 + j // 13, j % 13
    return (12 - pos if col % 2 == 1 else pos), col


def _hd_1305(k: int) -> tuple[int, int]:
    if k < 12:
        return k + 1, 4
    j = k - 12
    return j % 13, 3 - j // 13


def _mm_0808(k: int) -> tuple[int, int]:
    return 7 - k % 8, k // 8


def _hd_0804(k: int) -> tuple[int, int]:
    return k % 8, k // 8


def _gr_0804(k: int) -> tuple[int, int]:
    return 7 - k % 8, 3 - k // 8


# code -> (rows, columns, ied_mm, n_electrodes, channel k -> (row, column))
KNOWN_GRIDS: dict[str, tuple[int, int, float, int, Callable[[int], tuple[int, int]]]] = {
    "GR04MM1305": (13, 5, 4.0, 64, _gr_1305),
    "GR08MM1305": (13, 5, 8.0, 64, _gr_1305),
    "HD04MM1305": (13, 5, 4.0, 64, _hd_1305),
    "HD08MM1305": (13, 5, 8.0, 64, _hd_1305),
    "GR10MM0808": (8, 8, 10.0, 64, _mm_0808),
    "HD10MM0808": (8, 8, 10.0, 64, _mm_0808),
    "HD05MM0804": (8, 4, 5.0, 32, _hd_0804),
    "HD10MM0804": (8, 4, 10.0, 32, _hd_0804),
    "GR10MM0804": (8, 4, 10.0, 32, _gr_0804),
}


def is_grid_code(text: str) -> bool:
    """True for an OTB grid product code such as "GR08MM1305"."""
    return text.strip().upper() in KNOWN_GRIDS or GRID_CODE.match(text.strip().upper()) is not None


def otb_channel_rc(code: str, n_channels: int) -> NDArray[np.int64]:
    """(row, column) of the first ``n_channels`` channels of grid ``code``, int64 (n_channels, 2).

    Raises ValueError for a code that is not a grid code, or more channels than electrodes.
    """
    _, _, _, n_electrodes, order = _describe(code)
    if n_channels > n_electrodes:
        raise ValueError(f"{n_channels} channels recorded but grid {code} has {n_electrodes} electrodes")
    return np.asarray([order(k) for k in range(n_channels)], dtype=np.int64).reshape(-1, 2)


def otb_grid(code: str, n_channels: int) -> ElectrodeGrid:
    """The :class:`ElectrodeGrid` of an OTB grid ``code`` recorded on ``n_channels`` channels."""
    rows, cols, ied_mm, _, _ = _describe(code)
    name = code.strip().upper()
    if name not in KNOWN_GRIDS:
        log.warning("grid %s: channel order unknown; assuming column-major", name)
    return ElectrodeGrid(rows, cols, ied_mm, otb_channel_rc(code, n_channels), name=name)


def _describe(code: str) -> tuple[int, int, float, int, Callable[[int], tuple[int, int]]]:
    name = code.strip().upper()
    if name in KNOWN_GRIDS:
        return KNOWN_GRIDS[name]
    m = GRID_CODE.match(name)
    if m is None:
        raise ValueError(f"{code!r} is not an OT Bioelettronica grid code (like GR08MM1305)")
    ied_mm, rows, cols = float(m.group(2)), int(m.group(3)), int(m.group(4))

    def column_major(k: int) -> tuple[int, int]:
        return k % rows, k // rows

    return rows, cols, ied_mm, rows * cols, column_major
