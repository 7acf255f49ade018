"""Streamed full-network counts (mfa_engine.paths.stream) against SciPy's float64 Dijkstra."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse import csgraph

from mfa_engine import nin as nin_mod
from mfa_engine.layered import LayeredGraph
from mfa_engine.paths import stream


def _oracle(g: LayeredGraph, src: np.ndarray, radii: np.ndarray) -> np.ndarray:
    d = csgraph.dijkstra(sp.csr_array(g.to_csr()), indices=src)
    return np.stack([(d <= r).sum(axis=1) for r in radii], axis=1)


@pytest.mark.parametrize("sizes", [[3, 5, 2], [17, 33, 9, 65, 12], [40, 130, 64, 31]])
@pytest.mark.parametrize("zeros", [False, True])
def test_stream_counts_match_dijkstra(sizes: list[int], zeros: bool) -> None:
    rng = np.random.default_rng(sum(sizes) + zeros)
    blocks = []
    for a, b in itertools.pairwise(sizes):
        w = np.round(rng.uniform(0.1, 2.0, (a, b)), 1)
        w[rng.random((a, b)) < 0.3] = np.inf
        if zeros:
            w[rng.random((a, b)) < 0.05] = 0.0
        blocks.append(w)
    g = LayeredGraph(sizes, blocks)
    src = rng.choice(g.n_nodes, min(g.n_nodes, 23), replace=False)
    d = csgraph.dijkstra(sp.csr_array(g.to_csr()), indices=src)
    radii = rng.permutation(np.concatenate([[0.0, -1.0], np.unique(d[np.isfinite(d)])[:: 3]]))
    got = stream.stream_counts(sizes, stream.iter_layered_blocks(g), src, radii)
    np.testing.assert_array_equal(got, _oracle(g, src, radii))


def test_nin_blocks_from_the_checkpoint_match_build_nin(tmp_path) -> None:
    from mfa_engine.arch import get_adapter
    from mfa_engine.checkpoints import open_checkpoint
    from mfa_engine.nin import build_nin
    from mfa_engine.synthetic import write_gpt_neox_checkpoint

    path = write_gpt_neox_checkpoint(tmp_path, seed=1, hidden_size=32, num_hidden_layers=2, num_attention_heads=4)
    with open_checkpoint(path) as ckpt:
        ad = get_adapter(ckpt.config)
        g = build_nin(ckpt, ad, neurons_per_layer="all", structural_distance=3.0)
        blocks = list(nin_mod.iter_nin_blocks(ckpt, ad, structural_distance=3.0))
        assert nin_mod.nin_level_sizes(ad) == list(g.layer_sizes)
        assert [b.structural for b in blocks] == list(g.structural)
        for b, ref in zip(blocks, g.blocks):
            np.testing.assert_array_equal(b.weights, ref)
        src = np.arange(0, g.n_nodes, 7)
        d = csgraph.dijkstra(sp.csr_array(g.to_csr()), indices=src)
        radii = np.quantile(d[np.isfinite(d)], np.linspace(0, 1, 17))
        got = stream.stream_counts(g.layer_sizes, nin_mod.iter_nin_blocks(ckpt, ad, structural_distance=3.0), src, radii)
    np.testing.assert_array_equal(got, _oracle(g, src, radii))


def _f32_blocks(blocks: list[np.ndarray]) -> list[stream.LevelBlock]:
    return [stream.LevelBlock(lv, b.astype(np.float32)) for lv, b in enumerate(blocks)]


def _adversarial_radii(d: np.ndarray, rng: np.random.Generator, k: int) -> np.ndarray:
    """Radii exactly at float64 Dijkstra distances and at their float64 neighbours (float32
    rounding puts many such entries on the wrong side: the resolution must fix them)."""
    fin = np.unique(d[np.isfinite(d) & (d > 0)])
    pick = rng.choice(fin, min(k, fin.size), replace=False)
    return rng.permutation(np.unique(np.concatenate([pick, np.nextafter(pick, 0), np.nextafter(pick, np.inf), [0.0]])))


def _random_layered(sizes: list[int], rng: np.random.Generator, structural: tuple[int, ...] = ()) -> list[np.ndarray]:
    blocks = []
    for lv, (a, b) in enumerate(itertools.pairwise(sizes)):
        w = rng.uniform(0.05, 3.0, (a, b))
        if lv in structural:  # block-diagonal, one constant distance (the QKV -> context block)
            w = np.full((a, b), np.inf)
            h = 4
            for r, c in zip(np.array_split(np.arange(a), h), np.array_split(np.arange(b), h)):
                w[np.ix_(r, c)] = 1.7
        else:
            w[rng.random((a, b)) < 0.2] = np.inf
        blocks.append(w)
    return blocks


@pytest.mark.parametrize(
    ("sizes", "structural"),
    [([3, 5, 2], ()), ([17, 33, 9, 65, 12], (1,)), ([40, 131, 64, 31, 77, 50, 9], (2,)), ([7] * 12, ())],
)
def test_stream_f32_counts_exact_on_adversarial_radii(sizes: list[int], structural: tuple[int, ...]) -> None:
    """The float32 streamed pass with block_at: counts identical to SciPy's float64 Dijkstra
    and to the in-memory engine, sources at every level, radii on exact distances."""
    from mfa_engine.paths import multi_source_counts

    rng = np.random.default_rng(len(sizes) * 100 + sum(sizes))
    blocks = _random_layered(sizes, rng, structural)
    g = LayeredGraph(sizes, blocks)
    off = np.concatenate([[0], np.cumsum(sizes)])
    src = np.concatenate([rng.choice(np.arange(off[i], off[i + 1]), min(sizes[i], 5), replace=False) for i in range(len(sizes))])
    d = csgraph.dijkstra(sp.csr_array(g.to_csr()), indices=src)
    radii = _adversarial_radii(d, rng, 40)
    calls = []

    def block_at(lv: int) -> np.ndarray:
        calls.append(lv)
        return blocks[lv]

    got = stream.stream_counts(sizes, _f32_blocks(blocks), src, radii, block_at=block_at)
    ref = _oracle(g, src, radii)
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(got, multi_source_counts(g, src, radii))
    st = stream.LAST_STATS
    assert st["resolved"] > 0 and st["resolved"] == st["ambiguous"]
    assert calls == sorted(set(calls), reverse=True)  # each block read once, deepest first
    # float32 alone gets some counts wrong on these radii (the resolution was needed)
    assert st["moved"] > 0


def test_stream_f32_resolution_reaches_many_levels_back() -> None:
    """A deep narrow network with sources only at level 0: every ambiguous entry far down needs
    the spilled float32 rows of every level above it."""
    sizes = [5] + [9] * 14
    rng = np.random.default_rng(7)
    blocks = _random_layered(sizes, rng)
    g = LayeredGraph(sizes, blocks)
    src = np.arange(5)
    d = csgraph.dijkstra(sp.csr_array(g.to_csr()), indices=src)
    deep = d[:, -9:]
    radii = np.unique(np.concatenate([deep[np.isfinite(deep)], np.nextafter(deep[np.isfinite(deep)], 0)]))
    read, ticks = [], []
    got = stream.stream_counts(sizes, _f32_blocks(blocks), src, radii, block_at=lambda lv: read.append(lv) or blocks[lv],
                               progress=lambda stage, done, total: ticks.append((stage, done, total)))
    n_b = len(sizes) - 1
    assert ticks[:n_b] == [("levels", i, n_b) for i in range(1, n_b + 1)]
    assert ticks[-1] == ("resolution", n_b, n_b) and {t[0] for t in ticks} == {"levels", "resolution"}
    np.testing.assert_array_equal(got, _oracle(g, src, radii))
    st = stream.LAST_STATS
    assert st["resolved"] > 0 and st["marks"] > st["ambiguous"]
    assert max(st["ambiguous_levels"]) == len(sizes) - 1 and min(st["mark_levels"]) <= 2  # marked far back
    assert read == list(range(len(sizes) - 2, -1, -1))
    assert st["spill_bytes"] == 4 * 5 * sum(sizes[1:-1])


def test_stream_f32_float64_blocks_and_no_ambiguity() -> None:
    """float64 blocks with block_at are cast; radii far from every distance resolve nothing."""
    sizes = [6, 11, 4]
    rng = np.random.default_rng(3)
    blocks = [np.round(rng.uniform(1, 4, (a, b)), 0) + 0.5 for a, b in itertools.pairwise(sizes)]
    g = LayeredGraph(sizes, blocks)
    src = np.arange(g.n_nodes)
    radii = np.array([0.25, 2.0, 4.25, 100.0])
    got = stream.stream_counts(sizes, stream.iter_layered_blocks(g), src, radii, block_at=lambda lv: blocks[lv])
    np.testing.assert_array_equal(got, _oracle(g, src, radii))
    assert stream.LAST_STATS["resolved"] == 0


def test_stream_f32_bad_blocks_leave_no_spill(tmp_path) -> None:
    sizes = [4, 6, 5]
    rng = np.random.default_rng(0)
    blocks = _random_layered(sizes, rng)
    g = LayeredGraph(sizes, blocks)
    d = csgraph.dijkstra(sp.csr_array(g.to_csr()), indices=np.arange(4))
    radii = _adversarial_radii(d, rng, 10)
    with pytest.raises(ValueError, match="block_at"):
        stream.stream_counts(sizes, _f32_blocks(blocks), np.arange(4), radii, block_at=lambda lv: blocks[lv].T, spill_dir=str(tmp_path))
    with pytest.raises(ValueError, match="shape"):
        stream.stream_counts(sizes, _f32_blocks([blocks[0].T, blocks[1]]), np.arange(4), radii, block_at=lambda lv: blocks[lv], spill_dir=str(tmp_path))
    with pytest.raises(ValueError, match="level 1"):
        stream.stream_counts(sizes, _f32_blocks(blocks)[:1], np.arange(4), radii, block_at=lambda lv: blocks[lv], spill_dir=str(tmp_path))
    with pytest.raises(ValueError, match="sources"):
        stream.stream_counts(sizes, _f32_blocks(blocks), np.array([99]), radii, block_at=lambda lv: blocks[lv])
    with pytest.raises(ValueError, match="1e30"):
        stream.stream_counts(sizes, _f32_blocks(blocks), np.arange(4), np.array([1e31]), block_at=lambda lv: blocks[lv])
    assert list(tmp_path.iterdir()) == []


def test_stream_f32_from_the_checkpoint(tmp_path) -> None:
    """NinBlocks' float32 blocks streamed with its float64 blocks as block_at: SciPy's counts."""
    from mfa_engine.arch import get_adapter
    from mfa_engine.checkpoints import open_checkpoint
    from mfa_engine.nin import NinBlocks, build_nin
    from mfa_engine.paths.cpu import minplus_isa
    from mfa_engine.synthetic import write_gpt_neox_checkpoint

    path = write_gpt_neox_checkpoint(tmp_path, seed=3, hidden_size=24, num_hidden_layers=2, num_attention_heads=3)
    with open_checkpoint(path) as ckpt:
        ad = get_adapter(ckpt.config)
        g = build_nin(ckpt, ad, neurons_per_layer="all", structural_distance=3.0)
        nb = NinBlocks(ckpt, ad, structural_distance=3.0)
        src = np.arange(0, g.n_nodes, 5)
        d = csgraph.dijkstra(sp.csr_array(g.to_csr()), indices=src)
        radii = _adversarial_radii(d, np.random.default_rng(0), 60)
        got = stream.stream_counts(nb.sizes, nb.iter(np.float32), src, radii, block_at=lambda lv: nb.block(lv, np.float64))
        assert stream.LAST_STATS["resolved"] > 0
        asked = []

        def columns_at(lv: int, cols: np.ndarray) -> np.ndarray:
            asked.append(cols.size / nb.sizes[lv + 1])
            return nb.block(lv, np.float64, cols)

        got_cols = stream.stream_counts(nb.sizes, nb.iter(np.float32), src, radii, columns_at=columns_at)
        got_lazy = stream.stream_counts(nb.sizes, nb.iter(np.float32, lazy=True), src, radii, columns_at=columns_at)
        assert stream.LAST_STATS["panel_levels"] == (sum(not nb.structural(lv) for lv in range(nb.n_levels - 1)) if minplus_isa() else 0)
        with pytest.raises(ValueError, match="not both"):
            stream.stream_counts(nb.sizes, nb.iter(np.float32), src, radii, block_at=nb.block, columns_at=columns_at)
    ref = _oracle(g, src, radii)
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(got_cols, ref)
    np.testing.assert_array_equal(got_lazy, ref)
    assert asked and min(asked) < 1.0  # only the marked columns were computed


class _Keyed:
    """A block with a ``content_key``; ``weights`` may be read only once per key."""

    def __init__(self, level: int, w: np.ndarray, key: object, reads: list[int]) -> None:
        self.level, self._w, self.content_key, self._reads, self.structural = level, w, key, reads, False

    @property
    def weights(self) -> np.ndarray:
        self._reads.append(self.level)
        return self._w


@pytest.mark.parametrize("f32", [False, True])
def test_stream_blocks_with_equal_content_keys_are_built_once(f32: bool) -> None:
    """Blocks 1 and 3 share a key (equal values, like NIN structural blocks): the second is
    never read, and the counts still equal SciPy's."""
    rng = np.random.default_rng(11)
    sizes = [13, 40, 40, 40, 40, 7]
    blocks = _random_layered(sizes, rng)
    blocks[3] = blocks[1].copy()
    g = LayeredGraph(sizes, blocks)
    src = np.arange(0, g.n_nodes - sizes[-1], 3)
    d = csgraph.dijkstra(sp.csr_array(g.to_csr()), indices=src)
    radii = _adversarial_radii(d, rng, 40)
    reads: list[int] = []
    keyed = [_Keyed(lv, w.astype(np.float32) if f32 else w, "same" if lv in (1, 3) else None, reads) for lv, w in enumerate(blocks)]
    kw = {"block_at": lambda lv: blocks[lv]} if f32 else {}
    got = stream.stream_counts(sizes, keyed, src, radii, **kw)
    np.testing.assert_array_equal(got, _oracle(g, src, radii))
    assert reads == [0, 1, 2, 4]
