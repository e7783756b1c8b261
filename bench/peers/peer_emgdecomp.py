"""Run emgdecomp (carmenalab, Formento et al. 2021; Negro et al. 2016 CBSS) on a plain-layout .npz.

usage: python peer_emgdecomp.py DATA.npz OUT.csv [max_sources]

Runs in the ``.venv-peers/emgdecomp`` venv (emgdecomp 0.1.0 needs numpy < 1.24 and scipy < 1.11:
it uses ``np.int``/``np.float`` and ``scipy.stats.mode(...)[0][0]``).

What it does, following the package's docstrings:
- band-pass 10-900 Hz (4th-order Butterworth, zero phase), as ``EmgDecomposition.decompose``
  asks for surface EMG at 2 kHz (Negro 2016, Formento 2021); the package does no filtering itself;
- ``EmgDecompositionParams`` at the package defaults (those of Formento 2021: extension factor 16,
  i.e. 1000 / 64 channels as Negro 2016 recommends, logcosh contrast, CoV-ISI improvement
  iterations, k-means peak classification) except:
  * ``sil_threshold=0.9`` (default 0.85; 0.9 is Negro 2016's value and MUniverse's acceptance);
  * ``min_n_peaks=21`` so a kept source has > 20 discharges;
  * ``maximum_num_sources`` = the optional third argument, default 100. It is the number of
    source *searches* (each FastICA + improvement run; a search whose source fails SIL is
    discarded), the analogue of MUniverse's ``ica_iterations`` (100 in the FastIcaCBSS peer);
    the package default is 25. It is the documented knob that bounds the run time (together
    with ``max_iter``, 100 FastICA iterations per search).
- acceptance is the package's own: a source is kept during the search when its SIL >= 0.9, and
  post-processing drops sources with < 21 discharges and merges duplicates
  (``perc_coincident`` > 0.3, keeping the one with more discharges). On top of that, duplicates
  are removed as in ``peer_fastica_cbss.py`` (RoA > 0.3 after a +-10 ms lag search, keeping the
  higher SIL; SIL recomputed by the package's own routine on the final sources).

Discharge samples: emgdecomp reports indices into the *extended* data, whose column j holds
samples j .. j+R-1 (R = extension factor). They are written as j + R // 2, the window centre; the
true delay within the window is unknown (scoring uses a +-10 ms lag search anyway).
Randomness (peak-based initialisations, k-means++) is seeded with 0.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy.signal import butter, sosfiltfilt


def _shared_tools() -> Path:
    """The shared ``tools`` folder: sibling ``shared`` of the repo root, or $BMISS_SHARED."""
    env = os.environ.get("BMISS_SHARED")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2].parent / "shared")
    for c in candidates:
        if (c / "tools" / "score_csv.py").exists():
            return c / "tools"
    raise FileNotFoundError("shared/tools/score_csv.py not found (set BMISS_SHARED)")


sys.path.insert(0, str(_shared_tools()))
from emgdecomp.decomposition import EmgDecomposition  # noqa: E402
from emgdecomp.parameters import EmgDecompositionParams  # noqa: E402
from score_csv import roa  # noqa: E402

DEFAULT_MAX_SOURCES = 100
SIL_THRESHOLD = 0.9
MIN_DISCHARGES = 21
BAND_HZ = (10.0, 900.0)


def bandpass(x: np.ndarray, fs: float) -> np.ndarray:
    """Zero-phase 4th-order Butterworth band-pass (10-900 Hz, capped at 0.45 fs)."""
    sos = butter(4, [BAND_HZ[0], min(BAND_HZ[1], 0.45 * fs)], btype="bandpass", fs=fs, output="sos")
    y: np.ndarray = sosfiltfilt(sos, x, axis=1)
    return y


def decompose(x: np.ndarray, fs: float, max_sources: int) -> tuple[dict[int, np.ndarray], dict[int, float], int]:
    """Run emgdecomp; return (discharges per unit in original samples, SIL per unit, R)."""
    np.random.seed(0)  # noqa: NPY002 - emgdecomp draws from numpy's global generator
    params = EmgDecompositionParams(
        sampling_rate=fs, maximum_num_sources=max_sources, sil_threshold=SIL_THRESHOLD, min_n_peaks=MIN_DISCHARGES
    )
    decomp = EmgDecomposition(params=params, verbose=False)
    firings = decomp.decompose(x)
    r = params.extension_factor
    spk = {
        int(u): np.sort(firings["discharge_samples"][firings["source_idx"] == u]) + r // 2
        for u in np.unique(firings["source_idx"])
    }
    sil: dict[int, float] = {}
    if spk:
        proj = decomp.projected_data(x)  # (n_sources, n_extended_samples)
        for u in spk:
            _, neg_sil = decomp._improvement_iteration_inner(proj[u] ** 2, compute_sil=True)
            sil[u] = abs(float(neg_sil))
    return spk, sil, r


def main(argv: list[str]) -> None:
    """CLI entry point: decompose argv[1], write the CSV argv[2]."""
    logging.disable(logging.WARNING)
    z = np.load(argv[1])
    fs = float(z["fs_hz"])
    max_sources = int(argv[3]) if len(argv) > 3 else DEFAULT_MAX_SOURCES
    t = time.time()
    x = bandpass(z["emg"].astype(np.float64), fs)
    spk, sil, _ = decompose(x, fs, max_sources)
    dt = time.time() - t
    cand = sorted((u for u, v in spk.items() if len(v) >= MIN_DISCHARGES), key=lambda u: -sil[u])
    kept: list[int] = []
    for u in cand:
        if all(roa(spk[k], spk[u], fs) <= 0.3 for k in kept):
            kept.append(u)
    with open(argv[2], "w") as fh:
        fh.write("unit_id,sample,time_s\n")
        for u in kept:
            for s in spk[u]:
                fh.write(f"{u},{int(s)},{s / fs:.6f}\n")
    print(
        f"emgdecomp: {max_sources} source searches, {len(spk)} accepted by the package, "
        f"{len(kept)} kept in {dt:.1f}s on {z['emg'].shape}"
    )


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__.split("\n\n")[1])
    main(sys.argv)
