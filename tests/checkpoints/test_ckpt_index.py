"""Index-faithful reading (issue 22, class 7): a tensor is read only from the shard the index
names; a tensor stored in several files is an error, or a warning when the copies are identical."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from mfa_engine.checkpoints import open_checkpoint
from mfa_engine.errors import CheckpointError

A = np.arange(12, dtype=np.float32).reshape(3, 4)
B = np.full((2, 4), 7.0, dtype=np.float32)


def _write(d: Path, shards: dict[str, dict[str, np.ndarray]], weight_map: dict[str, str] | None) -> Path:
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    for name, tensors in shards.items():
        save_file(tensors, str(d / name))
    if weight_map is not None:
        (d / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    return d


def test_stray_different_copy_in_an_earlier_shard_is_an_error(tmp_path: Path) -> None:
    """The issue's case: shard 1 holds a stray, different copy of a tensor the index maps to shard 2."""
    d = _write(tmp_path / "m", {"s1.safetensors": {"a": A, "b": B + 1}, "s2.safetensors": {"b": B}},
               {"a": "s1.safetensors", "b": "s2.safetensors"})
    with open_checkpoint(d) as ck:
        np.testing.assert_array_equal(ck.read("a"), A)
        assert ck.shape("a") == (3, 4)
        with pytest.raises(CheckpointError, match=r"'b' is stored in both s2.safetensors and s1.safetensors.*"
                                                  r"different values.*index names s2"):
            ck.read("b")


def test_identical_copy_warns_and_reads_the_indexed_shard(tmp_path: Path) -> None:
    d = _write(tmp_path / "m", {"s1.safetensors": {"a": A, "b": B}, "s2.safetensors": {"b": B}},
               {"a": "s1.safetensors", "b": "s2.safetensors"})
    with open_checkpoint(d) as ck:
        assert ck.file_of("a").name == "s1.safetensors"
        with pytest.warns(UserWarning, match=r"'b' is stored in s2.safetensors and again in s1.safetensors"):
            assert ck.file_of("b").name == "s2.safetensors"
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # once per tensor
            np.testing.assert_array_equal(ck.read("b"), B)
            np.testing.assert_array_equal(ck.read_rows("b", [1]), B[1:])


def test_copies_of_another_shape_or_dtype_fail_on_open(tmp_path: Path) -> None:
    d = _write(tmp_path / "m", {"s1.safetensors": {"a": A, "b": B.astype(np.float16)}, "s2.safetensors": {"b": B}},
               {"a": "s1.safetensors", "b": "s2.safetensors"})
    with pytest.raises(CheckpointError, match=r"'b' is stored in both s2.safetensors \(float32 \[2, 4\]\) and "
                                              r"s1.safetensors \(float16"):
        open_checkpoint(d)


def test_unindexed_files_with_different_copies_are_an_error(tmp_path: Path) -> None:
    d = _write(tmp_path / "m", {"a.safetensors": {"b": B}, "b.safetensors": {"b": B * 2}}, None)
    with open_checkpoint(d) as ck, pytest.raises(CheckpointError, match="different values"):
        ck.read("b")


def test_single_copies_read_without_warnings(tmp_path: Path) -> None:
    d = _write(tmp_path / "m", {"s1.safetensors": {"a": A}, "s2.safetensors": {"b": B}},
               {"a": "s1.safetensors", "b": "s2.safetensors"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with open_checkpoint(d) as ck:
            np.testing.assert_array_equal(ck.read("b"), B)
            np.testing.assert_array_equal(ck.read_block("a", [0, 2], [1, 3]), A[[0, 2]][:, [1, 3]])
