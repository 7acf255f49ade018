"""Neuron interaction networks (NINs): checkpoint weights -> a layered graph of distances.

Nodes are neurons grouped in node layers; per transformer block the layers are
``x`` (block input) -> ``qkv`` -> ``ctx`` (attention context) -> ``attn_out`` -> ``mlp``, and the
last block's ``mlp`` feeds a final ``x`` layer (the model output). Weighted edges have distance
``1/|w|`` (kept when ``|w| > eps``); ``qkv -> ctx`` edges are structural (docs/method.md, NIN)
with a fixed distance, or one relative to the median weight distance of the sample. The
network is a layered DAG, stored as one dense distance block per pair of consecutive layers
(``inf`` = no edge), so multi-source shortest paths are min-plus chains.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from mfa_engine.errors import CheckpointError, ConfigError
from mfa_engine.layered import LayeredGraph, LevelBlock
from mfa_engine.options import check_option

__all__ = [
    "LayeredGraph", "build_nin", "sample_neurons", "LAYER_KINDS", "EDGE_KINDS", "iter_nin_blocks", "nin_level_sizes", "NinBlocks",
    "NinLevel",
]

#: Node-layer kinds of one block, in order (the final model output is one more "x" layer).
LAYER_KINDS: tuple[str, ...] = ("x", "qkv", "ctx", "attn_out", "mlp")
#: Edge kind between layer LAYER_KINDS[i] and the next layer.
EDGE_KINDS: tuple[str, ...] = ("x_qkv", "qkv_ctx", "ctx_attn_out", "attn_out_mlp", "mlp_x")


def sample_neurons(
    sizes: Sequence[int], counts: Sequence[int | None], rng: np.random.Generator
) -> list[np.ndarray]:
    """Draw sorted neuron indices per layer, uniformly without replacement.

    Args:
        sizes: Full size of each layer.
        counts: How many to draw per layer (``None`` = all; values above the size take all).
        rng: The generator; draws happen in the given order.

    Returns:
        One sorted int64 index array per layer.
    """
    out = []
    for n, k in zip(sizes, counts):
        if k is None or k >= n:
            out.append(np.arange(n, dtype=np.int64))
        else:
            out.append(np.sort(rng.choice(n, size=int(k), replace=False)).astype(np.int64))
    return out


def _distances(w: np.ndarray, eps: float) -> np.ndarray:
    """float64 distances ``1/|w|`` (computed in float64), ``inf`` where ``|w| <= eps``."""
    a = np.abs(w.astype(np.float64))
    with np.errstate(divide="ignore"):
        d = 1.0 / a
    d[~(a > eps)] = np.inf
    return d


def build_nin(
    ckpt: Any,
    adapter: Any,
    *,
    neurons_per_layer: int | str | None = 32,
    seed: int = 0,
    eps: float = 0.0,
    structural_distance: float = 1.0,
    structural_scale: str = "absolute",
    mlp_factor: int = 2,
    blocks: Sequence[int] | None = None,
) -> LayeredGraph:
    """Build the (sampled) neuron interaction network of a checkpoint.

    The draws depend only on ``seed`` and the layer sizes, so the same seed picks the same
    neurons at every checkpoint of a training series (neurons are tracked through training).

    Args:
        ckpt: An open checkpoint (``mfa_engine.checkpoints.open_checkpoint``).
        adapter: The architecture adapter for it (``mfa_engine.arch.get_adapter``).
        neurons_per_layer: Neurons sampled per node layer (the MLP hidden layer gets
            ``mlp_factor`` times as many), or ``"all"``/``None`` for the full network.
        seed: Seed of the sampling RNG (``numpy.random.default_rng(seed)``).
        eps: Edges with ``|w| <= eps`` are dropped (default 0: every nonzero weight).
        structural_distance: Distance of the structural ``qkv -> ctx`` edges: the value itself
            (``structural_scale="absolute"``) or a factor of the median of the sample's
            weight distances (``"median"``, paper mode's default: a uniform rescale of the
            weights then rescales every distance alike).
        structural_scale: ``"absolute"`` or ``"median"``.
        mlp_factor: Multiplier of the sample size for the MLP hidden layer.
        blocks: Transformer blocks to include (default all, in order); the chain is taken as
            consecutive even if a subset is given.

    Returns:
        The LayeredGraph with node metadata.

    Raises:
        ConfigError: For a non-positive sample size or negative eps/structural distance.
    """
    npl = None if neurons_per_layer is None else check_option("neurons_per_layer", neurons_per_layer)
    k: int | None = None if npl == "all" else npl
    check_option("eps", eps)
    check_option("structural_distance", structural_distance)
    check_option("structural_scale", structural_scale)

    sizes = adapter.layer_sizes()
    block_ids = list(range(adapter.n_blocks)) if blocks is None else [int(b) for b in blocks]
    rng = np.random.default_rng(seed)
    per_kind = {kind: (None if k is None else (k * mlp_factor if kind == "mlp" else k)) for kind in LAYER_KINDS}

    # Draw every block's layers in order, then the final output layer.
    layer_idx: list[np.ndarray] = []
    layer_kind: list[str] = []
    layer_block: list[int] = []
    for b in block_ids:
        drawn = sample_neurons([sizes[kd] for kd in LAYER_KINDS], [per_kind[kd] for kd in LAYER_KINDS], rng)
        for kd, idx in zip(LAYER_KINDS, drawn):
            layer_idx.append(idx)
            layer_kind.append(kd)
            layer_block.append(b)
    (final,) = sample_neurons([sizes["x"]], [per_kind["x"]], rng)
    layer_idx.append(final)
    layer_kind.append("x")
    layer_block.append(block_ids[-1] + 1 if block_ids else 0)

    dist_blocks: list[Any] = []
    masks: dict[int, np.ndarray] = {}
    for l in range(len(layer_idx) - 1):
        src, dst = layer_idx[l], layer_idx[l + 1]
        edge = EDGE_KINDS[LAYER_KINDS.index(layer_kind[l])]
        if edge == "qkv_ctx":
            masks[l] = np.asarray(adapter.structural_mask(src, dst), dtype=bool)
            dist_blocks.append(None)
        else:
            w = np.asarray(adapter.edge_weights(ckpt, layer_block[l], edge, src, dst))
            dist_blocks.append(np.ascontiguousarray(_distances(w, eps), dtype=np.float64))
    d_struct = _structural_value(dist_blocks, float(structural_distance), structural_scale)
    for l, mask in masks.items():
        dist_blocks[l] = np.ascontiguousarray(np.where(mask, d_struct, np.inf), dtype=np.float64)

    sizes_l = [len(ix) for ix in layer_idx]
    return LayeredGraph(
        layer_sizes=sizes_l,
        blocks=dist_blocks,
        node_block=np.repeat(np.asarray(layer_block, np.int64), sizes_l),
        node_kind=np.repeat(np.asarray(layer_kind), sizes_l),
        node_neuron=np.concatenate(layer_idx) if layer_idx else np.zeros(0, np.int64),
        structural=[l in masks for l in range(len(dist_blocks))],
        structural_distance=d_struct if masks else None,
    )


def _structural_value(blocks: list[Any], value: float, scale: str) -> float:
    """The structural distance: ``value`` itself, or ``value`` times the median weight distance."""
    if scale == "absolute":
        return value
    finite = [b[np.isfinite(b)] for b in blocks if b is not None]
    d = np.concatenate(finite) if finite else np.zeros(0)
    if d.size == 0:
        raise ConfigError(
            "structural_scale='median' needs weighted edges in the sample, found none "
            "(every weight is <= eps); use structural_scale='absolute'"
        )
    return value * float(np.median(d))


def nin_level_sizes(adapter: Any) -> list[int]:
    """Level sizes of the full NIN of a model (every neuron of every node layer)."""
    sizes = adapter.layer_sizes()
    return [sizes[k] for _ in range(adapter.n_blocks) for k in LAYER_KINDS] + [sizes["x"]]


def iter_nin_blocks(ckpt: Any, adapter: Any, *, eps: float = 0.0, structural_distance: float = 1.0) -> Iterator[LevelBlock]:
    """The float64 blocks of a checkpoint's full NIN, read one at a time from the checkpoint.

    The same distances as :func:`mfa_engine.nin.build_nin` with ``neurons_per_layer="all"``
    and ``structural_scale="absolute"`` (a median-scaled structural distance needs every
    weight first: compute it beforehand, e.g. from a sampled network, and pass it here).
    Delegates to :class:`NinBlocks`.

    Args:
        ckpt: Open checkpoint. adapter: Its architecture adapter.
        eps: Weights with ``|w| <= eps`` have no edge.
        structural_distance: Distance of the structural edges.
    """
    return NinBlocks(ckpt, adapter, eps=eps, structural_distance=structural_distance).iter(np.float64)


class NinBlocks:
    """Random-access distance blocks of a checkpoint's full NIN (every neuron of every layer).

    ``block(level, dtype)`` reads the weights of one level block from the checkpoint and writes
    its distances ``1/|w|`` (computed in float64; float32 blocks hold their float32 rounding,
    the values the in-memory float32 path uses) in one compiled pass
    (:func:`mfa_engine.kernels.nin_distances.distances_into`): no float64 temporary on the
    float32 path. The structural QKV -> context blocks are ``structural_distance`` on the
    adapter's mask. The distances equal :func:`build_nin`'s with ``neurons_per_layer="all"``
    and ``structural_scale="absolute"``.

    Attributes:
        sizes: Level sizes ``[n_0, ..., n_L]`` (:func:`nin_level_sizes`).
        n_levels: Node levels ``L + 1``; blocks are ``0 .. L - 1``.
    """

    def __init__(self, ckpt: Any, adapter: Any, *, eps: float = 0.0, structural_distance: float = 1.0) -> None:
        check_option("eps", eps)
        check_option("structural_distance", structural_distance)
        self.ckpt, self.adapter = ckpt, adapter
        self.eps, self.structural_distance = float(eps), float(structural_distance)
        self.sizes = nin_level_sizes(adapter)
        self.n_levels = len(self.sizes)
        self._mask: np.ndarray | None = None
        self._stage = np.empty(0, np.uint8)
        self._mask_t: np.ndarray | None = None

    def _kind(self, level: int) -> tuple[int, str]:
        if not (isinstance(level, (int, np.integer)) and 0 <= level < self.n_levels - 1):
            raise ConfigError(f"NIN block level {level!r} out of range; expected 0 <= level < {self.n_levels - 1}")
        b, i = divmod(int(level), len(LAYER_KINDS))
        return b, EDGE_KINDS[i]

    def structural(self, level: int) -> bool:
        """Whether block ``level`` is a structural QKV -> context block."""
        return self._kind(level)[1] == "qkv_ctx"

    def block(self, level: int, dtype: Any = np.float64, cols: Any = None) -> np.ndarray:
        """Distances of block ``level``: float32 or float64 [n_l, n_{l+1}], C-contiguous
        (with ``cols``, a structural block's columns are F-contiguous: each column contiguous).

        Args:
            level: Block level l (joins node levels l and l + 1).
            dtype: float32 or float64.
            cols: Only these target columns (int [m], any order): [n_l, m]. The stored tensor
                is still read whole, but only m columns are computed.
        """
        from mfa_engine.kernels.nin_distances import distances_into

        dt = np.dtype(dtype)
        if dt not in (np.float32, np.float64):
            raise ConfigError(f"NIN block dtype must be float32 or float64, got {dt}")
        b, edge = self._kind(level)
        na, nb = self.sizes[level], self.sizes[level + 1]
        sel = None if cols is None else np.asarray(cols)
        if sel is not None and (sel.ndim != 1 or not np.issubdtype(sel.dtype, np.integer) or (sel.size and (sel.min() < 0 or sel.max() >= nb))):
            raise ConfigError(f"NIN block columns must be a 1-D integer array in [0, {nb}), got {sel!r}")
        if edge == "qkv_ctx":
            if self._mask is None:
                ad = self.adapter
                self._mask = np.asarray(ad.structural_mask(np.arange(na), np.arange(nb)), dtype=bool)
            if sel is None:
                return np.where(self._mask, dt.type(self.structural_distance), dt.type(np.inf))
            if self._mask_t is None:
                self._mask_t = np.ascontiguousarray(self._mask.T)
            # columns as rows of the transposed mask; returned as the transpose of [m, n_l] (F-ordered:
            # a consumer that wants the columns contiguous, like the streamed resolution, gets them free)
            return np.where(self._mask_t[sel], dt.type(self.structural_distance), dt.type(np.inf)).T
        out = np.empty((na, nb if sel is None else sel.size), dt)
        for name, w, kind, src, dst, transposed in self._stored(b, edge, nb, sel):
            bad = distances_into(w, kind, src, dst, out, self.eps, transposed)
            if bad:
                raise CheckpointError(f"tensor {name!r} has {bad} NaN/inf values; expected finite weights")
        return out

    def panels(self, level: int, cols: int, out: np.ndarray | None = None, dtype: Any = np.float32) -> np.ndarray | None:
        """Distances of block ``level`` laid out as the min-plus micro-kernel's column panels.

        The layout of :func:`mfa_engine.kernels.cpu_minplus.panels_into` applied to
        ``block(level, dtype)`` (the same values), written straight from the stored weights
        (:func:`mfa_engine.kernels.nin_panels.panels_from_stored`): no row-major block.

        Args:
            level: Block level l.
            cols: Panel width (:func:`mfa_engine.kernels.minplus_tile.tile_cols`), a multiple of 8.
            out: Optional buffer of ``dtype`` with at least ``n_l * n_{l+1}`` values, reused
                (its first ``n_l * n_{l+1}`` values are written and returned).
            dtype: float32 or float64.

        Returns:
            ``dtype`` [n_l * n_{l+1}], or None for a structural block (sparse: use ``block``).
        """
        from mfa_engine.kernels.nin_panels import panels_from_stored

        dt = np.dtype(dtype)
        if dt not in (np.float32, np.float64):
            raise ConfigError(f"NIN panel dtype must be float32 or float64, got {dt}")
        b, edge = self._kind(level)
        if edge == "qkv_ctx":
            return None
        na, nb = self.sizes[level], self.sizes[level + 1]
        if out is None:
            out = np.empty(na * nb, dt)
        elif out.dtype != dt or out.ndim != 1 or out.size < na * nb or not out.flags.c_contiguous:
            raise ConfigError(f"NIN panel buffer must be contiguous 1-D {dt} of >= {na * nb} values, got {out.dtype} {out.shape}")
        out = out[: na * nb]
        for name, w, kind, src, dst, transposed in self._stored(b, edge, nb, None):
            srow = np.full(nb, -1, np.int64)
            srow[dst] = src
            bad = panels_from_stored(w, kind, srow, out, na, self.eps, transposed, cols)
            if bad:
                raise CheckpointError(f"tensor {name!r} has {bad} NaN/inf values; expected finite weights")
        return out

    def _stored(self, b: int, edge: str, nb: int, sel: np.ndarray | None) -> Iterator[tuple[str, np.ndarray, str, np.ndarray, np.ndarray, bool]]:
        """(name, stored weight, its dtype, stored output index, output column, transposed) per
        tensor; with ``sel`` the output columns are positions in ``sel``."""
        from mfa_engine.kernels.nin_distances import STORED_MODES

        ad, ckpt = self.adapter, self.ckpt
        specs = ad.weight_specs()
        role = {"ctx_attn_out": "o", "mlp_x": "out", "attn_out_mlp": "in"}.get(edge)
        everything = np.arange(nb, dtype=np.int64)
        if edge == "x_qkv":
            parts = ad.qkv_storage(everything)
        elif role in specs:
            parts = [(role, everything, everything)]
        else:  # e.g. a gated MLP: the adapter combines its tensors
            na = self.sizes[self._level_of(b, edge)]
            idx = everything if sel is None else sel.astype(np.int64)
            w = ad.edge_weights(ckpt, b, edge, np.arange(na), idx)
            yield edge, w, "float32", np.arange(idx.size, dtype=np.int64), np.arange(idx.size, dtype=np.int64), False
            return
        prefix = ad.block_prefix(ckpt)
        # only a reader's own read_stored: a wrapper that forwards unknown attributes (a null
        # model, a prefetch proxy) must answer through its own ``read``, never the raw tensor
        own = getattr(type(ckpt), "read_stored", None)
        read_stored = own.__get__(ckpt) if own is not None else None
        for r, stored, pos in parts:
            if sel is not None:  # the stored row of each selected column this tensor holds
                src_of = np.full(nb, -1, np.int64)
                src_of[pos] = stored
                got = src_of[sel]
                keep = got >= 0
                stored, pos = got[keep], np.flatnonzero(keep)
            if len(stored):
                spec = specs[r]
                name = f"{prefix}{b}.{spec.name}"
                transposed = spec.layout != "in_out"
                w, kind = None, ""
                shape = tuple(ckpt.shape(name)) if read_stored is not None else ()
                if read_stored is not None and sel is not None and transposed and 4 * len(stored) < shape[0]:
                    # a few columns: read only their stored rows ([out, in] layout)
                    uniq, inv = np.unique(stored, return_inverse=True)
                    w, kind = read_stored(name, rows=uniq)
                    stored = inv.astype(np.int64)
                elif read_stored is not None:  # the whole tensor, into a buffer reused from block to block
                    w, kind = read_stored(name, buf=self._staging(8 * int(np.prod(shape))))
                if kind not in STORED_MODES:  # float64 storage or another reader: float32 values
                    shape = tuple(ckpt.shape(name))  # the read contract every wrapper answers
                    w, kind = ckpt.read_block(name, np.arange(shape[0]), np.arange(shape[1])), "float32"
                yield name, w, kind, stored, pos, transposed

    def _staging(self, nbytes: int) -> np.ndarray:
        """A uint8 buffer of at least ``nbytes`` for whole stored tensors, kept from read to
        read (only the pages a tensor fills are ever touched)."""
        if self._stage.size < nbytes:
            self._stage = np.empty(nbytes, np.uint8)
        return self._stage

    def distance_counts(self, level: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The multiset of block ``level``'s finite distances as (distinct values float64 [k],
        counts int64 [k]), from a histogram of the stored 16-bit weights (at most 32,768
        magnitudes: one cheap pass, no block built); None when the block is structural or a
        tensor is not stored as float16/bfloat16 (build the block instead). Equal to
        ``np.unique(block(level, np.float64)[finite], return_counts=True)``.

        Raises:
            CheckpointError: A NaN or infinite weight (as :meth:`block`).
        """
        from mfa_engine.kernels.nin_distances import magnitude_counts

        b, edge = self._kind(level)
        if edge == "qkv_ctx":
            return None
        nb = self.sizes[level + 1]
        total = np.zeros(1 << 15, np.int64)
        mag = None
        parts = []
        for name, w, kind, stored, _pos, transposed in self._stored(b, edge, nb, None):
            if kind not in ("float16", "bfloat16"):
                return None
            m, c = magnitude_counts(w, kind, stored, transposed)
            if mag is not None and not np.array_equal(mag, m, equal_nan=True):
                return None  # float16 and bfloat16 tensors in one block: build it instead
            mag = m
            parts.append(name)
            total += c
        if mag is None:
            return None
        bad = int(total[~np.isfinite(mag)].sum())
        if bad:
            raise CheckpointError(f"tensor {parts[0]!r} has {bad} NaN/inf values; expected finite weights")
        keep = (total > 0) & np.isfinite(mag) & (mag > self.eps)
        with np.errstate(divide="ignore"):
            d = 1.0 / mag[keep]
        order = np.argsort(d, kind="stable")
        return d[order], total[keep][order]

    def read_level(self, level: int) -> None:
        """Make the checkpoint reads of ``block(level)`` without computing distances (a
        planning pass against a recorder: :func:`mfa_engine.modes.paper_stream.record_reads`)."""
        b, edge = self._kind(level)
        if edge != "qkv_ctx":
            for _ in self._stored(b, edge, self.sizes[level + 1], None):
                pass

    @staticmethod
    def _level_of(b: int, edge: str) -> int:
        return b * len(LAYER_KINDS) + EDGE_KINDS.index(edge)

    def iter(self, dtype: Any = np.float64, lazy: bool = False) -> Iterator[Any]:
        """Every block in level order as :class:`~mfa_engine.layered.LevelBlock`, or with
        ``lazy`` as :class:`NinLevel` (nothing read until its weights or panels are asked for:
        :func:`mfa_engine.paths.stream.stream_counts` then takes the panels directly)."""
        for lv in range(self.n_levels - 1):
            if lazy:
                yield NinLevel(self, lv, np.dtype(dtype))
            else:
                yield LevelBlock(lv, self.block(lv, dtype), self.structural(lv))


class NinLevel:
    """One block of a :class:`NinBlocks` network, read on demand.

    Duck-types :class:`~mfa_engine.layered.LevelBlock` (``level``, ``weights``, ``structural``)
    and adds ``shape`` and :meth:`panels`, so a streamed pass can ask for the block directly in
    the micro-kernel's layout.
    """

    def __init__(self, blocks: NinBlocks, level: int, dtype: np.dtype) -> None:
        self.blocks, self.level, self.dtype = blocks, int(level), dtype
        self.structural = blocks.structural(level)
        self.shape = (blocks.sizes[level], blocks.sizes[level + 1])
        #: Blocks with equal keys hold equal values: every structural block of a network is
        #: ``structural_distance`` on the same mask (a streamed pass builds it once).
        self.content_key = ("structural", id(blocks), dtype.str) if self.structural else None

    @property
    def weights(self) -> np.ndarray:
        """The block, ``dtype`` [n_l, n_{l+1}] (read each time it is asked for)."""
        return self.blocks.block(self.level, self.dtype)

    def panels(self, cols: int, out: np.ndarray | None = None) -> np.ndarray | None:
        """:meth:`NinBlocks.panels` of this level (None for a structural block), in ``out``'s
        dtype if given, else in ``dtype``."""
        return self.blocks.panels(self.level, cols, out, self.dtype if out is None else out.dtype)
