"""Local checkpoints: find the config and weight files of a folder and open them without loading weights."""

from __future__ import annotations

import os
from pathlib import Path

from mfa_engine.checkpoints.checkpoint import Checkpoint, WeightFile
from mfa_engine.checkpoints.json_file import read_json
from mfa_engine.checkpoints.locate import locate
from mfa_engine.checkpoints.safetensors_file import SafetensorsFile
from mfa_engine.checkpoints.served_names import check_served_name
from mfa_engine.checkpoints.torch_bin import TorchBinFile
from mfa_engine.errors import CheckpointError

__all__ = ["open_local", "find_weight_files", "check_weight_map", "SAFE_SINGLE", "SAFE_INDEX", "BIN_SINGLE",
           "BIN_INDEX"]

SAFE_SINGLE = "model.safetensors"
SAFE_INDEX = "model.safetensors.index.json"
BIN_SINGLE = "pytorch_model.bin"
BIN_INDEX = "pytorch_model.bin.index.json"


def _index_shards(index_path: Path) -> tuple[list[Path], dict[str, str]]:
    """Shard files and the weight map of a ``*.index.json`` file."""
    index = read_json(index_path, "index file")
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
        shard_path = index_path.parent / check_served_name(shard, f"index file {index_path}")
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
    return [TorchBinFile(p) for p in paths]


def check_weight_map(files: list[WeightFile], weight_map: dict[str, str], index: str) -> None:
    by_name = {f.path.name: f for f in files}
    for tensor, shard in weight_map.items():
        file = by_name.get(Path(shard).name)
        if file is not None and tensor not in file.entries:
            raise CheckpointError(
                f"{index} maps tensor {tensor!r} to {shard}, but {shard} does not contain it"
            )


def open_local(path: str | os.PathLike[str], revision: str | None,
               cache_dir: str | os.PathLike[str] | None = None) -> Checkpoint:
    """Open a local checkpoint folder or HF cache repository (see :func:`~mfa_engine.checkpoints.open.open_checkpoint`).

    Raises:
        CheckpointError: missing directory, config or weights; corrupt files; unknown revision.
    """
    loc = locate(path, revision, cache_dir)
    config_path = loc.model_dir / "config.json"
    if not config_path.is_file():
        raise CheckpointError(f"no config.json in {loc.model_dir}; expected an HF model directory")
    config = read_json(config_path, "config")
    if not isinstance(config, dict):
        raise CheckpointError(
            f"config {config_path} is a JSON {type(config).__name__}, expected an object"
        )
    kind, paths, weight_map = find_weight_files(loc.model_dir)
    files = _open_files(kind, paths)
    if weight_map is not None:
        index = SAFE_INDEX if kind == "safetensors" else BIN_INDEX
        check_weight_map(files, weight_map, index)
    return Checkpoint(
        loc.model_dir,
        config,
        files,
        step=loc.step(),
        revision=loc.revision,
        commit=loc.commit,
        weight_map=weight_map,
    )
