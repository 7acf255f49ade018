"""``open_checkpoint``: a local folder, the local HF cache, or the Hugging Face Hub."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mfa_engine.checkpoints.checkpoint import Checkpoint
from mfa_engine.checkpoints.hub import is_repo_id, offline, open_hub_checkpoint
from mfa_engine.checkpoints.local import find_weight_files, open_local
from mfa_engine.checkpoints.locate import hub_cache_roots, locate
from mfa_engine.errors import CheckpointError, ConfigError

__all__ = ["open_checkpoint", "find_weight_files", "split_revision", "cached_commit"]


def split_revision(path: str | os.PathLike[str], revision: str | None) -> tuple[str | os.PathLike[str], str | None]:
    """``ORG/NAME@REV`` -> ``("ORG/NAME", "REV")``; any other path (or an existing one) as given.

    Also ``<cache repo or model folder>@REV`` when that folder exists.

    Raises:
        ConfigError: An empty revision after ``@``, or one that differs from ``revision``.
    """
    text = str(path)
    if "@" not in text or Path(text).expanduser().exists():
        return path, revision
    base, _, rev = text.rpartition("@")
    if not (is_repo_id(base) or Path(base).expanduser().exists()):
        return path, revision
    if not rev:
        raise ConfigError(f"{text}: no revision after '@'; write ORG/NAME@REV or pass revision=")
    if revision is not None and revision != rev:
        raise ConfigError(f"{text} names revision {rev!r}, and revision={revision!r} was given too; give it once")
    return base, rev


def _local_gap(path: str | os.PathLike[str], revision: str | None,
               cache_dir: str | os.PathLike[str] | None) -> str | None:
    """What the local HF cache lacks of the repo id ``path``, in a few words (None: nothing)."""
    try:
        loc = locate(path, revision, cache_dir)
    except CheckpointError as exc:
        if str(exc).startswith("cannot read the HF cache folder"):
            raise
        roots = ", ".join(str(r) for r in hub_cache_roots(cache_dir))
        return f"no snapshot of {revision or 'main'} in {roots}"
    if not (loc.model_dir / "config.json").is_file():
        return f"no config.json in {loc.model_dir}"
    try:
        find_weight_files(loc.model_dir)
    except CheckpointError:
        return f"no complete weight files in {loc.model_dir}"
    return None


def cached_commit(path: str, revision: str | None) -> str | None:
    """The snapshot commit a repo id ``path`` opens from when it is fully in the local HF cache
    (None: it is read from the Hub, or it is not a repo id)."""
    if Path(path).expanduser().exists() or not is_repo_id(path) or _local_gap(path, revision, None):
        return None
    return locate(path, revision, None).commit


def _open_remote(path: str, revision: str | None, cache_dir: Any, range_cache: Any,
                 download: bool) -> Checkpoint | None:
    """The Hub checkpoint of a repo id that is neither a local folder nor fully cached."""
    if Path(path).expanduser().exists() or not is_repo_id(path):
        return None
    gap = _local_gap(path, revision, cache_dir)
    if gap is None:
        return None
    if offline():
        raise CheckpointError(
            f"{path}@{revision or 'main'} is not fully in the local HF cache ({gap}) and "
            "HF_HUB_OFFLINE is set: unset HF_HUB_OFFLINE to read it from the Hub, or pass a local "
            "model folder (while online, --download keeps whole files in the HF cache)"
        )
    return open_hub_checkpoint(path, revision, range_cache=range_cache, download=download)


def open_checkpoint(
    path: str | os.PathLike[str],
    revision: str | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    range_cache: str | os.PathLike[str] | None = None,
    download: bool = False,
) -> Checkpoint:
    """Open a checkpoint for streamed reading; no weights are loaded.

    Args:
        path: a local HF model directory (``config.json`` plus ``model.safetensors``, sharded
            safetensors with ``model.safetensors.index.json``, or ``pytorch_model.bin``); an
            HF cache repository ``models--Org--Name``; ``<cache root>/Org/Name``; a repo id
            ``Org/Name`` (``Org/Name@REV`` names the revision too); or a snapshot directory.
        revision: ref name such as ``"step1000"`` (read from ``refs/step1000``) or a snapshot
            hash. Default: ``refs/main``, else the only snapshot.
        cache_dir: extra HF hub cache root to search for repo ids.
        range_cache: range cache folder of Hub checkpoints (see
            :mod:`mfa_engine.checkpoints.hub`).
        download: a Hub checkpoint's files are downloaded whole into the HF cache instead of
            read by range.

    A repo id ``Org/Name`` that is not a local folder and not fully in the local HF cache is
    read from the Hugging Face Hub (``HF_ENDPOINT``, ``HF_TOKEN``; an error under
    ``HF_HUB_OFFLINE``), returning a :class:`~mfa_engine.checkpoints.hub.HubCheckpoint`.

    Returns:
        The opened :class:`Checkpoint` (a context manager).

    Raises:
        CheckpointError: missing directory/config/weights, truncated or corrupt files,
            missing shards, unknown revision.
    """
    path, revision = split_revision(path, revision)
    remote = _open_remote(str(path), revision, cache_dir, range_cache, download)
    if remote is not None:
        return remote
    try:
        return open_local(path, revision, cache_dir)
    except OSError as exc:  # e.g. a directory without read permission
        where = exc.filename or path
        raise CheckpointError(f"cannot read checkpoint {where}: {exc.strerror or exc}") from None
