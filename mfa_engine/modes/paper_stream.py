"""Centre sampling of a full network above the memory budget: streamed from the checkpoint.

When the full network does not fit ``MFA_NETWORK_MEMORY`` (:func:`mfa_engine.limits.network_mode`)
paper mode never builds it. What a sample reports is computed from the checkpoint's level
blocks read one at a time (:class:`mfa_engine.nin.NinBlocks`):

* the network's description (:func:`skeleton`: layer sizes and node metadata, from the adapter),
* a pre-pass (:func:`scan_network`, two reads of the weights): the number of edges and the exact
  medians the in-memory network takes of its weight distances (the structural distance with
  ``structural_scale="median"``, and ``r_unit``), by radix selection
  (:func:`mfa_engine.analysis.order_stats.order_statistics`), so both are ``np.median``'s values,
* the counts of every sample's centres together in one stream of the blocks
  (:func:`stream_counts_of`: a float32 pass with exact resolution of its ambiguous entries, or
  float64; identical to float64 Dijkstra either way), split into passes only when their
  distance panel does not fit the budget at once.

So the records are those of the in-memory path. :func:`record_reads` replays the reads of all
this against a recorder (paper mode's ``plan``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mfa_engine.analysis.order_stats import median_of, median_ranks, order_statistics
from mfa_engine.errors import ConfigError
from mfa_engine.limits import stream_sources_per_pass
from mfa_engine.nin import LAYER_KINDS, NinBlocks, nin_level_sizes
from mfa_engine.paths.dispatch import resolve_backend
from mfa_engine.paths.stream import stream_counts
from mfa_engine.progress import progress_bar

__all__ = ["NetworkSkeleton", "skeleton", "scan_network", "stream_counts_of", "stream_passes", "record_reads"]


class NetworkSkeleton:
    """The full NIN without its blocks: what a sample record and the centre strata read of it.

    Attributes:
        layer_sizes: Node-layer sizes ``[L]``.
        node_kind: ``[N]`` layer kind of each node; node_neuron: int64 ``[N]`` neuron index;
            node_block: int64 ``[N]`` transformer block (as :func:`mfa_engine.nin.build_nin`).
        n_edges: Finite edges (set by :func:`scan_network`).
        structural_distance: Distance of the structural edges, None without any (set by the scan).
    """

    def __init__(self, adapter: Any) -> None:
        sizes = adapter.layer_sizes()
        kinds = [kd for _ in range(adapter.n_blocks) for kd in LAYER_KINDS] + ["x"]
        blocks = [b for b in range(adapter.n_blocks) for _ in LAYER_KINDS] + [adapter.n_blocks]
        self.layer_sizes = [int(sizes[kd]) for kd in kinds]
        self.node_kind = np.repeat(np.asarray(kinds), self.layer_sizes)
        self.node_block = np.repeat(np.asarray(blocks, np.int64), self.layer_sizes)
        self.node_neuron = (np.concatenate([np.arange(n, dtype=np.int64) for n in self.layer_sizes])
                            if self.layer_sizes else np.zeros(0, np.int64))
        self.n_edges = 0
        self.structural_distance: float | None = None
        self.r_unit = float("nan")
        #: Smallest and largest positive finite weight distance (set by the scan).
        self.distance_range = (float("inf"), 0.0)

    @property
    def float32_ok(self) -> bool:
        """Whether every distance lies in float32's comfortable range [1e-30, 1e30], the
        condition of the in-memory float32 pass (:func:`mfa_engine.paths.cpu.choose_dtype`):
        the streamed pass then runs in float32 with exact resolution, else in float64."""
        lo, hi = self.distance_range
        if self.structural_distance is not None:
            lo, hi = min(lo, self.structural_distance), max(hi, self.structural_distance)
        return not (lo < 1e-30 or hi > 1e30)

    @property
    def n_nodes(self) -> int:
        """Total number of nodes ``N``."""
        return int(sum(self.layer_sizes))


def skeleton(adapter: Any) -> NetworkSkeleton:
    """The full network's description from the adapter alone (nothing is read)."""
    sk = NetworkSkeleton(adapter)
    if sk.layer_sizes != nin_level_sizes(adapter):  # one numbering of the levels everywhere
        raise AssertionError("skeleton: level sizes differ from nin_level_sizes")
    return sk


def scan_network(ckpt: Any, adapter: Any, options: Any, *, progress: bool = False) -> NetworkSkeleton:
    """The pre-pass: edges, structural distance and ``r_unit`` of the full network, exactly.

    Reads every weight matrix twice (a histogram of the distances' bit patterns, then the
    values of the medians' buckets); memory: one block and a 4 MB histogram.

    Args:
        ckpt: Open checkpoint (or a null model's). adapter: Its architecture adapter.
        options: The ``AnalysisOptions`` (``eps``, ``structural_distance``, ``structural_scale``).
        progress: A progress bar over the blocks of each pass.

    Returns:
        The :class:`NetworkSkeleton` with ``n_edges``, ``structural_distance`` and ``r_unit`` set.

    Raises:
        ConfigError: No weighted edge (every weight is <= eps), as the in-memory path says it.
    """
    sk = skeleton(adapter)
    seen = {"passes": 0, "edges": 0, "zeros": 0, "structural": False}
    n_blocks = len(sk.layer_sizes) - 1

    nin = NinBlocks(ckpt, adapter, eps=options.eps, structural_distance=1.0)

    def chunks():
        first = seen["passes"] == 0
        seen["passes"] += 1
        with progress_bar(n_blocks, f"pre-pass {seen['passes']}/2", progress, unit="level") as bar:
            for lv in range(n_blocks):
                if nin.structural(lv):  # edges only: no distance to take a median of
                    if first:
                        seen["structural"] = True
                        seen["edges"] += int(np.count_nonzero(np.isfinite(nin.block(lv, np.float32))))
                    bar.update(1)
                    continue
                # a 16-bit checkpoint's block is a histogram of its stored weights (at most
                # 32,768 distinct distances, no block built); else the float64 block's entries
                vc = nin.distance_counts(lv)
                if vc is None:
                    w = nin.block(lv, np.float64)
                    vals, cnt = w[np.isfinite(w)], None
                else:
                    vals, cnt = vc
                n_vals = int(vals.size if cnt is None else cnt.sum())
                if first:
                    seen["edges"] += n_vals
                    if n_vals:
                        seen["zeros"] += int(np.count_nonzero(vals == 0.0) if cnt is None else cnt[vals == 0.0].sum())
                        pos = vals[vals > 0.0]
                        if pos.size:
                            lo, hi = sk.distance_range
                            sk.distance_range = (min(lo, float(pos.min())), max(hi, float(pos.max())))
                bar.update(1)
                yield vals if cnt is None else (vals, cnt)

    median_scale = options.structural_scale == "median"
    from_structural = median_scale and float(options.structural_distance) == 1.0
    want: dict[str, list[int]] = {}

    def ranks_of(n: int) -> list[int]:
        z = seen["zeros"]
        if median_scale:
            if n == 0:
                raise ConfigError(
                    "structural_scale='median' needs weighted edges in the sample, found none "
                    "(every weight is <= eps); use structural_scale='absolute'")
            want["all"] = median_ranks(n)
        if not (from_structural and seen["structural"]):
            if n - z == 0:
                raise ConfigError("r_unit: the network has no weighted edge (every weight is <= eps)")
            want["positive"] = [z + r for r in median_ranks(n - z)]
        return want.get("all", []) + want.get("positive", [])

    values = order_statistics(chunks, ranks_of)
    k = len(want.get("all", []))
    sk.n_edges = seen["edges"]
    d_struct = float(options.structural_distance) * median_of(values[:k]) if median_scale \
        else float(options.structural_distance)
    sk.structural_distance = d_struct if seen["structural"] else None
    sk.r_unit = float(sk.structural_distance) if (from_structural and seen["structural"]) else median_of(values[k:])
    return sk


def stream_passes(adapter: Any, n_sources: int, n_radii: int) -> int:
    """Streamed passes for ``n_sources`` sources: one unless their panel exceeds the budget."""
    per = stream_sources_per_pass(nin_level_sizes(adapter), n_radii)
    return max(1, -(-int(n_sources) // per))


def _levels(blocks: Any, total: int, desc: str, progress: bool) -> Any:
    with progress_bar(total, desc, progress, unit="level") as bar:
        for blk in blocks:
            yield blk
            bar.update(1)


def _stream_counts(ckpt: Any, adapter: Any, sources: np.ndarray, radii: np.ndarray, options: Any,
                   structural: float | None, *, progress: bool = False, desc: str = "stream",
                   float32: bool = True) -> np.ndarray:
    """The one seam of the streamed counts: int64 ``[S, R]`` of one pass over the checkpoint's blocks.

    CPU: :func:`mfa_engine.paths.stream.stream_counts` over :class:`mfa_engine.nin.NinBlocks`:
    a float32 pass whose ambiguous entries are resolved exactly afterwards from the float64
    columns they need (``columns_at``), or, when ``float32`` is False (distances outside
    float32's comfortable range, :attr:`NetworkSkeleton.float32_ok`) or a radius is above 1e30,
    the exact float64 pass. Both give counts identical to float64 Dijkstra. A GPU backend (or
    ``torch``): :func:`mfa_engine.paths.gpu_stream.stream_histogram`, which uploads each block as
    it comes.
    """
    sd = 1.0 if structural is None else float(structural)
    nb = NinBlocks(ckpt, adapter, eps=options.eps, structural_distance=sd)
    sizes = nb.sizes
    backend = resolve_backend(options.backend)
    if backend in ("triton", "cupy", "torch"):
        from mfa_engine.paths.gpu_stream import stream_histogram

        blocks = _levels(nb.iter(np.float64), len(sizes) - 1, desc, progress)
        return stream_histogram(sizes, blocks, sources, radii, backend=backend)
    r = np.asarray(radii, np.float64)
    if not float32 or (r.size and float(np.max(r)) > 1e30):  # beyond float32's range: exact float64
        return stream_counts(sizes, _levels(nb.iter(np.float64), len(sizes) - 1, desc, progress), sources, r)
    blocks = _levels(nb.iter(np.float32, lazy=True), len(sizes) - 1, desc, progress)  # panels read straight
    return stream_counts(sizes, blocks, sources, r, columns_at=lambda lv, cols: nb.block(lv, np.float64, cols))


def stream_counts_of(ckpt: Any, adapter: Any, sources: np.ndarray, radii: np.ndarray, options: Any,
                     net: NetworkSkeleton, *, progress: bool = False) -> np.ndarray:
    """Exact counts int64 ``[S, R]`` of ``sources`` (level order node ids) on the streamed network.

    One stream of the blocks for all the sources, or :func:`stream_passes` of them when their
    panel does not fit ``MFA_NETWORK_MEMORY`` at once.
    """
    if not options.directed:
        raise ConfigError("undirected paths need the whole network at once, and the full network is above "
                          "MFA_NETWORK_MEMORY (streamed level by level); use directed paths or raise the budget")
    src = np.asarray(sources, np.int64)
    passes = stream_passes(adapter, src.size, np.asarray(radii).size)
    out = np.zeros((src.size, np.asarray(radii).size), np.int64)
    for i, part in enumerate(np.array_split(np.arange(src.size), passes)):
        desc = "stream" if passes == 1 else f"stream {i + 1}/{passes}"
        out[part] = _stream_counts(ckpt, adapter, src[part], radii, options, net.structural_distance,
                                   float32=net.float32_ok, progress=progress, desc=desc)
    return out


def record_reads(recorder: Any, adapter: Any, n_streams: int) -> None:
    """Make, against a recorder, the reads of :func:`scan_network` and ``n_streams`` streams.

    Every stream and each of the two pre-pass reads asks for every weight matrix whole, in the
    order of :class:`mfa_engine.nin.NinBlocks` (the structural blocks read nothing). The exact
    resolution of a float32 stream reads some of those matrices again (which ones depends on the
    data): the same whole-matrix requests, already fetched.
    """
    nb = NinBlocks(recorder, adapter)
    for _ in range(2 + int(n_streams)):
        for lv in range(nb.n_levels - 1):
            nb.read_level(lv)
