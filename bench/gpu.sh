#!/usr/bin/env bash
# GPU benchmark of the native trainer: one prepared script for a CUDA machine.
#
# Runs bench.train on CUDA at 262k to 4M parallel referential games and prints, per
# size, env-steps/s of training and the peak GPU memory next to the plain-torch
# references (python -m bench.train prints the table).
#
# On a machine with torch but without this package's other dependencies, put their
# wheels in .whl/ first (for the machine's Python), e.g.
#   pip download --no-deps --only-binary=:all: -d .whl gymnasium pettingzoo \
#       vector-quantize-pytorch einops einx ...
# and this script installs them into /tmp/site before running.
#
#   bash bench/gpu.sh                 # sizes 262144 1048576 4194304
#   SIZES="262144" bash bench/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
for n in ${SIZES:-262144 1048576 4194304}; do
  echo "== $n parallel games =="
  python3 -m bench.train --device cuda --num-envs "$n" --num-steps 8 \
    --iterations "${ITERATIONS:-5}" --rounds 1 --hidden 64
done
