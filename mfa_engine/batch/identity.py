"""Content identity of the checkpoints of a batch run, so that stored results are never reused
for other weights.

* A Hub checkpoint (a repo id read from the Hub or from a fully cached snapshot) is keyed by its
  commit: its store key becomes ``KEY#COMMIT`` and the task reads exactly that commit, so a
  branch that moves to new weights gets new rows instead of the old numbers.
* A local checkpoint gets a cheap fingerprint (name, size, mtime and a hash of the first bytes
  of each file of its folder), recorded in the store; stored rows whose checkpoint has changed
  since are refused for that checkpoint (never silently skipped).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path

from mfa_engine.batch.series import CheckpointSpec
from mfa_engine.checkpoints.hub import hub_commit, is_repo_id, offline
from mfa_engine.checkpoints.locate import locate
from mfa_engine.checkpoints.open import cached_commit
from mfa_engine.errors import MFAError

__all__ = ["pin_commit", "local_fingerprint", "HEAD_BYTES"]

#: Bytes of each file hashed into a local fingerprint (a safetensors header fits in the first).
HEAD_BYTES = 1 << 16


def pin_commit(spec: CheckpointSpec) -> CheckpointSpec:
    """The spec of a repo-id checkpoint pinned to its current commit (others unchanged).

    Raises:
        CheckpointError: The Hub cannot resolve the revision.
    """
    if not is_repo_id(spec.path) or Path(spec.path).expanduser().exists():
        return spec
    commit = cached_commit(spec.path, spec.revision)
    if commit is None:
        if offline():
            return spec  # opening it gives the one-line offline error
        commit = hub_commit(spec.path, spec.revision)
    return replace(spec, revision=commit, key=f"{spec.key}#{commit}")


def local_fingerprint(spec: CheckpointSpec) -> str | None:
    """Fingerprint of a local checkpoint's files (None: not a local folder or not found)."""
    if is_repo_id(spec.path) and not Path(spec.path).expanduser().exists():
        return None
    try:
        folder = locate(spec.path, spec.revision).model_dir
        names = sorted(os.listdir(folder))
    except (MFAError, OSError):
        return None
    h = hashlib.sha256()
    for name in names:
        p = folder / name
        try:
            st = os.stat(p)
            if not p.is_file():
                continue
            with open(p, "rb") as fh:
                head = fh.read(HEAD_BYTES)
        except OSError:
            continue
        h.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
        h.update(hashlib.sha256(head).digest())
    return h.hexdigest()
