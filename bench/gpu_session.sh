#!/usr/bin/env bash
# The CUDA checks of one device lease, in one call: forward-model throughput (analytic and
# surrogate), the paper setting's per-restart cost, the engine tests that reach the device,
# and the sparse-decoder oracle. Each step has its own time limit, so one failure leaves the others' figures.
# The paper-setting and oracle steps run studies from research/ (tables in research/results/).
#
# usage (on the GPU machine, repository root): OUT=/some/dir bash bench/gpu_session.sh [paper args...]
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH=.
OUT=${OUT:-/tmp/gpu_out}
PY=${PY:-python3}
# DEVICE=cpu runs the same steps here (a dry run of the script)
mkdir -p "$OUT"
log=$OUT/log.txt
step() {  # step LIMIT_S COMMAND...: a limit of 0 skips the step
    local limit=$1
    shift
    [ "$limit" -gt 0 ] || return 0
    echo "=== $* (limit ${limit} s) at $(date +%T)" >>"$log"
    timeout "$limit" "$@" >>"$log" 2>&1
    echo "=== rc $? at $(date +%T)" >>"$log"
}
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    $PY -c "import torch, numpy, scipy; print('torch', torch.__version__, torch.cuda.get_device_name(), 'numpy', numpy.__version__, 'scipy', scipy.__version__)"
    nproc
} >>"$log" 2>&1
step "${FORWARD_S:-45}" $PY bench/forward_speed.py --device "${DEVICE:-cuda}" --threads 8 --batch "${BATCH:-1024}"
step "${SURROGATE_S:-45}" $PY bench/surrogate.py --device "${DEVICE:-cuda}" --threads 8 --units 32 --batch "${BATCH:-1024}"
step "${PAPER_S:-170}" $PY research/paper_setting.py --device "${DEVICE:-cuda}" --threads 8 "$@"
step "${TESTS_S:-70}" $PY -m pytest -q -x -p no:cacheprovider tests/engine/test_decomposer.py tests/engine/test_inversion.py \
    tests/engine/test_surrogate.py tests/engine/test_forward_analytic.py
# the exact-MUAP MVDR ceiling of the paper setting at larger extension factors (ORACLE_R="16 24";
# the eigendecomposition of a 320·R covariance is minutes on the 2-core CPU)
if [ -n "${ORACLE_R:-}" ]; then
    step "${ORACLE_S:-120}" $PY research/oracle.py --r $ORACLE_R --paper --snr 20 --only --no-matching \
        --threads 8 --device "${DEVICE:-cuda}" --tag "_r${ORACLE_R// /_}"
fi
# the joint decoder with perfect and θ-perturbed templates: 25 min per run on the 2-core CPU,
# seconds here, so more iterations and more θ errors (SPARSE_S=0 skips it)
step "${SPARSE_S:-150}" $PY research/oracle.py --sparse --snr 20 10 --theta-noise 0.0025 0.005 0.01 \
        --iterations 1500 --reweight-rounds 2 --threads 8 --device "${DEVICE:-cuda}"
cp bench/results/*cuda*.md research/results/*cuda*.md "$OUT"/ 2>/dev/null
