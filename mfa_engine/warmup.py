"""Fill numba's on-disk JIT cache once, so that the first real run does not compile.

Every CPU kernel is ``@njit(cache=True)``: the first call of each type signature compiles it
(tens of seconds in all) and writes the machine code next to the kernel's source file
(``mfa_engine/kernels/__pycache__`` for an editable install or a clone; numba falls back to a per-user
cache directory when that is read-only, and ``NUMBA_CACHE_DIR`` overrides both). Later
processes load it in milliseconds. ``scripts/setup.sh`` runs :func:`warm_jit_cache`
(``python -m mfa_engine.warmup``) once; afterwards the first ``mfa demo`` / ``mfa analyze``
starts warm. Each kernel is reached through the same public code path as a real run, so the
compiled type signatures are the ones a run asks for. The cache is invalidated per source file
when that file changes (e.g. after ``git pull``); running the warm-up again refills it.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np

__all__ = ["warm_jit_cache"]


def _paths() -> None:
    """Layered DAGs: both dtypes (float32 with an exact float64 recomputation: integer weights
    put distances exactly on radii), distances, a SciPy DAG (level detection, hash, scans) with
    the block-streamed float64 recomputation that large DAGs take, and a graph with a cycle
    (Dijkstra), directed and undirected."""
    import scipy.sparse as sp

    from mfa_engine.paths import cpu, multi_source_counts, multi_source_distances

    rng = np.random.default_rng(0)
    sizes = [5, 7, 6]
    blocks = [rng.integers(1, 4, (a, b)).astype(np.float64) for a, b in zip(sizes[:-1], sizes[1:])]
    layered = SimpleNamespace(layer_sizes=sizes, blocks=blocks)
    radii = np.array([1.0, 2.0, 3.5, 6.0])
    multi_source_counts(layered, np.arange(18), radii, backend="cpu")
    multi_source_distances(layered, np.arange(18), cutoff=5.0, backend="cpu")
    dag = sp.random_array((30, 30), density=0.2, rng=rng, format="csr")
    dag = sp.csr_array(sp.triu(dag, k=1))
    dag.data = rng.integers(1, 4, dag.nnz).astype(np.float64)
    multi_source_counts(dag, np.arange(30), radii, backend="cpu")
    # DAGs whose float32 blocks pass cpu._STREAM_BYTES recompute flagged sources block by block:
    # the same code path on a small DAG, with the threshold lowered for this one call.
    limit, cpu._STREAM_BYTES = cpu._STREAM_BYTES, -1
    try:
        multi_source_counts(dag.copy(), np.arange(30), radii, backend="cpu")
    finally:
        cpu._STREAM_BYTES = limit
    # A dense layered DAG numbered level by level (a full NIN handed over as a SciPy matrix):
    # the CSR data array is the float64 blocks, and the float32 blocks are cast from it.
    w01, w12 = rng.uniform(0.5, 2.0, (4, 5)), rng.uniform(0.5, 2.0, (5, 3))
    dense = sp.csr_array(sp.block_array([[None, w01, None], [None, None, w12], [np.zeros((3, 4)), None, None]]))
    dense.eliminate_zeros()
    multi_source_counts(dense, np.arange(12), radii, backend="cpu")
    cyc = dag + sp.csr_array((np.ones(1), (np.array([29]), np.array([0]))), shape=(30, 30))
    multi_source_counts(cyc, np.arange(30), radii, backend="cpu")
    multi_source_counts(dag, np.arange(30), radii, directed=False, backend="cpu")
    multi_source_distances(cyc, np.arange(30), cutoff=5.0, backend="cpu")
    multi_source_distances(cyc, np.arange(30), backend="cpu")  # no cutoff: the heap queue


def _stream() -> None:
    """The streamed full network: the exact float64 pass, and the float32 pass with the
    resolution (radii on float64 distances, so entries are resolved) over NinBlocks' blocks of a
    tiny checkpoint (float16 storage; float32 storage through the distance kernel directly)."""
    from mfa_engine.arch import get_adapter
    from mfa_engine.checkpoints import open_checkpoint
    from mfa_engine.kernels.nin_distances import distances_into, magnitude_counts
    from mfa_engine.kernels.nin_panels import panels_from_stored
    from mfa_engine.nin import NinBlocks
    from mfa_engine.paths import stream
    from mfa_engine.synthetic import write_gpt_neox_checkpoint

    with tempfile.TemporaryDirectory(prefix="mfa-warmup-") as tmp:
        path = write_gpt_neox_checkpoint(Path(tmp) / "ckpt", hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
        with open_checkpoint(path) as ckpt:
            nb = NinBlocks(ckpt, get_adapter(ckpt.config))
            w64 = [nb.block(lv, np.float64) for lv in range(nb.n_levels - 1)]
            radii = np.unique(np.cumsum(np.sort(np.concatenate([w[np.isfinite(w)][:6] for w in w64]))))
            src = np.arange(sum(nb.sizes) - nb.sizes[-1])
            stream.stream_counts(nb.sizes, nb.iter(np.float32), src, radii, columns_at=lambda lv, c: nb.block(lv, np.float64, c))
            stream.stream_counts(nb.sizes, nb.iter(np.float32, lazy=True), src, radii, columns_at=lambda lv, c: nb.block(lv, np.float64, c))
            stream.stream_counts(nb.sizes, nb.iter(np.float64), src, radii)
            for lv in range(nb.n_levels - 1):  # the streamed pre-pass's 16-bit histograms
                nb.distance_counts(lv)
    rng = np.random.default_rng(3)  # radii on two-hop distances: marks two levels down (predecessor scan)
    w = [rng.uniform(1.0, 2.0, (3, 4)), rng.uniform(1.0, 2.0, (4, 5))]
    radii = np.unique((w[0][0][:, None] + w[1]).ravel())
    blocks = [stream.LevelBlock(lv, b.astype(np.float32)) for lv, b in enumerate(w)]
    stream.stream_counts([3, 4, 5], blocks, np.arange(3), radii, block_at=lambda lv: w[lv])
    w32 = np.ones((3, 4), np.float32)
    for dt in (np.float32, np.float64):
        distances_into(w32, "float32", np.arange(3), np.arange(3), np.empty((4, 3), dt), 0.0, True)
        for kind, w in (("float32", w32), ("float16", w32.astype(np.float16))):  # division and table paths
            for tr in (True, False):
                panels_from_stored(w if tr else w.T.copy(), kind, np.arange(3), np.empty(12, dt), 4, 0.0, tr, 8)
    for tr in (True, False):  # both storage layouts of the histogram
        magnitude_counts(w32.astype(np.float16), "float16", np.arange(3), tr)


def _general() -> None:
    """General graphs as users first pass them: a random SciPy matrix through ``analyze_graph``
    (directed and undirected), and a large, scattered graph (above the renumbering threshold,
    arrays large enough for the compiled fingerprint hash)."""
    import scipy.sparse as sp

    from mfa_engine.api import analyze_graph
    from mfa_engine.paths import multi_source_counts
    from mfa_engine.paths.csr_kernel_graph import RELABEL_MIN_NODES

    rng = np.random.default_rng(1)
    n = 300
    m = sp.random_array((n, n), density=0.03, rng=rng, format="csr")
    m.data = rng.uniform(0.5, 2.0, m.nnz)
    analyze_graph(m)
    analyze_graph(sp.csr_matrix(m), directed=False)
    n = RELABEL_MIN_NODES + 1000
    e = 4 * n
    big = sp.csr_array((rng.uniform(0.5, 2.0, e), (rng.integers(0, n, e), rng.integers(0, n, e))), shape=(n, n))
    radii = np.array([0.5, 1.0, 2.0])
    for _ in range(2):  # the second call hashes the arrays to find the prepared graph again
        multi_source_counts(big, np.arange(8), radii, backend="cpu")


def _networkx() -> None:
    """The NetworkX backend on float and integer weights: single source, all pairs with a
    cutoff (balls sorted by distance), breadth-first lengths, a pair, the engine's own ball sizes
    and spectrum, and a graph above the renumbering threshold."""
    import networkx as nx

    from mfa_engine.nx import ball_sizes, multifractal_spectrum

    rng = np.random.default_rng(2)
    g = nx.random_geometric_graph(300, 0.12, seed=2)  # more sources than one batch (nx.results.BATCH)
    for u, v in g.edges:
        g[u][v]["weight"] = float(rng.uniform(0.5, 2.0))
    h = nx.grid_2d_graph(8, 8)
    for u, v in h.edges:
        h[u][v]["weight"] = int(rng.integers(1, 4))
    caching, nx.config.cache_converted_graphs = nx.config.cache_converted_graphs, False
    try:  # plain NetworkX graphs, converted by the backend as in a user's call
        for graph, cutoff in ((g, 0.3), (h, 4)):
            nodes = list(graph)
            nx.single_source_dijkstra_path_length(graph, nodes[0], backend="mfa")
            nx.single_source_dijkstra_path_length(graph, nodes[0], cutoff=cutoff, backend="mfa")
            dict(nx.all_pairs_dijkstra_path_length(graph, cutoff=cutoff, backend="mfa"))
            dict(nx.all_pairs_shortest_path_length(graph, backend="mfa"))
            nx.single_source_shortest_path_length(graph, nodes[0], backend="mfa")
            nx.dijkstra_path_length(graph, nodes[0], nodes[-1], backend="mfa")
        ball_sizes(g, radii=[0.2, 0.5], backend="mfa")
        multifractal_spectrum(g, backend="mfa")
        side = 130  # 16,900 nodes: renumbered
        nx.single_source_dijkstra_path_length(nx.grid_2d_graph(side, side), (0, 0), cutoff=10, backend="mfa")
    finally:
        nx.config.cache_converted_graphs = caching


def _analysis() -> None:
    """Paper mode (centre and neuron sampling) and reference mode on a tiny synthetic GPT-NeoX checkpoint."""
    from mfa_engine.api import analyze_checkpoint
    from mfa_engine.synthetic import write_gpt_neox_checkpoint

    with tempfile.TemporaryDirectory(prefix="mfa-warmup-") as tmp:
        path = write_gpt_neox_checkpoint(Path(tmp) / "ckpt", hidden_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, dtype="float32")
        analyze_checkpoint(path, samples=1, centres=64)  # centre sampling of the full network (default)
        analyze_checkpoint(path, samples=1, sampling="neurons", neurons_per_layer=16)
        analyze_checkpoint(path, mode="reference", samples=1, neurons_per_layer=16)


def _tm() -> None:
    """Fused TM loss forward and backward on CPU tensors (packed states)."""
    import torch

    from mfa_engine.tm import states_from_reference, tm_loss

    g = torch.Generator().manual_seed(0)
    ref = torch.randn(2, 3, 8, generator=g)
    pos, neg = torch.full((8,), 0.5), torch.full((8,), -0.5)
    hidden = torch.randn(2, 3, 8, generator=g, requires_grad=True)
    loss = tm_loss(hidden, states_from_reference(ref, pos, neg), pos, neg, backend="cpu")
    loss.backward()


_STEPS: tuple[tuple[str, Callable[[], None]], ...] = (
    ("paths", _paths), ("streamed paths", _stream), ("general graphs", _general), ("networkx", _networkx), ("analysis", _analysis), ("tm", _tm),
)


def warm_jit_cache(log: Callable[[str], None] = print) -> float:
    """Compile (or load) every CPU kernel a run uses, filling numba's on-disk cache.

    Args:
        log: Receives one line per step with its time.

    Returns:
        Total seconds.
    """
    t0 = time.perf_counter()
    for name, step in _STEPS:
        t = time.perf_counter()
        step()
        log(f"  numba cache: {name} kernels ready ({time.perf_counter() - t:.1f} s)")
    return time.perf_counter() - t0


if __name__ == "__main__":
    total = warm_jit_cache()
    print(f"numba JIT cache warm ({total:.1f} s)", file=sys.stderr)
