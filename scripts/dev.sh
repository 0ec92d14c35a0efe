#!/usr/bin/env bash
# Set up a virtual environment (once) and run one job in it.
#
#   bash scripts/dev.sh run     # set up, then train AIM agents with the defaults
#   bash scripts/dev.sh test    # set up, then run the fast test suite
#   bash scripts/dev.sh bench   # set up, then run the env benchmark
#   bash scripts/dev.sh setup   # set up only
#
# Torch: a light CPU build by default (torch==2.13.0). To use your own build (CUDA),
# install it into .venv first, or set AIM_TORCH to a pip requirement, e.g.
# AIM_TORCH="torch==2.13.0" or AIM_TORCH="torch" for your platform's default wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${AIM_VENV:-.venv}

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
  fi
  local py="$VENV/bin/python"
  local stamp
  stamp="$VENV/.aim-setup-$(cat pyproject.toml | cksum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ]; then
    local log="$VENV/setup.log"
    echo "setting up $VENV (once; log in $log) ..." >&2
    {
      "$py" -m pip install -q --upgrade pip &&
      # Torch first, so the packages that need it do not pull a multi-GB CUDA build.
      { "$py" -c "import torch" 2>/dev/null ||
        "$py" -m pip install -q "${AIM_TORCH:-torch==2.13.0}"; } &&
      "$py" -m pip install -q -e ".[dev,rllib]"
    } >"$log" 2>&1 || { cat "$log" >&2; echo "set-up failed (see above)" >&2; exit 1; }
    touch "$stamp"
  fi
}

job=${1:-run}
shift || true
setup

case "$job" in
  setup) ;;
  run) exec "$VENV/bin/python" -m experiments.aim "$@" ;;
  test) OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} exec "$VENV/bin/python" -m pytest -q "$@" ;;
  bench) exec "$VENV/bin/python" -m bench.envs "$@" ;;
  *) echo "usage: bash scripts/dev.sh run|test|bench|setup [args...]" >&2; exit 2 ;;
esac
