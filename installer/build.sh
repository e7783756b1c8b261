#!/usr/bin/env bash
# Build the standalone application: dist/BMISS/ (one folder) and an archive of it
# (dist/BMISS-<version>-linux-<arch>.tar.gz on Linux, -macos-<arch>.zip on macOS).
#
#   installer/build.sh                                   build venv installer/.build-venv: torch 2.13.0 (CPU) first, then .[gui,installer]
#   BMISS_BUILD_PYTHON=/path/python installer/build.sh   use that interpreter as it is (nothing installed)
#   BMISS_TORCH_INDEX=URL installer/build.sh             where torch comes from (default: PyTorch's CPU wheels; empty: pip's own index)
#   BMISS_BUNDLE_3D=0|1 installer/build.sh               leave out / force the 3D view's pyvista+VTK (default: auto)
#
# Runs from any folder; writes only dist/, build/ and installer/.build-venv/ (all ignored by git).
# The CUDA variant: install a CUDA torch wheel into the build venv first (installer/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
VENV=installer/.build-venv
TORCH_INDEX=${BMISS_TORCH_INDEX-https://download.pytorch.org/whl/cpu}

if [ -n "${BMISS_BUILD_PYTHON:-}" ]; then
  PY=$BMISS_BUILD_PYTHON
else
  BASE=${PYTHON:-python3}
  [ -x "$VENV/bin/python" ] || "$BASE" -m venv "$VENV"
  PY=$VENV/bin/python
  stamp="$VENV/.installed"
  want=$("$PY" -c "import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], 'rb').read()).hexdigest()[:16])" pyproject.toml)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    "$PY" -m pip install -q --upgrade pip
    # torch first, and only when absent: a CUDA wheel installed beforehand stays, and pip then
    # does not resolve pyproject's range to another build
    if ! "$PY" -c "import torch" 2>/dev/null; then
      "$PY" -m pip install -q "torch==2.13.0" ${TORCH_INDEX:+--extra-index-url "$TORCH_INDEX"}
    fi
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
# the checkout's sources, not a copy installed into the venv
PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m PyInstaller --noconfirm --log-level WARN \
  --distpath dist --workpath build installer/bmiss.spec
echo "built dist/BMISS in $(( $(date +%s) - start )) s: $(du -sh dist/BMISS | cut -f1)"

case "$(uname -s)" in
  Linux)
    archive="dist/BMISS-$VERSION-linux-$(uname -m).tar.gz"
    tar -C dist -czf "$archive" BMISS ;;
  Darwin)
    archive="dist/BMISS-$VERSION-macos-$(uname -m).zip"
    ditto -c -k --keepParent dist/BMISS.app "$archive" ;;
  *)
    archive="" ;;
esac
[ -n "$archive" ] && echo "archive: $archive ($(du -h "$archive" | cut -f1))"
exit 0
