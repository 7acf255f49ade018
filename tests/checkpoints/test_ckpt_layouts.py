"""Every file layout reads the same tensors as the safetensors library / torch."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mfa_engine.checkpoints import Checkpoint, open_checkpoint

from .._models import MODEL_TYPES, load_state, shard_checkpoint, write_pytorch_bin


def _assert_same(ckpt: Checkpoint, oracle: dict[str, np.ndarray]) -> None:
    assert ckpt.keys() == sorted(oracle)
    for key, value in oracle.items():
        got = ckpt.read(key)
        assert got.dtype == np.float32
        assert ckpt.shape(key) == value.shape
        np.testing.assert_array_equal(got, value.astype(np.float32))


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_single_safetensors(tiny_checkpoint, model_type: str) -> None:
    path = tiny_checkpoint(model_type)
    with open_checkpoint(path) as ckpt:
        assert ckpt.model_type == model_type
        assert ckpt.config["model_type"] == model_type
        assert ckpt.path == path and ckpt.step is None
        assert all(ckpt.dtype(k) == "float32" for k in ckpt.keys())
        _assert_same(ckpt, load_state(path))


def test_sharded_safetensors(tiny_checkpoint, tmp_path: Path) -> None:
    src = tiny_checkpoint("llama", kv_heads=2)
    dst = shard_checkpoint(src, tmp_path / "sharded", max_shard_size=8192)
    shards = sorted(dst.glob("model-*.safetensors"))
    assert len(shards) >= 3 and not (dst / "model.safetensors").exists()
    with open_checkpoint(dst) as ckpt:
        _assert_same(ckpt, load_state(src))
        assert {ckpt.file_of(k).name for k in ckpt.keys()} == {s.name for s in shards}


def test_unindexed_safetensors_files(tiny_checkpoint, tmp_path: Path) -> None:
    src = tiny_checkpoint("gpt2")
    dst = shard_checkpoint(src, tmp_path / "sharded", max_shard_size=8192)
    (dst / "model.safetensors.index.json").unlink()
    with open_checkpoint(dst) as ckpt:
        _assert_same(ckpt, load_state(src))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_pytorch_bin_fallback(tiny_checkpoint, tmp_path: Path, dtype: str) -> None:
    torch = pytest.importorskip("torch")
    src = tiny_checkpoint("gpt_neox", dtype=dtype)
    dst = write_pytorch_bin(src, tmp_path / "bin")
    assert sorted(p.name for p in dst.iterdir()) == ["config.json", "generation_config.json", "pytorch_model.bin"]
    state = torch.load(dst / "pytorch_model.bin", weights_only=True)
    with open_checkpoint(dst) as ckpt:
        assert ckpt.file_of(ckpt.keys()[0]).name == "pytorch_model.bin"
        assert ckpt.keys() == sorted(state)
        for key, tensor in state.items():
            assert ckpt.dtype(key) == dtype
            np.testing.assert_array_equal(ckpt.read(key), tensor.float().numpy())
        name = "gpt_neox.layers.1.attention.query_key_value.weight"
        rows, cols = [90, 3, 3, 17], [31, 0, 5]
        np.testing.assert_array_equal(ckpt.read_rows(name, rows), state[name].float().numpy()[rows])
        np.testing.assert_array_equal(
            ckpt.read_block(name, rows, cols), state[name].float().numpy()[np.ix_(rows, cols)]
        )


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_upcast_is_exact(tiny_checkpoint, dtype: str) -> None:
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    path = tiny_checkpoint("bert", dtype=dtype)
    oracle = load_file(str(path / "model.safetensors"))
    with open_checkpoint(path) as ckpt:
        floats = [k for k in ckpt.keys() if oracle[k].is_floating_point()]
        assert floats and all(ckpt.dtype(k) == dtype for k in floats)
        for key in floats:
            expected = oracle[key].to(torch.float32).numpy()
            got = ckpt.read(key)
            np.testing.assert_array_equal(got, expected)
            # exact: casting back reproduces the stored bits
            assert torch.equal(torch.from_numpy(got).to(getattr(torch, dtype)), oracle[key])


def test_bf16_special_values_bit_exact(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    bits = torch.tensor(
        [0x0000, 0x8000, 0x3F80, 0xBF80, 0x0001, 0x807F, 0x7F7F, 0xFF7F, 0x3EAB, 0x4049],
        dtype=torch.int32,
    ).to(torch.int16)
    values = bits.view(torch.bfloat16).reshape(2, 5)
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    half_bits = np.array([0x0001, 0x8000, 0x7BFF, 0xFBFF, 0x3C00, 0x3555], dtype=np.uint16)
    half = torch.from_numpy(half_bits.view(np.int16).copy()).view(torch.float16)
    save_file({"w": values, "h": half}, str(tmp_path / "model.safetensors"))
    with open_checkpoint(tmp_path) as ckpt:
        got = ckpt.read("w")
        expected = values.to(torch.float32).numpy()
        assert got.view(np.uint32).tolist() == expected.view(np.uint32).tolist()  # incl. -0.0
        got_half = ckpt.read("h")
        assert got_half.view(np.uint32).tolist() == half_bits.view(np.float16).astype(np.float32).view(np.uint32).tolist()
        assert got_half[0] == np.float32(2.0**-24) and got_half[2] == 65504.0
        assert got[0, 4] == np.float32(2.0**-133)  # bf16 subnormal survives
        np.testing.assert_array_equal(ckpt.read_block("w", [1, 0], [4, 0]), expected[np.ix_([1, 0], [4, 0])])


def test_imports_are_light() -> None:
    code = (
        "import sys, mfa_engine.checkpoints, mfa_engine.arch;"
        "bad = [m for m in ('torch', 'transformers', 'safetensors') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_safetensors_read_never_imports_torch(tiny_checkpoint) -> None:
    path = tiny_checkpoint("gpt2")
    code = (
        "import sys; from mfa_engine.checkpoints import open_checkpoint;"
        f"c = open_checkpoint({str(path)!r}); c.read(c.keys()[0]); c.read_rows(c.keys()[-1], [0]);"
        "assert 'torch' not in sys.modules and 'safetensors' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_sharded_pytorch_bin(tiny_checkpoint, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    import json

    from safetensors.torch import load_file

    src = tiny_checkpoint("bert")
    state = load_file(str(src / "model.safetensors"))
    keys = sorted(state)
    dst = tmp_path / "binshards"
    dst.mkdir()
    shutil.copy2(src / "config.json", dst / "config.json")
    halves = {"pytorch_model-00001-of-00002.bin": keys[::2], "pytorch_model-00002-of-00002.bin": keys[1::2]}
    for fname, part in halves.items():
        torch.save({k: state[k] for k in part}, dst / fname)
    weight_map = {k: f for f, part in halves.items() for k in part}
    (dst / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": weight_map}))
    with open_checkpoint(dst) as ckpt:
        _assert_same(ckpt, load_state(src))
        assert ckpt.file_of(keys[1]).name == "pytorch_model-00002-of-00002.bin"
