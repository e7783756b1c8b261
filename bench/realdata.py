"""The real HD-sEMG sample shipped with openhdemg, as plain-layout .npz files for the bench.

openhdemg 0.1.2's wheel holds ``openhdemg/library/decomposed_test_files/otb_testfile.mat``
(GPL-3.0: fetched into a cache at bench time, never committed). Its ``Data`` cell holds a
(66560, 75) float32 matrix at 2048 Hz: columns 0-63 monopolar EMG in µV from a GR08MM1305 grid
(13x5, 8 mm) on the vastus lateralis, 64-68 the binary discharge trains of 5 reference units
decomposed by OTBioLab+, 69-73 their pulse trains, 74 the force (%MVC).

Electrode layout: the channels are NOT in plain column-major order (``row k % 13, column k //
13``). The GR08MM1305 is wired as a serpentine, as openhdemg's ``sort_rawemg(code="GR08MM1305",
orientation=180)`` documents: column 0 holds channels 1-12 in rows 1-12 (row 0 is the absent
corner), column 1 channels 13-25 going up, column 2 channels 26-38 going down, and so on. The
data agree: on first differences, horizontally adjacent electrodes correlate at r = 0.95 with the
serpentine table but 0.59 with the column-major guess; vertically adjacent ones at 0.90 either
way (run this module to see it).

Run ``python bench/realdata.py [CACHE_DIR]`` to build the files and print the checks.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

WHEEL = "openhdemg-0.1.2-py3-none-any.whl"
MEMBER = "openhdemg/library/decomposed_test_files/otb_testfile.mat"
RECORDING_NAME = "otb_vl_recording.npz"
TRUTH_NAME = "otb_vl_truth.npz"
FS_HZ = 2048.0
GRID_SHAPE = (13, 5)
IED_MM = 8.0
N_EMG = 64
N_UNITS = 5
FIRST_TRAIN_COL = 64
FORCE_COL = 74


def gr08mm1305_rc() -> np.ndarray:
    """(row, column) of each of the 64 channels of an OTB GR08MM1305 grid, int32 (64, 2).

    openhdemg's orientation-180 table: rows run along the 13-electrode axis, (0, 0) is empty.
    """
    rc = np.empty((N_EMG, 2), dtype=np.int32)
    for k in range(N_EMG):
        if k < 12:
            rc[k] = (k + 1, 0)
        else:
            j = k - 12  # 0..51 over columns 1..4, 13 electrodes each, alternating direction
            col, pos = 1 + j // 13, j % 13
            rc[k] = (12 - pos if col % 2 == 1 else pos, col)
    return rc


def _fetch_mat(cache_dir: Path) -> Path:
    """Download the openhdemg wheel (no deps) into ``cache_dir`` if needed; extract the .mat."""
    mat = cache_dir / "otb_testfile.mat"
    if mat.exists():
        return mat
    wheel = cache_dir / WHEEL
    if not wheel.exists():
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "openhdemg==0.1.2", "-d", str(cache_dir)]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
    with zipfile.ZipFile(wheel) as zf:
        tmp = mat.with_suffix(".mat.part")
        tmp.write_bytes(zf.read(MEMBER))
        tmp.replace(mat)
    return mat


def _load_data(mat: Path) -> np.ndarray:
    """Load ``Data`` (n_samples, 75) from the .mat and check the layout described above."""
    import scipy.io

    m = scipy.io.loadmat(str(mat))
    for key in ("Data", "SamplingFrequency", "Description"):
        if key not in m:
            raise ValueError(f"{mat}: key {key!r} missing (keys: {sorted(m)})")
    data = m["Data"]
    if data.dtype == object:  # stored as a 1x1 MATLAB cell
        data = data.ravel()[0]
    data = np.asarray(data)
    if data.ndim != 2 or data.shape[1] != 75:
        raise ValueError(f"{mat}: Data has shape {data.shape}, expected (n, 75)")
    fs = float(np.asarray(m["SamplingFrequency"]).ravel()[0])
    if fs != FS_HZ:
        raise ValueError(f"{mat}: sampling frequency {fs}, expected {FS_HZ}")
    desc = [str(np.asarray(d).ravel()[0]) if np.asarray(d).size else "" for d in np.asarray(m["Description"]).ravel()]
    if not all("GR08MM1305" in d and "[uV]" in d for d in desc[:N_EMG]):
        raise ValueError(f"{mat}: columns 0-63 are not GR08MM1305 EMG in uV")
    trains = data[:, FIRST_TRAIN_COL : FIRST_TRAIN_COL + N_UNITS]
    if not np.isin(trains, (0.0, 1.0)).all():
        raise ValueError(f"{mat}: columns 64-68 are not binary discharge trains")
    if "MVC" not in desc[FORCE_COL]:
        raise ValueError(f"{mat}: column 74 is not the force (%MVC): {desc[FORCE_COL]!r}")
    return data


def real_recording(cache_dir: Path) -> tuple[Path, Path]:
    """Return (recording.npz, truth.npz) for openhdemg's real sample, building them if needed.

    recording.npz: ``emg`` float32 (64, n) in µV, ``fs_hz``, ``grid_shape`` (13, 5), ``ied_mm``
    8.0, ``channel_rc`` int32 (64, 2) (serpentine GR08MM1305 table), ``unit`` "uV", ``force``
    float32 (n,) in %MVC. truth.npz: ``unit0``..``unit4`` int64 sample indices of the reference
    discharges. Needs scipy and network access to PyPI on the first call only.
    """
    cache_dir = Path(cache_dir)
    rec, truth = cache_dir / RECORDING_NAME, cache_dir / TRUTH_NAME
    if rec.exists() and truth.exists():
        return rec, truth
    cache_dir.mkdir(parents=True, exist_ok=True)
    data = _load_data(_fetch_mat(cache_dir))
    emg = np.ascontiguousarray(data[:, :N_EMG].T, dtype=np.float32)
    trains = data[:, FIRST_TRAIN_COL : FIRST_TRAIN_COL + N_UNITS]
    units: dict[str, Any] = {f"unit{i}": np.flatnonzero(trains[:, i]).astype(np.int64) for i in range(N_UNITS)}
    tmp_rec, tmp_truth = rec.with_suffix(".part.npz"), truth.with_suffix(".part.npz")
    np.savez(
        tmp_rec,
        emg=emg,
        fs_hz=np.float64(FS_HZ),
        grid_shape=np.array(GRID_SHAPE),
        ied_mm=np.float64(IED_MM),
        channel_rc=gr08mm1305_rc(),
        unit=np.str_("uV"),
        force=data[:, FORCE_COL].astype(np.float32),
    )
    np.savez(tmp_truth, **units)
    tmp_rec.replace(rec)
    tmp_truth.replace(truth)
    return rec, truth


def _neighbour_correlation(emg: np.ndarray, rc: np.ndarray) -> tuple[float, float]:
    """Mean correlation of vertically and horizontally adjacent electrodes (first differences)."""
    c = np.asarray(np.corrcoef(np.diff(emg.astype(np.float64), axis=1)))
    dr = np.abs(rc[:, None, 0] - rc[None, :, 0])
    dc = np.abs(rc[:, None, 1] - rc[None, :, 1])
    return float(c[(dr == 1) & (dc == 0)].mean()), float(c[(dr == 0) & (dc == 1)].mean())


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / ".cache" / "real"
    rec_path, truth_path = real_recording(root)
    z, t = np.load(rec_path), np.load(truth_path)
    for k in z.files:
        print(f"{k}: shape {z[k].shape} dtype {z[k].dtype}")
    print("truth:", {k: t[k].shape[0] for k in t.files})
    naive = np.array([(k % 13, k // 13) for k in range(N_EMG)])
    for name, table in (("serpentine", z["channel_rc"]), ("column-major", naive)):
        v, h = _neighbour_correlation(z["emg"], table)
        print(f"{name}: vertical neighbours r={v:.3f}, horizontal neighbours r={h:.3f}")
