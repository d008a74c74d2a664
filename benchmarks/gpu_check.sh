#!/usr/bin/env bash
# Every CUDA path in one short run, for a machine with an NVIDIA GPU (and a
# CUDA build of torch 2.13 in .venv): the GPU tests, then one timing of each
# benchmark on the device. Each step is bounded so the whole script fits in a
# few minutes; results are printed and written under ${OUT:-gpu_results}/.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-gpu_results}
mkdir -p "$OUT"
run() {  # name, seconds, command...
    local name=$1 secs=$2; shift 2
    echo "== $name"
    timeout -s KILL "$secs" "$@" > "$OUT/$name.log" 2>&1
    echo "rc=$? ($name)"; tail -n 12 "$OUT/$name.log"
}
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA torch'; print(torch.__version__, torch.version.cuda)"
run gpu_tests 240 "$PY" -m pytest -q -m gpu tests -p no:cacheprovider
run covariance 150 "$PY" benchmarks/bench_covariance.py --quick   # backend auto = CUDA torch
run demovae 150 "$PY" benchmarks/bench_demovae.py --device cuda --n-train 300 --n-test 300
run brainmae 120 "$PY" benchmarks/eval_brainmae.py --device cuda --threads 8
run tfm 150 "$PY" benchmarks/eval_tfm.py                        # throughput on CUDA when present
