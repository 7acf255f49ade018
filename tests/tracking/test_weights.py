"""StateDictCheckpoint and WeightSnapshot against the oracle: the saved checkpoint file of the
same weights, read by mfa_engine.checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from mfa_engine.checkpoints import open_checkpoint
from mfa_engine.errors import CheckpointError, ConfigError
from mfa_engine.tracking.weights import StateDictCheckpoint, model_state, take_snapshot

from ._trainer import tiny_model

QKV = "gpt_neox.layers.1.attention.query_key_value.weight"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_reads_equal_the_saved_checkpoint(tmp_path, dtype):
    model = tiny_model(3, dtype)
    model.save_pretrained(tmp_path)
    tensors, config = model_state(model)
    live = StateDictCheckpoint(tensors, config)
    rng = np.random.default_rng(0)
    with open_checkpoint(tmp_path) as ckpt:
        assert live.model_type == ckpt.model_type == "gpt_neox"
        # transformers 5 names GPT-NeoX's head lm_head in the module, embed_out in the file
        assert set(ckpt.keys()) - set(live.keys()) == {"embed_out.weight"}
        for name in sorted(set(ckpt.keys()) & set(live.keys())):
            assert live.shape(name) == ckpt.shape(name)
            assert live.dtype(name) == ckpt.dtype(name)
            if len(ckpt.shape(name)) != 2:
                continue
            n, m = ckpt.shape(name)
            rows, cols = rng.integers(0, n, 7), rng.integers(0, m, 5)  # unsorted, repeats allowed
            got = live.read_block(name, rows, cols)
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got, ckpt.read_block(name, rows, cols))
        np.testing.assert_array_equal(live.read(QKV), ckpt.read(QKV))
        np.testing.assert_array_equal(live.read_rows(QKV, [5, 1]), ckpt.read_rows(QKV, [5, 1]))


def test_snapshot_serves_recorded_reads_and_is_a_copy():
    model = tiny_model(1)
    tensors, config = model_state(model)
    live = StateDictCheckpoint(tensors, config, path="run", step=7)
    before = live.read(QKV)
    reqs = [(QKV, np.array([9, 2, 2]), np.array([4, 0])), (QKV, np.array([30]), np.array([1, 63]))]
    snap = take_snapshot(live, reqs)
    with torch.no_grad():
        tensors[QKV].add_(1.0)  # training goes on: the snapshot keeps the values it copied
    assert not np.array_equal(live.read(QKV), before)
    for rows, cols in [(r, c) for _, r, c in reqs] + [([30, 9], [63, 4]), ([2], [1])]:
        np.testing.assert_array_equal(snap.read_block(QKV, rows, cols), before[np.ix_(rows, cols)])
    assert snap.nbytes == 3 * 4 * 4  # the union of rows {2, 9, 30} x columns {0, 1, 4, 63}
    assert snap.shape(QKV) == (192, 64) and snap.step == 7 and QKV in snap
    assert snap.dtype(QKV) == "float32" and snap.config == config
    with pytest.raises(CheckpointError, match="outside the rows/columns"):
        snap.read_block(QKV, [3], [0])
    with pytest.raises(CheckpointError, match="not copied"):
        snap.read_block("gpt_neox.layers.0.mlp.dense_h_to_4h.weight", [0], [0])


def test_bad_weights_and_models_are_clear_errors():
    model = tiny_model(2)
    tensors, config = model_state(model)
    tensors = dict(tensors, idx=torch.zeros(4, 4, dtype=torch.int64))
    with torch.no_grad():
        tensors[QKV][3, 2] = float("nan")
    live = StateDictCheckpoint(tensors, config, path="run")
    with pytest.raises(CheckpointError, match="NaN/inf"):
        live.read_block(QKV, [3], [2])
    assert live.read_block(QKV, [4], [2]).shape == (1, 1)  # only the values read are checked
    snap = take_snapshot(live, [(QKV, np.array([3, 4]), np.array([2]))])
    with pytest.raises(CheckpointError, match="NaN/inf"):
        snap.read_block(QKV, [3], [2])
    with pytest.raises(CheckpointError, match="int64"):
        live.read_block("idx", [0], [0])
    with pytest.raises(CheckpointError, match="out of range"):
        live.read_block(QKV, [192], [0])
    with pytest.raises(CheckpointError, match="not found"):
        live.shape("nope")
    with pytest.raises(ConfigError, match="config="):
        model_state(torch.nn.Linear(2, 2))
    with pytest.raises(ConfigError, match="model_type"):
        model_state(torch.nn.Linear(2, 2), config={"hidden_size": 2})


def test_wrappers_are_unwrapped():
    model = tiny_model(0)

    class Wrapper(torch.nn.Module):  # what DistributedDataParallel looks like
        def __init__(self, module):
            super().__init__()
            self.module = module

    tensors, config = model_state(Wrapper(model))
    assert QKV in tensors and config["model_type"] == "gpt_neox"
    assert tensors[QKV].data_ptr() == model.state_dict()[QKV].data_ptr()  # no copy
