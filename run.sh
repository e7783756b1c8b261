#!/usr/bin/env bash
# One entry point for the README's two commands:
#   ./run.sh demo   install what is needed, then decompose the bundled demo recording
#   ./run.sh test   install what the tests need, then run lint, types, import contracts and tests
# Safe to run again: the virtual environment is reused while pyproject.toml is unchanged.
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
PY=${PYTHON:-python3}
# Debian packages each mode needs; only the missing ones are installed. The engine needs none
# today; the GUI's tests will add xvfb and the xcb libraries here.
APT_DEMO=()
APT_TEST=()

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
    ensure_apt ${APT_DEMO[@]+"${APT_DEMO[@]}"}
    ensure_venv ""
    shift
    exec "$VENV/bin/bmiss" decompose resources/demo_recording.npz "$@"
    ;;
  test)
    ensure_apt ${APT_TEST[@]+"${APT_TEST[@]}"}
    ensure_venv "test,dev"
    shift
    "$VENV/bin/ruff" check bmiss_engine bmiss_gui tests bench
    "$VENV/bin/mypy"
    "$VENV/bin/lint-imports"
    exec "$VENV/bin/python" -m pytest -q "$@"
    ;;
  *)
    echo "usage: ./run.sh demo | test [pytest args]" >&2
    exit 2
    ;;
esac
