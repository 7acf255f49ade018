"""Tests of mfa_engine.checkpoints.shuffled: the shuffle null model read lazily from sampled entries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mfa_engine.arch import get_adapter
from mfa_engine.checkpoints import open_checkpoint
from mfa_engine.checkpoints.nulls import null_checkpoint
from mfa_engine.checkpoints.shuffled import ShuffledCheckpoint, _sorted_unique
from mfa_engine.errors import ConfigError
from mfa_engine.nin import build_nin


class _ArrayCheckpoint:
    """The read contract over in-memory matrices (counts the reads)."""

    def __init__(self, tensors: dict[str, np.ndarray]) -> None:
        self.tensors = tensors
        self.reads = 0

    def shape(self, name: str) -> tuple[int, ...]:
        return self.tensors[name].shape

    def read_block(self, name: str, rows, cols) -> np.ndarray:
        self.reads += 1
        return self.tensors[name][np.ix_(np.asarray(rows), np.asarray(cols))].astype(np.float32)


def test_whole_matrix_is_a_permutation_of_the_real_one() -> None:
    w = np.arange(35, dtype=np.float32).reshape(5, 7)
    sh = ShuffledCheckpoint(_ArrayCheckpoint({"w": w}), seed=3)
    got = sh.read("w")
    assert got.shape == (5, 7)
    np.testing.assert_array_equal(np.sort(got.ravel()), w.ravel())
    assert not np.array_equal(got, w)
    # Asking again, or asking a sub-block, gives the same permuted values (one permutation).
    np.testing.assert_array_equal(sh.read("w"), got)
    np.testing.assert_array_equal(sh.read_block("w", [4, 1], [6, 0, 2]), got[np.ix_([4, 1], [6, 0, 2])])
    np.testing.assert_array_equal(sh.read_rows("w", [2]), got[[2]])


@pytest.mark.parametrize("shape", [(1, 9), (6, 5), (40, 33)])
def test_disjoint_requests_never_reuse_an_entry(shape: tuple[int, int]) -> None:
    n, m = shape
    w = np.random.default_rng(0).permutation(n * m).astype(np.float32).reshape(n, m)
    sh = ShuffledCheckpoint(_ArrayCheckpoint({"w": w}), seed=11)
    cols_a, cols_b = np.arange(0, m, 2), np.arange(1, m, 2)
    a = sh.read_block("w", np.arange(n), cols_a)
    b = sh.read_block("w", np.arange(n), cols_b)
    both = np.concatenate([a.ravel(), b.ravel()])
    np.testing.assert_array_equal(np.sort(both), np.arange(n * m))  # each entry exactly once


def test_sampled_block_is_a_uniform_draw_without_replacement() -> None:
    """Over 3000 seeds, each of 4 positions of a 2 x 2 block of a 3 x 4 matrix holds each of
    the 12 entries equally often (chi-square, 11 dof, well under the 0.1% critical value 31.3),
    the 4 values are always distinct, and every ordered pair of entries is equally likely."""
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    ck = _ArrayCheckpoint({"w": w})
    draws = np.array([ShuffledCheckpoint(ck, seed=s).read_block("w", [0, 2], [1, 3]).ravel()
                      for s in range(3000)]).astype(int)
    assert all(len(set(d)) == 4 for d in draws)
    expected = 3000 / 12
    for p in range(4):
        counts = np.bincount(draws[:, p], minlength=12)
        assert ((counts - expected) ** 2 / expected).sum() < 31.3
    pairs = np.bincount(draws[:, 0] * 12 + draws[:, 1], minlength=144).reshape(12, 12)
    assert np.all(np.diag(pairs) == 0)
    off = pairs[~np.eye(12, dtype=bool)]
    exp2 = 3000 / 132
    assert ((off - exp2) ** 2 / exp2).sum() < 190.0  # chi-square 131 dof, 0.1% critical ~ 181.5


def test_seeded_per_sample_and_independent_of_tensor_order() -> None:
    rng = np.random.default_rng(1)
    tensors = {"a": rng.normal(size=(20, 30)), "b": rng.normal(size=(30, 20))}
    ck = _ArrayCheckpoint(tensors)
    one = ShuffledCheckpoint(ck, seed=5)
    a1, b1 = one.read_block("a", [1, 7], [2, 3, 4]), one.read_block("b", [0, 9], [5])
    two = ShuffledCheckpoint(ck, seed=5)
    b2, a2 = two.read_block("b", [0, 9], [5]), two.read_block("a", [1, 7], [2, 3, 4])
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(b1, b2)
    other = ShuffledCheckpoint(ck, seed=6).read_block("a", [1, 7], [2, 3, 4])
    assert not np.array_equal(a1, other)


def test_bad_requests() -> None:
    sh = ShuffledCheckpoint(_ArrayCheckpoint({"w": np.ones((3, 4))}), seed=0)
    with pytest.raises(ConfigError, match="rows of tensor 'w'"):
        sh.read_block("w", [3], [0])
    assert sh.read_block("w", [], [0]).shape == (0, 1)
    assert isinstance(null_checkpoint("shuffle", sh, 1), ShuffledCheckpoint)
    with pytest.raises(ConfigError, match="null model must be one of shuffle, gaussian, got 'rewire'"):
        null_checkpoint("rewire", sh, 1)


def test_full_network_null_has_the_same_weights_and_structural_edges(tiny_checkpoint) -> None:
    """Full GPT-NeoX NIN: every weighted block of the null holds exactly the real block's
    distances (the whole matrix is read, so the draw is the whole permutation), at other
    places; the structural QKV -> context blocks are identical."""
    path = tiny_checkpoint("gpt_neox", hidden=16, heads=2, n_layers=2)
    with open_checkpoint(path) as ck:
        ad = get_adapter(ck.config)
        real = build_nin(ck, ad, neurons_per_layer="all", seed=0)
        null = build_nin(ShuffledCheckpoint(ck, 0), ad, neurons_per_layer="all", seed=0)
    assert real.layer_sizes == null.layer_sizes
    for l, (br, bn) in enumerate(zip(real.blocks, null.blocks)):
        if l % 5 == 1:  # qkv -> ctx: structural
            np.testing.assert_array_equal(br, bn)
            continue
        np.testing.assert_array_equal(np.sort(br.ravel()), np.sort(bn.ravel()))
        assert not np.array_equal(br, bn)


def test_sampled_null_values_come_from_the_matrix_without_replacement(tiny_checkpoint) -> None:
    path = tiny_checkpoint("gpt_neox", hidden=16, heads=2, n_layers=2)
    with open_checkpoint(path) as ck:
        ad = get_adapter(ck.config)
        null = build_nin(ShuffledCheckpoint(ck, 4), ad, neurons_per_layer=4, seed=4)
        name = f"{ad.block_prefix(ck)}0.{ad.weight_specs()['out'].name}"  # block 0 mlp -> x: 5th block
        full = ck.read(name)
    got = 1.0 / null.blocks[4].ravel()
    pool = np.abs(full.astype(np.float64)).ravel()
    # Every value is an entry of the matrix, and no entry is used more often than it occurs.
    vals, counts = np.unique(got, return_counts=True)
    for v, c in zip(vals, counts):
        assert c <= np.sum(np.isclose(pool, v, rtol=1e-12, atol=0))
        assert c >= 1


def _planted(src: Path, dst: Path) -> Path:
    """Copy a tiny GPT-NeoX checkpoint and plant hubs: every weight matrix (stored [out, in])
    has its column j (the out-edges of input neuron j) scaled by a log-normal factor e^{N(0,1)},
    so some neurons send only strong weights and others only weak ones."""
    from safetensors.numpy import load_file, save_file

    dst.mkdir()
    (dst / "config.json").write_text((src / "config.json").read_text())
    tensors = load_file(str(src / "model.safetensors"))
    rng = np.random.default_rng(7)
    for k, v in tensors.items():
        if v.ndim == 2 and ".layers." in k:
            tensors[k] = (v * np.exp(rng.standard_normal(v.shape[1]))[None, :]).astype(v.dtype)
    save_file(tensors, str(dst / "model.safetensors"))
    return dst


def _tau_z(doc: dict) -> float:
    """Largest |mean tau_real - mean tau_null| over q in units of its standard error."""
    real = np.array([s["tau"] for s in doc["samples"]])
    null = np.array([s["null"]["tau"] for s in doc["samples"]])
    n = len(real)
    se = np.sqrt(real.var(axis=0) / n + null.var(axis=0) / n) + 1e-12
    return float(np.max(np.abs(real.mean(axis=0) - null.mean(axis=0)) / se))


def test_null_removes_planted_structure(tiny_checkpoint, tmp_path) -> None:
    """On i.i.d. weights the null's tau(q) agrees with the real one within the sampling error;
    with planted hubs the real tau(q) and alpha0 or the width leave the null's, which only sees
    the weight distribution (measured with the default grid and window: z 0.5 against 6.9;
    alpha0 95% CIs [1.86, 1.89] against [0.16, 0.91])."""
    from mfa_engine.api import analyze_checkpoint

    path = tiny_checkpoint("gpt_neox", hidden=32, heads=4, n_layers=2)
    kw = dict(sampling="neurons", neurons_per_layer=16, samples=6, null="shuffle", min_reach=5)
    iid = analyze_checkpoint(path, **kw)
    planted = analyze_checkpoint(_planted(path, tmp_path / "planted"), **kw)
    for doc in (iid, planted):
        assert doc["null"]["model"] == "shuffle"
        assert len(doc["null"]["alpha"]) == len(doc["alpha"])
        assert all(isinstance(s["null"], dict) and s["null"]["seed"] == s["seed"] for s in doc["samples"])
    assert _tau_z(iid) < 3.0
    assert _tau_z(planted) > 5.0

    def disjoint(key: str) -> bool:
        real_ci, null_ci = planted[f"{key}_ci"], planted["null"][f"{key}_ci"]
        return real_ci[1] < null_ci[0] or null_ci[1] < real_ci[0]

    assert disjoint("alpha0") or disjoint("width")


@pytest.mark.parametrize("mode", ["paper", "reference"])
def test_plan_records_exactly_the_reads_of_a_null_run(tiny_checkpoint, mode) -> None:
    """The null's draws depend on positions only, so a plan against a recorder (zeros) makes
    the very reads of the run: a batch prefetch or a Hub fetch serves them."""
    from mfa_engine.modes import get_mode
    from mfa_engine.options import AnalysisOptions

    from ..modes.plan_check import planned_and_run

    path = tiny_checkpoint("gpt_neox", hidden=64, heads=4, n_layers=2)
    opts = AnalysisOptions(mode=mode, null="shuffle", neurons_per_layer=8 if mode == "paper" else 16,
                           samples=2)
    with open_checkpoint(path) as ck:
        planned, ran, records = planned_and_run(get_mode(mode), ck, [0, 1], opts)
    assert planned == ran and len(ran) > 0
    assert all(isinstance(r["null"], dict) for r in records)


@pytest.mark.parametrize("kind", ["sorted", "random", "repeats", "empty", "one"])
def test_sorted_unique_equals_numpy_unique(kind: str) -> None:
    rng = np.random.default_rng(11)
    a = {"sorted": np.arange(0, 3000, 3, dtype=np.int64),
         "random": rng.permutation(5000).astype(np.int64),
         "repeats": rng.integers(0, 50, size=4000).astype(np.int64),
         "empty": np.zeros(0, np.int64), "one": np.array([7], np.int64)}[kind]
    np.testing.assert_array_equal(_sorted_unique(a), np.unique(a))
