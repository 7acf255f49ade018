#!/usr/bin/env bash
# Refresh requirements-lock.txt: build a fresh environment (.venv-latest, or $MFA_LOCK_VENV) with
# the newest versions that pyproject.toml's bounds allow, then freeze every installed
# distribution, direct and transitive, except mfa-engine itself and torch (chosen per machine by
# scripts/setup.sh, MFA_TORCH_SPEC). Run the suite on that environment before committing the lock:
#
#   bash scripts/lock.sh && MFA_VENV=.venv-latest bash .ci/run
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${MFA_LOCK_VENV:-.venv-latest}
rm -rf "$VENV"
MFA_VENV="$VENV" MFA_LATEST=1 MFA_SKIP_WARMUP=1 bash scripts/setup.sh
PY="$VENV/bin/python"
{
    echo "# Every dependency of mfa-engine[dev], direct and transitive, at the versions CI last passed"
    echo "# with. Installed by scripts/setup.sh as pip constraints; refreshed by scripts/lock.sh."
    echo "# Python $("$PY" -c 'import platform; print(platform.python_version())') on $(uname -m), $(date -u +%Y-%m-%d). torch is not pinned here (MFA_TORCH_SPEC)."
    "$PY" -m pip freeze --exclude-editable --disable-pip-version-check | grep -v -i -E '^(torch|mfa-engine|mfa_engine)([=@ ]|$)' | LC_ALL=C sort -f
} >requirements-lock.txt.new
mv requirements-lock.txt.new requirements-lock.txt
echo "wrote requirements-lock.txt ($(grep -c '==' requirements-lock.txt) pins) from $VENV"
