"""Tests of mfa_engine.checkpoints.gaussian: the iid Gaussian (architecture) null model."""

from __future__ import annotations

import numpy as np
import pytest

from mfa_engine.arch import get_adapter
from mfa_engine.checkpoints import gaussian as gaussian_mod
from mfa_engine.checkpoints import open_checkpoint
from mfa_engine.checkpoints.gaussian import GaussianCheckpoint, matrix_std
from mfa_engine.checkpoints.nulls import null_checkpoint
from mfa_engine.errors import ConfigError
from mfa_engine.nin import build_nin


class _ArrayCheckpoint:
    """The read contract over in-memory tensors (records the row requests)."""

    def __init__(self, tensors: dict[str, np.ndarray]) -> None:
        self.tensors = tensors
        self.row_reads: list[tuple[int, ...]] = []

    def __contains__(self, name: object) -> bool:
        return name in self.tensors

    def shape(self, name: str) -> tuple[int, ...]:
        return self.tensors[name].shape

    def read_block(self, name: str, rows, cols) -> np.ndarray:
        self.row_reads.append(tuple(int(r) for r in np.asarray(rows).ravel()))
        return self.tensors[name][np.ix_(np.asarray(rows), np.asarray(cols))].astype(np.float32)

    def read_rows(self, name: str, rows) -> np.ndarray:
        return self.tensors[name][np.asarray(rows)].astype(np.float32)

    def read(self, name: str) -> np.ndarray:
        return self.tensors[name].astype(np.float32)


def _real(n: int = 300, m: int = 400, seed: int = 0) -> np.ndarray:
    """A non-Gaussian matrix (uniform, shifted, a third of it zero) with a known std."""
    rng = np.random.default_rng(seed)
    w = rng.uniform(-0.5, 1.5, size=(n, m))
    w[rng.random((n, m)) < 1 / 3] = 0.0
    return w.astype(np.float32)


def test_draws_have_mean_zero_and_the_real_matrix_std() -> None:
    """120,000 draws: the standard error of the sample std is sigma/sqrt(2N) = 0.002 sigma and
    of the mean 0.003 sigma; the tolerances are 5 to 6 standard errors (fixed seeds)."""
    w = _real()
    sigma = float(np.std(w.astype(np.float64)))
    null = GaussianCheckpoint(_ArrayCheckpoint({"w": w}), seed=7)
    assert null.sigma("w") == pytest.approx(sigma, rel=1e-9)
    z = null.read("w").astype(np.float64)
    assert z.shape == w.shape and z.dtype == np.float64
    assert abs(z.mean()) < 0.015 * sigma
    assert z.std() == pytest.approx(sigma, rel=0.012)
    # Normal shape: the fraction within one sigma (0.6827) and the 4th standardized moment (3).
    assert np.mean(np.abs(z) < sigma) == pytest.approx(0.6827, abs=0.008)
    assert np.mean((z / z.std()) ** 4) == pytest.approx(3.0, abs=0.08)
    # Every entry is drawn: none of the real matrix's zeros survive at their places.
    assert np.count_nonzero(z == 0.0) == 0


def test_matrix_std_does_not_depend_on_the_chunk_size(monkeypatch) -> None:
    w = _real(50, 30, seed=3) + 1000.0  # a large mean: a naive sum of squares would lose digits
    ck = _ArrayCheckpoint({"w": w})
    whole = matrix_std(ck, "w", w.shape)
    monkeypatch.setattr(gaussian_mod, "_CHUNK_BYTES", 4 * 30 * 7)  # 7 rows per chunk
    ck.row_reads.clear()
    chunked = matrix_std(ck, "w", w.shape)
    assert len(ck.row_reads) == 8  # 50 rows in chunks of 7
    oracle = float(np.std(w.astype(np.float64)))
    assert whole == pytest.approx(oracle, rel=1e-9)
    assert chunked == pytest.approx(oracle, rel=1e-9)
    assert matrix_std(ck, "w", (0, 30)) == 0.0


def test_value_at_a_position_does_not_depend_on_what_is_read_or_in_which_order() -> None:
    rng = np.random.default_rng(1)
    tensors = {"a": rng.normal(size=(20, 30)), "b": rng.normal(size=(30, 20))}
    ck = _ArrayCheckpoint(tensors)
    whole = GaussianCheckpoint(ck, seed=5).read("a")
    one = GaussianCheckpoint(ck, seed=5)
    b1 = one.read_block("b", [0, 9], [5])
    block = one.read_block("a", [7, 1, 7], [4, 2, 3])
    np.testing.assert_array_equal(block, whole[np.ix_([7, 1, 7], [4, 2, 3])])
    two = GaussianCheckpoint(ck, seed=5)
    np.testing.assert_array_equal(two.read_rows("a", [13]), whole[[13]])
    np.testing.assert_array_equal(two.read_block("b", [0, 9], [5]), b1)
    # Another seed or another tensor draws other normals.
    assert not np.array_equal(GaussianCheckpoint(ck, seed=6).read("a"), whole)
    assert not np.array_equal(one.read("b")[:20, :20], whole[:20, :20] / one.sigma("a") * one.sigma("b"))


def test_same_sample_draws_the_same_normals_at_every_checkpoint() -> None:
    """Sample s of a series: only sigma follows the checkpoint (a matrix scaled by 3 gives
    the same null scaled by 3), and the null of the dispatcher is this wrapper."""
    w = _real(40, 25, seed=2)
    early = null_checkpoint("gaussian", _ArrayCheckpoint({"w": w}), 4)
    late = null_checkpoint("gaussian", _ArrayCheckpoint({"w": 3.0 * w}), 4)
    assert isinstance(early, GaussianCheckpoint)
    np.testing.assert_allclose(late.read("w"), 3.0 * early.read("w"), rtol=1e-6)


def test_other_tensors_pass_through_and_bad_requests_are_named() -> None:
    bias = np.arange(5, dtype=np.float32)
    null = GaussianCheckpoint(_ArrayCheckpoint({"w": np.ones((3, 4)), "bias": bias}), seed=0)
    np.testing.assert_array_equal(null.read("bias"), bias)
    # A constant matrix has sigma 0: its null is all zeros (also what a recorder's zeros give).
    np.testing.assert_array_equal(null.read("w"), np.zeros((3, 4), dtype=np.float32))
    with pytest.raises(ConfigError, match="rows of tensor 'w'"):
        null.read_block("w", [3], [0])
    with pytest.raises(ConfigError, match="columns of tensor 'w'"):
        null.read_block("w", [0], [4])
    assert null.read_block("w", [], [0]).shape == (0, 1)


def test_full_network_null_keeps_the_structural_edges(tiny_checkpoint) -> None:
    """Full GPT-NeoX NIN: structural QKV -> context blocks identical, weighted blocks redrawn
    (distances 1/|w| of Gaussian draws: all finite, not the real ones)."""
    path = tiny_checkpoint("gpt_neox", hidden=16, heads=2, n_layers=2)
    with open_checkpoint(path) as ck:
        ad = get_adapter(ck.config)
        real = build_nin(ck, ad, neurons_per_layer="all", seed=0)
        null = build_nin(null_checkpoint("gaussian", ck, 0), ad, neurons_per_layer="all", seed=0)
    assert real.layer_sizes == null.layer_sizes
    for l, (br, bn) in enumerate(zip(real.blocks, null.blocks)):
        if l % 5 == 1:  # qkv -> ctx: structural
            np.testing.assert_array_equal(br, bn)
            continue
        assert br.shape == bn.shape
        assert not np.array_equal(np.sort(br.ravel()), np.sort(bn.ravel()))


@pytest.mark.parametrize("mode", ["paper", "reference"])
def test_plan_records_exactly_the_reads_of_a_gaussian_null_run(tiny_checkpoint, mode) -> None:
    """The reads are the sigma pass (fixed row chunks): a plan against a recorder (zeros,
    sigma 0) makes the very reads of the run, and both modes run with the null."""
    from mfa_engine.modes import get_mode
    from mfa_engine.options import AnalysisOptions

    from ..modes.plan_check import planned_and_run

    path = tiny_checkpoint("gpt_neox", hidden=64, heads=4, n_layers=2)
    opts = AnalysisOptions(mode=mode, null="gaussian", neurons_per_layer=8 if mode == "paper" else 16,
                           samples=2)
    with open_checkpoint(path) as ck:
        planned, ran, records = planned_and_run(get_mode(mode), ck, [0, 1], opts)
    assert planned == ran and len(ran) > 0
    assert all(isinstance(r["null"], dict) for r in records)
    assert all(r["null"]["alpha0"] != r["alpha0"] for r in records)
