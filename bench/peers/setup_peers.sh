#!/usr/bin/env bash
# Create the peer decomposers' venvs under <repo>/.venv-peers/ (gitignored). Idempotent: a venv
# whose package already imports is left alone; a broken one is repaired in place.
#
#   muniverse  MUniverse (muniverse-emg; FastIcaCBSS), with the CPU torch==2.13.0 wheel pinned
#              first so pip does not pull a multi-GB CUDA build.
#   emgdecomp  emgdecomp 0.1.0 with the old pins it needs (np.int/np.float, scipy.stats.mode).
#
# usage: bench/peers/setup_peers.sh [muniverse|emgdecomp ...]   (default: both)
# env:   PYTHON (default python3.11, else python3; must be 3.11 for the emgdecomp pins)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PEERS="$ROOT/.venv-peers"
if [[ -z "${PYTHON:-}" ]]; then
    if command -v python3.11 >/dev/null 2>&1; then PYTHON=python3.11; else PYTHON=python3; fi
fi
TORCH_PIN="torch==2.13.0"
EMGDECOMP_PINS=(numpy==1.23.5 scipy==1.10.1 numba==0.57.1 scikit-learn==1.3.2 pandas==2.0.3)

mkdir -p "$PEERS"
exec 9>"$PEERS/.setup.lock"
flock 9  # one setup at a time

ok() {  # ok VENV PYTHON_CODE: does the venv run the import check?
    [[ -x "$PEERS/$1/bin/python" ]] && "$PEERS/$1/bin/python" -c "$2" >/dev/null 2>&1
}

make_venv() {  # make_venv NAME
    [[ -x "$PEERS/$1/bin/python" ]] || "$PYTHON" -m venv "$PEERS/$1"
}

setup_muniverse() {
    local check="import torch, muniverse; from muniverse.algorithms.cbss import FastIcaCBSS"
    if ok muniverse "$check"; then echo "muniverse: ok (skipped)"; return; fi
    make_venv muniverse
    local pip=("$PEERS/muniverse/bin/python" -m pip install -q --disable-pip-version-check)
    "${pip[@]}" "$TORCH_PIN"
    "${pip[@]}" "$TORCH_PIN" muniverse-emg
    ok muniverse "$check" || { echo "muniverse: import check failed" >&2; return 1; }
    echo "muniverse: installed"
}

setup_emgdecomp() {
    local check="import numpy; assert numpy.__version__ == '1.23.5'; from emgdecomp.decomposition import EmgDecomposition"
    if ok emgdecomp "$check"; then echo "emgdecomp: ok (skipped)"; return; fi
    make_venv emgdecomp
    "$PEERS/emgdecomp/bin/python" -m pip install -q --disable-pip-version-check \
        "${EMGDECOMP_PINS[@]}" emgdecomp
    ok emgdecomp "$check" || { echo "emgdecomp: import check failed" >&2; return 1; }
    echo "emgdecomp: installed"
}

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(muniverse emgdecomp)
for t in "${targets[@]}"; do
    case "$t" in
        muniverse) setup_muniverse ;;
        emgdecomp) setup_emgdecomp ;;
        *) echo "unknown peer venv: $t" >&2; exit 2 ;;
    esac
done
