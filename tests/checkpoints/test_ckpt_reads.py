"""Row and block reads equal slices of full reads; only the rows read are touched."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

import mfa_engine.checkpoints.gather as gather
from mfa_engine.checkpoints import open_checkpoint
from mfa_engine.errors import CheckpointError

from .._models import load_state


def _write(path: Path, tensors: dict[str, np.ndarray]) -> Path:
    from safetensors.numpy import save_file

    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text('{"model_type": "gpt2"}')
    save_file(tensors, str(path / "model.safetensors"))
    return path


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_rows_and_blocks_equal_full(tiny_checkpoint, dtype: str) -> None:
    path = tiny_checkpoint("gpt2", dtype=dtype)
    oracle = load_state(path)
    rng = np.random.default_rng(0)
    with open_checkpoint(path) as ckpt:
        for name in ("transformer.h.0.attn.c_attn.weight", "transformer.h.1.mlp.c_proj.weight"):
            full = ckpt.read(name)
            np.testing.assert_array_equal(full, oracle[name])
            n, m = full.shape
            rows = rng.integers(0, n, size=20)  # unsorted, with duplicates
            cols = rng.integers(0, m, size=15)
            np.testing.assert_array_equal(ckpt.read_rows(name, rows), full[rows])
            np.testing.assert_array_equal(ckpt.read_rows(name, np.sort(np.unique(rows))), full[np.unique(rows)])
            np.testing.assert_array_equal(ckpt.read_block(name, rows, cols), full[np.ix_(rows, cols)])
            assert ckpt.read_rows(name, []).shape == (0, m)
            assert ckpt.read_block(name, [], cols).shape == (0, 15)
            assert ckpt.read_block(name, rows, np.array([], np.int64)).shape == (20, 0)
        bias = "transformer.h.0.attn.c_attn.bias"
        np.testing.assert_array_equal(ckpt.read_rows(bias, [5, 1]), oracle[bias][[5, 1]])


def test_chunked_gathers_equal_unchunked(tiny_checkpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tiny_checkpoint("llama", kv_heads=2, dtype="bfloat16")
    name = "model.layers.0.mlp.gate_proj.weight"
    rng = np.random.default_rng(1)
    rows, cols = rng.permutation(96)[:50], rng.permutation(32)[:9]
    with open_checkpoint(path) as ckpt:
        whole, r, b = ckpt.read(name), ckpt.read_rows(name, rows), ckpt.read_block(name, rows, cols)
        monkeypatch.setattr(gather, "CHUNK_BYTES", 40)  # a few rows per chunk
        np.testing.assert_array_equal(ckpt.read(name), whole)
        np.testing.assert_array_equal(ckpt.read_rows(name, rows), r)
        np.testing.assert_array_equal(ckpt.read_block(name, rows, cols), b)
        np.testing.assert_array_equal(b, whole[np.ix_(rows, cols)])


def test_only_requested_rows_are_read(tmp_path: Path) -> None:
    """Rows holding NaN are never looked at unless requested (the NaN check sees read data)."""
    w = np.arange(40, dtype=np.float32).reshape(8, 5)
    w[6, 2] = np.nan
    w[7, 4] = np.inf
    with open_checkpoint(_write(tmp_path, {"w": w})) as ckpt:
        np.testing.assert_array_equal(ckpt.read_rows("w", [0, 5, 1]), w[[0, 5, 1]])
        np.testing.assert_array_equal(ckpt.read_block("w", [6, 7], [0, 1, 3]), w[np.ix_([6, 7], [0, 1, 3])])
        with pytest.raises(CheckpointError, match=r"tensor 'w' in model.safetensors has 1 NaN/inf values .*tensor index \(6, 2\)"):
            ckpt.read_block("w", [0, 6], [0, 2])
        with pytest.raises(CheckpointError, match=r"tensor 'w' .* 2 NaN/inf"):
            ckpt.read("w")
        with pytest.raises(CheckpointError, match=r"tensor 'w' .* 1 NaN/inf .*tensor index \(7, 4\)"):
            ckpt.read_rows("w", [7])


def test_bad_indices(tmp_path: Path) -> None:
    with open_checkpoint(_write(tmp_path, {"w": np.ones((4, 3), np.float32), "b": np.ones(3, np.float32)})) as ckpt:
        with pytest.raises(CheckpointError, match=r"rows of tensor 'w' \(4, 3\): index 4 out of range, expected 0 <= index < 4"):
            ckpt.read_rows("w", [0, 4])
        with pytest.raises(CheckpointError, match=r"columns of tensor 'w' .* index -1 out of range"):
            ckpt.read_block("w", [0], [-1])
        with pytest.raises(CheckpointError, match=r"expected a 1-D integer index"):
            ckpt.read_rows("w", [0.5])
        with pytest.raises(CheckpointError, match=r"tensor 'b' has shape \(3,\); read_block expects a 2-D"):
            ckpt.read_block("b", [0], [0])


def test_integer_tensors_and_pickle(tmp_path: Path) -> None:
    ids = np.arange(12, dtype=np.int64).reshape(1, 12)
    ckpt = open_checkpoint(_write(tmp_path, {"ids": ids, "w": np.eye(3, dtype=np.float32)}))
    assert ckpt.dtype("ids") == "int64"
    np.testing.assert_array_equal(ckpt.read("ids"), ids.astype(np.float32))
    clone = pickle.loads(pickle.dumps(ckpt))
    np.testing.assert_array_equal(clone.read_rows("w", [2, 0]), np.eye(3)[[2, 0]])
    np.testing.assert_array_equal(ckpt.read("w"), np.eye(3))  # still readable after pickling
    assert "w" in ckpt and "v" not in ckpt


def _rss_file_kb() -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("RssFile:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def test_sparse_reads_do_not_keep_the_tensor_resident(tmp_path: Path) -> None:
    """After a sampled read, the mapped tensor does not stay in this process's RSS."""
    if _rss_file_kb() is None:
        pytest.skip("needs /proc/self/status RssFile (Linux)")
    w = np.random.default_rng(0).standard_normal((4096, 2048)).astype(np.float16)  # 16 MiB
    with open_checkpoint(_write(tmp_path, {"w": w})) as ckpt:
        rows = np.arange(0, 4096, 43)
        cols = np.arange(0, 2048, 64)
        before = _rss_file_kb()
        block = ckpt.read_block("w", rows, cols)
        some = ckpt.read_rows("w", rows)
        grown = _rss_file_kb() - before
        np.testing.assert_array_equal(block, w[np.ix_(rows, cols)].astype(np.float32))
        np.testing.assert_array_equal(some, w[rows].astype(np.float32))
        assert grown < 4 * 1024, f"file-backed RSS grew by {grown} kB for a 16 MiB tensor"


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_read_stored_is_the_unconverted_tensor(tiny_checkpoint, dtype: str) -> None:
    path = tiny_checkpoint("gpt2", dtype=dtype)
    name = "transformer.h.0.attn.c_attn.weight"
    with open_checkpoint(path) as ckpt:
        raw, kind = ckpt.read_stored(name)
        full = ckpt.read(name)
    assert kind == dtype and raw.shape == full.shape
    if dtype == "bfloat16":  # bit patterns: the float32 value is the pattern shifted up
        assert raw.dtype == np.uint16
        np.testing.assert_array_equal((raw.astype(np.uint32) << 16).view(np.float32), full)
    else:
        assert raw.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(raw.astype(np.float32), full)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_read_stored_rows_and_into_a_buffer(tiny_checkpoint, dtype: str) -> None:
    path = tiny_checkpoint("gpt2", dtype=dtype)
    name = "transformer.h.0.attn.c_attn.weight"
    with open_checkpoint(path) as ckpt:
        whole, kind = ckpt.read_stored(name)
        buf = np.full(whole.nbytes + 11, 255, np.uint8)
        into, kind2 = ckpt.read_stored(name, buf=buf)
        rows = np.array([3, 0, 3, whole.shape[0] - 1])
        some, kind3 = ckpt.read_stored(name, rows=rows)
    assert kind == kind2 == kind3 == dtype
    np.testing.assert_array_equal(into, whole)
    assert into.dtype == whole.dtype and np.shares_memory(into, buf)
    np.testing.assert_array_equal(some, whole[rows])


def test_read_stored_refuses_integer_tensors(tmp_path: Path) -> None:
    path = _write(tmp_path / "ints", {"ids": np.arange(6, dtype=np.int64).reshape(2, 3)})
    with open_checkpoint(path) as ckpt, pytest.raises(CheckpointError, match="floating-point"):
        ckpt.read_stored("ids")
