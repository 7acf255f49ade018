#!/usr/bin/env bash
# One command for the first lent GPU (under 8 minutes on one H100 / H200, so it can be rerun once
# within 15 minutes). Writes $OUT/device_run.json after every step (default ./device-out).
#   bash benchmarks/device_run.sh            # device: all steps
#   bash benchmarks/device_run.sh --big      # plus the > 2^31-element batch
# Without a CUDA device it runs the same steps under the Triton interpreter on small shapes.
# Python: $PYTHON, else the repository's .venv, else python3 (the device image's Python).
set -u
cd "$(dirname "$0")/.."
OUT_DIR="${OUT:-./device-out}"
mkdir -p "$OUT_DIR"
if [ -n "${PYTHON:-}" ]; then PY="$PYTHON"
elif [ -x .venv/bin/python ]; then PY=.venv/bin/python
else PY=python3
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export TRITON_DEFAULT_FP_FUSION="${TRITON_DEFAULT_FP_FUSION:-1}"
exec "$PY" benchmarks/device_run.py --out "$OUT_DIR" "$@"
