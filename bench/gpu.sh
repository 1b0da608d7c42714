#!/usr/bin/env bash
# One command for the first run on a machine with one or more NVIDIA GPUs: makes an environment, then runs
# bench/gpu.py (as `python -m bench.gpu`), which prints one markdown table (copy it into BENCHMARKS.md).
#
#   bench/gpu.sh [--dry-run] [--records N] [--out DIR]
#
# $PYTHON, when set, is used as it is (CI's dry run uses its own environment). Otherwise a virtual
# environment .venv-gpu is made beside the repository's files, seeing the system's packages (a machine that
# comes with a GPU build of torch keeps it), and requirements.txt is installed into it; pip fetches only what
# is missing. --dry-run runs every step on the CPU at a tiny scale, to check the script, not the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
    if [[ ! -x .venv-gpu/bin/python ]]; then
        python3 -m venv --system-site-packages .venv-gpu
    fi
    PYTHON=.venv-gpu/bin/python
    "$PYTHON" -m pip install --quiet -r requirements.txt
fi
export PYTHONUNBUFFERED=1
exec "$PYTHON" -m bench.gpu "$@"
