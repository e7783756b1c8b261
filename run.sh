#!/usr/bin/env bash
# One entry point for the README's two commands:
#   ./run.sh demo   install what is needed, then open the desktop application on the demo recording
#                   (without a display: decompose it on the command line instead)
#   ./run.sh test   install what the tests need, then run lint, types, import contracts and tests
# Safe to run again: the virtual environment is reused while pyproject.toml is unchanged.
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
PY=${PYTHON:-python3}
# Debian packages each mode needs; only the missing ones are installed. The engine needs none;
# Qt needs these to draw (offscreen in the tests) and, on a screen, the xcb libraries.
APT_QT=(libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0)
APT_DEMO=("${APT_QT[@]}" libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0
          libxcb-render-util0 libxcb-randr0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 libx11-xcb1)
# the 3D view's tests draw with OpenGL on an X server: Xvfb and Mesa's software renderer
APT_TEST=("${APT_QT[@]}" xvfb xauth libgl1-mesa-dri libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1
          libxcb-image0 libxcb-render-util0 libxcb-randr0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 libx11-xcb1)

ensure_apt() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
  fi
}

ensure_venv() {  # $1: extras, e.g. "test,dev"
  local stamp="$VENV/.installed-${1:-base}"
  local want; want=$(sha256sum pyproject.toml | cut -c1-16)
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    "$VENV/bin/python" -m pip install -q --upgrade pip
    # torch pinned here to the CPU build that lies on this kind of machine; pyproject keeps
    # a range so users with a GPU install their own CUDA build
    "$VENV/bin/python" -m pip install -q "torch==2.13.0"
    if [ -n "$1" ]; then
      "$VENV/bin/python" -m pip install -q -e ".[$1]"
    else
      "$VENV/bin/python" -m pip install -q -e .
    fi
    echo "$want" > "$stamp"
  fi
}

case "${1:-}" in
  demo)
    shift
    if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -z "${QT_QPA_PLATFORM:-}" ]; then
      echo "no display: decomposing the demo on the command line (set DISPLAY to see the application)" >&2
      ensure_venv ""
      exec "$VENV/bin/bmiss" decompose resources/demo_recording.npz "$@"
    fi
    ensure_apt ${APT_DEMO[@]+"${APT_DEMO[@]}"}
    ensure_venv "gui"
    exec "$VENV/bin/bmiss-gui" resources/demo_recording.npz --mri resources/demo_mri/demo_labels.nii.gz "$@"
    ;;
  test)
    ensure_apt ${APT_TEST[@]+"${APT_TEST[@]}"}
    ensure_venv "test,dev,gui"
    shift
    "$VENV/bin/ruff" check bmiss_engine bmiss_gui tests bench research installer
    "$VENV/bin/mypy"
    "$VENV/bin/lint-imports"
    # the GUI tests draw offscreen: no X server needed
    QT_QPA_PLATFORM=offscreen "$VENV/bin/python" -m pytest -q --no-xvfb "$@"
    if [ $# -eq 0 ]; then
      # the 3D view draws with OpenGL: its tests run on Qt's xcb platform under Xvfb (started
      # by pytest-xvfb), in a process of their own since a process has one Qt platform
      "$VENV/bin/python" -m pytest -q tests/gui3d
      # a plain `pip install` of the wheel must run: build it, install it alone in a fresh
      # venv and decompose the bundled demo there (about 1.5 min; pip's cache makes reruns fast)
      "$VENV/bin/python" tests/packaging/smoke_wheel.py \
        || { echo "run.sh: the wheel smoke test failed (see above): the installed package does not run" >&2; exit 1; }
    fi
    ;;
  *)
    echo "usage: ./run.sh demo | test [pytest args]" >&2
    exit 2
    ;;
esac
