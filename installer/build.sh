#!/usr/bin/env bash
# Build the standalone application: dist/BMISS/ (one folder) and, on Linux, dist/BMISS-<version>-linux-<arch>.tar.gz.
#
#   installer/build.sh                     build venv installer/.build-venv (torch 2.13.0 CPU, then .[gui,installer])
#   BMISS_BUILD_PYTHON=/path/python installer/build.sh    use that interpreter as it is (nothing installed)
#   BMISS_BUNDLE_3D=0|1 installer/build.sh               leave out / force the 3D view's pyvista+VTK (default: auto)
#
# Runs from any folder; writes only dist/, build/ and installer/.build-venv/ (all ignored by git).
# The CUDA variant: install a CUDA torch wheel into the build venv before the build (installer/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
VENV=installer/.build-venv

if [ -n "${BMISS_BUILD_PYTHON:-}" ]; then
  PY=$BMISS_BUILD_PYTHON
else
  BASE=${PYTHON:-python3}
  [ -x "$VENV/bin/python" ] || "$BASE" -m venv "$VENV"
  PY=$VENV/bin/python
  stamp="$VENV/.installed"
  want=$(sha256sum pyproject.toml | cut -c1-16)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    "$PY" -m pip install -q --upgrade pip
    # torch first: pip then keeps this build (CPU here, or the CUDA wheel installed beforehand)
    # instead of resolving the range in pyproject.toml to another one
    "$PY" -c "import torch" 2>/dev/null || "$PY" -m pip install -q "torch==2.13.0"
    "$PY" -m pip install -q ".[gui,installer]"
    echo "$want" > "$stamp"
  fi
fi

"$PY" -c "import PyInstaller, PySide6, torch" || {
  echo "build.sh: $PY lacks PyInstaller, PySide6 or torch (pip install torch==2.13.0 '.[gui,installer]')" >&2
  exit 2
}
VERSION=$("$PY" -c "import bmiss_engine; print(bmiss_engine.__version__)")
echo "building BMISS $VERSION with $("$PY" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__)')"

start=$(date +%s)
PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m PyInstaller --noconfirm --log-level WARN \
  --distpath dist --workpath build installer/bmiss.spec
echo "built dist/BMISS in $(( $(date +%s) - start )) s: $(du -sh dist/BMISS | cut -f1)"

if [ "$(uname -s)" = "Linux" ]; then
  archive="dist/BMISS-$VERSION-linux-$(uname -m).tar.gz"
  tar -C dist -czf "$archive" BMISS
  echo "archive: $archive ($(du -h "$archive" | cut -f1))"
fi
