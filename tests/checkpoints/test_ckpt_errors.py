"""Every bad checkpoint input raises a one-line CheckpointError naming the problem."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from mfa_engine.checkpoints import open_checkpoint
from mfa_engine.errors import CheckpointError

from .._models import shard_checkpoint


def _raises(path: Path, pattern: str, **kw) -> str:
    with pytest.raises(CheckpointError, match=pattern) as info:
        open_checkpoint(path, **kw)
    message = str(info.value)
    assert "\n" not in message
    return message


def _write_raw(path: Path, header: bytes, data: bytes, declared: int | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text('{"model_type": "gpt2"}')
    n = len(header) if declared is None else declared
    (path / "model.safetensors").write_bytes(struct.pack("<Q", n) + header + data)
    return path


@pytest.fixture()
def gpt2_copy(tiny_checkpoint, tmp_path: Path) -> Path:
    dst = tmp_path / "ck"
    shutil.copytree(tiny_checkpoint("gpt2"), dst)
    return dst


def test_missing_directory(tmp_path: Path) -> None:
    _raises(tmp_path / "nope", r"checkpoint directory .*nope does not exist \(expected a model directory with config.json")


def test_path_is_a_file(gpt2_copy: Path) -> None:
    _raises(gpt2_copy / "config.json", r"config.json is a file; expected the model directory")


def test_no_config(gpt2_copy: Path) -> None:
    (gpt2_copy / "config.json").unlink()
    _raises(gpt2_copy, rf"no config.json in {gpt2_copy}")


def test_corrupt_config(gpt2_copy: Path) -> None:
    (gpt2_copy / "config.json").write_text("{model_type: gpt2")
    _raises(gpt2_copy, r"config .*config.json is not valid JSON")


def test_no_weight_files(gpt2_copy: Path) -> None:
    (gpt2_copy / "model.safetensors").unlink()
    _raises(gpt2_copy, r"no weight files in .*: expected model.safetensors, model.safetensors.index.json .*pytorch_model.bin")


def test_truncated_data(gpt2_copy: Path) -> None:
    file = gpt2_copy / "model.safetensors"
    raw = file.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    data_size = len(raw) - 8 - n
    file.write_bytes(raw[:-1000])
    _raises(gpt2_copy, rf"model.safetensors is truncated: header says {data_size} bytes of data, file has {data_size - 1000}$")


def test_truncated_header(gpt2_copy: Path) -> None:
    file = gpt2_copy / "model.safetensors"
    raw = file.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    file.write_bytes(raw[: 8 + n // 2])
    _raises(gpt2_copy, rf"model.safetensors is truncated: header says {n} bytes of header JSON, file has {n // 2} bytes")
    file.write_bytes(raw[:5])
    _raises(gpt2_copy, r"model.safetensors is truncated: 5 bytes, expected at least the 8-byte header length")


def test_corrupt_header_json(gpt2_copy: Path) -> None:
    file = gpt2_copy / "model.safetensors"
    raw = bytearray(file.read_bytes())
    raw[8:20] = b"#garbage!!#$"
    file.write_bytes(bytes(raw))
    _raises(gpt2_copy, r"model.safetensors has a corrupt header: not valid JSON")


def test_corrupt_header_entries(tmp_path: Path) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}}).encode()
    _raises(_write_raw(tmp_path / "a", header, bytes(24)), r"tensor 'w' in .*: data_offsets span 20 bytes, expected 24 for F32 shape \(2, 3\)")
    header = json.dumps({"w": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}).encode()
    _raises(_write_raw(tmp_path / "b", header, bytes(2)), r"tensor 'w' in .*: unsupported dtype 'F8_E4M3'")
    _raises(_write_raw(tmp_path / "c", b"[1, 2]", b""), r"corrupt header: JSON is a list")
    _raises(_write_raw(tmp_path / "d", b"{}", b"", declared=10**12), r"header length 1000000000000 bytes is implausible")


def test_missing_tensor_names_close_match(gpt2_copy: Path) -> None:
    ckpt = open_checkpoint(gpt2_copy)
    with pytest.raises(CheckpointError, match=r"tensor 'transformer.h.0.attn.c_atn.weight' not found in checkpoint .* did you mean 'transformer.h.0.attn.c_attn.weight'\?"):
        ckpt.read("transformer.h.0.attn.c_atn.weight")
    with pytest.raises(CheckpointError, match=r"tensor 'zzz' not found in checkpoint .*\(\d+ tensors\)$"):
        ckpt.shape("zzz")


def test_index_points_to_missing_shard(gpt2_copy: Path, tmp_path: Path) -> None:
    sharded = shard_checkpoint(gpt2_copy, tmp_path / "sharded", max_shard_size=8192)
    shard = sorted(sharded.glob("model-*.safetensors"))[1]
    shard.unlink()
    _raises(sharded, rf"index file model.safetensors.index.json points to missing shard {shard.name} \(holding \d+ tensors")


def test_index_maps_tensor_to_wrong_shard(gpt2_copy: Path, tmp_path: Path) -> None:
    sharded = shard_checkpoint(gpt2_copy, tmp_path / "sharded", max_shard_size=8192)
    index_path = sharded / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    shards = sorted(set(index["weight_map"].values()))
    key = next(k for k, v in index["weight_map"].items() if v == shards[0])
    index["weight_map"][key] = shards[1]
    index_path.write_text(json.dumps(index))
    _raises(sharded, rf"maps tensor '{key}' to {shards[1]}, but {shards[1]} does not contain it")


def test_nan_and_inf_name_the_tensor(gpt2_copy: Path) -> None:
    from safetensors.numpy import load_file, save_file

    state = load_file(str(gpt2_copy / "model.safetensors"))
    name = "transformer.h.1.mlp.c_fc.weight"
    state[name][3, 7] = np.inf
    save_file(state, str(gpt2_copy / "model.safetensors"))
    ckpt = open_checkpoint(gpt2_copy)
    with pytest.raises(CheckpointError, match=rf"tensor '{name}' in model.safetensors has 1 NaN/inf values in the data read \(first at tensor index \(3, 7\)\); expected finite weights"):
        ckpt.read(name)
    ckpt.read("transformer.h.0.mlp.c_fc.weight")  # other tensors stay readable


def test_unknown_revision_lists_refs(tiny_checkpoint, tmp_path: Path) -> None:
    from .._models import write_hf_cache

    repo = write_hf_cache(tmp_path / "hub", "Org/Tiny", {"step0": tiny_checkpoint("gpt2")}, main="step0")
    message = _raises(repo, r"unknown revision 'step7' for .*models--Org--Tiny: available refs: main, step0; snapshots: ", revision="step7")
    assert "step0" in message
