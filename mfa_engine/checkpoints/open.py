"""``open_checkpoint``: find config and weight files and open them without loading weights."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mfa_engine.checkpoints.checkpoint import Checkpoint, WeightFile
from mfa_engine.checkpoints.json_file import read_json
from mfa_engine.checkpoints.locate import locate
from mfa_engine.checkpoints.safetensors_file import SafetensorsFile
from mfa_engine.errors import CheckpointError

__all__ = ["open_checkpoint", "find_weight_files"]

SAFE_SINGLE = "model.safetensors"
SAFE_INDEX = "model.safetensors.index.json"
BIN_SINGLE = "pytorch_model.bin"
BIN_INDEX = "pytorch_model.bin.index.json"


def _read_json(path: Path, what: str) -> Any:
    return read_json(path, what)


def _index_shards(index_path: Path) -> tuple[list[Path], dict[str, str]]:
    """Shard files and the weight map of a ``*.index.json`` file."""
    index = _read_json(index_path, "index file")
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise CheckpointError(
            f"index file {index_path} has no weight_map; expected "
            '{"weight_map": {tensor name: shard file}}'
        )
    bad = next(((k, v) for k, v in weight_map.items() if not isinstance(v, str)), None)
    if bad is not None:
        raise CheckpointError(f"index file {index_path} maps tensor {bad[0]!r} to {bad[1]!r}; expected a shard "
                              "file name (a JSON string)")
    shards: list[Path] = []
    for shard in dict.fromkeys(weight_map.values()):
        shard_path = index_path.parent / str(shard)
        if not shard_path.is_file():
            users = [k for k, v in weight_map.items() if v == shard]
            raise CheckpointError(
                f"index file {index_path.name} points to missing shard {shard} "
                f"(holding {len(users)} tensors, e.g. {users[0]!r}) in {index_path.parent}"
            )
        shards.append(shard_path)
    return shards, {str(k): str(v) for k, v in weight_map.items()}


def find_weight_files(model_dir: Path) -> tuple[str, list[Path], dict[str, str] | None]:
    """Choose the weight files of a model directory, in the order transformers uses.

    Order: ``model.safetensors``; ``model.safetensors.index.json`` (sharded); any other
    top-level ``*.safetensors``; ``pytorch_model.bin.index.json``; ``pytorch_model.bin``.

    Args:
        model_dir: the directory holding ``config.json``.

    Returns:
        ``(kind, files, weight_map)`` with kind ``"safetensors"`` or ``"bin"`` and the index's
        weight map (tensor -> shard file name) when sharded, else None.

    Raises:
        CheckpointError: no weight file, or an index pointing to a missing shard.
    """
    if (model_dir / SAFE_SINGLE).is_file():
        return "safetensors", [model_dir / SAFE_SINGLE], None
    if (model_dir / SAFE_INDEX).is_file():
        shards, weight_map = _index_shards(model_dir / SAFE_INDEX)
        return "safetensors", shards, weight_map
    others = sorted(p for p in model_dir.glob("*.safetensors") if p.is_file())
    if others:
        return "safetensors", others, None
    if (model_dir / BIN_INDEX).is_file():
        shards, weight_map = _index_shards(model_dir / BIN_INDEX)
        return "bin", shards, weight_map
    if (model_dir / BIN_SINGLE).is_file():
        return "bin", [model_dir / BIN_SINGLE], None
    raise CheckpointError(
        f"no weight files in {model_dir}: expected {SAFE_SINGLE}, {SAFE_INDEX} with its shards, "
        f"or {BIN_SINGLE}"
    )


def _open_files(kind: str, paths: list[Path]) -> list[WeightFile]:
    if kind == "safetensors":
        return [SafetensorsFile(p) for p in paths]
    from mfa_engine.checkpoints.torch_bin import TorchBinFile

    return [TorchBinFile(p) for p in paths]


def _check_weight_map(files: list[WeightFile], weight_map: dict[str, str], index: str) -> None:
    by_name = {f.path.name: f for f in files}
    for tensor, shard in weight_map.items():
        file = by_name.get(Path(shard).name)
        if file is not None and tensor not in file.entries:
            raise CheckpointError(
                f"{index} maps tensor {tensor!r} to {shard}, but {shard} does not contain it"
            )


def _local_gap(path: str | os.PathLike[str], revision: str | None,
               cache_dir: str | os.PathLike[str] | None) -> str | None:
    """Why the repo id ``path`` cannot be opened from the local HF cache (None: it can)."""
    try:
        loc = locate(path, revision, cache_dir)
        if not (loc.model_dir / "config.json").is_file():
            return f"no config.json in {loc.model_dir}"
        find_weight_files(loc.model_dir)
    except CheckpointError as exc:
        return str(exc)
    return None


def _open_remote(path: str, revision: str | None, cache_dir: Any, range_cache: Any,
                 download: bool) -> Checkpoint | None:
    """The Hub checkpoint of a repo id that is neither a local folder nor fully cached."""
    from mfa_engine.checkpoints.hub import _offline, is_repo_id, open_hub_checkpoint

    if Path(path).expanduser().exists() or not is_repo_id(path):
        return None
    gap = _local_gap(path, revision, cache_dir)
    if gap is None:
        return None
    if _offline():
        raise CheckpointError(
            f"{path}@{revision or 'main'} is not fully in the local HF cache ({gap}) and "
            "HF_HUB_OFFLINE is set, so it cannot be read from the Hub"
        )
    return open_hub_checkpoint(path, revision, cache_dir=range_cache, download=download)


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
            HF cache repository ``models--Org--Name``; ``<cache root>/Org/Name``; a cached repo
            id ``Org/Name``; or a snapshot directory.
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
    remote = _open_remote(str(path), revision, cache_dir, range_cache, download)
    if remote is not None:
        return remote
    try:
        return _open(path, revision, cache_dir)
    except OSError as exc:  # e.g. a directory without read permission
        where = exc.filename or path
        raise CheckpointError(f"cannot read checkpoint {where}: {exc.strerror or exc}") from None


def _open(path: str | os.PathLike[str], revision: str | None,
          cache_dir: str | os.PathLike[str] | None) -> Checkpoint:
    loc = locate(path, revision, cache_dir)
    config_path = loc.model_dir / "config.json"
    if not config_path.is_file():
        raise CheckpointError(f"no config.json in {loc.model_dir}; expected an HF model directory")
    config = _read_json(config_path, "config")
    if not isinstance(config, dict):
        raise CheckpointError(
            f"config {config_path} is a JSON {type(config).__name__}, expected an object"
        )
    kind, paths, weight_map = find_weight_files(loc.model_dir)
    files = _open_files(kind, paths)
    if weight_map is not None:
        index = SAFE_INDEX if kind == "safetensors" else BIN_INDEX
        _check_weight_map(files, weight_map, index)
    return Checkpoint(
        loc.model_dir,
        config,
        files,
        step=loc.step(),
        revision=loc.revision,
        commit=loc.commit,
        weight_map=weight_map,
    )
