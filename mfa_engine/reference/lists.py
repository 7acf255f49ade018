"""Reference mode, distance lists: per-node one-hop distances in the window ``1 < d <= T``.

How the published code builds its per-node lists, and how this module reads each weight block
once for all seeds, is described in docs/reference-mode.md ("Distance lists").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mfa_engine.errors import CheckpointError, ConfigError, plain
from mfa_engine.reference.sampling import ReferenceSample, config_of, dims

__all__ = [
    "REFERENCE_THRESHOLD",
    "NODE_KINDS",
    "DistanceLists",
    "reference_lists_from_raw",
    "reference_distance_lists",
    "distance_lists_many",
    "block_reads",
    "check_threshold",
    "record_reads",
]

#: Distance window upper bound T of the published code (``wnfd_llm(..., threshold=150)``).
REFERENCE_THRESHOLD: float = 150.0

#: Node-set names, indexed by :attr:`DistanceLists.kind`.
NODE_KINDS: tuple[str, ...] = ("x", "qkv", "ctx", "attn_out", "mlp")
_KIND_X, _KIND_QKV, _KIND_CTX, _KIND_ATTN_OUT, _KIND_MLP = range(5)
#: Offset of each node set inside a block's id range, in units of h (block stride 10h).
_KIND_OFFSET_H = (0, 1, 4, 5, 6)
_BLOCK_STRIDE_H = 10

_MATRICES = (
    "attention.query_key_value.weight",
    "attention.dense.weight",
    "mlp.dense_h_to_4h.weight",
    "mlp.dense_4h_to_h.weight",
)
_QKV_RE = re.compile(r"^(?P<prefix>.*?)layers\.(?P<block>\d+)\.attention\.query_key_value\.weight$")


@dataclass(frozen=True)
class DistanceLists:
    """Per-source-node one-hop distances kept by the window ``1 < d <= threshold`` (CSR-like).

    Node ``i``'s kept distances are ``values[offsets[i]:offsets[i + 1]]``, in the order of the
    published per-node lists (targets in draw order). Nodes are in ascending published id
    (:attr:`keys`), which is the order of the published pickled lists. Every source node of the
    published network is present, including nodes with few or no kept distances (the QKV
    nodes, whose structural distances 1.0 are never kept); :func:`reference_spectrum` applies
    the "more than 10" node filter.

    Attributes:
        values: float64 ``[nnz]``, kept distances ``1/|w|``.
        offsets: int64 ``[n_nodes + 1]``.
        n_edges: int64 ``[n_nodes]``, length of each node's full published list (edges with a
            nonzero weight, before the window).
        keys: int64 ``[n_nodes]``, published node ids (ascending); ``arange`` for raw input.
        block: int64 ``[n_nodes]``, transformer block (-1 for raw input).
        kind: int8 ``[n_nodes]``, index into :data:`NODE_KINDS` (-1 for raw input).
        neuron: int64 ``[n_nodes]``, neuron index inside its node set (-1 for raw input).
        threshold: The window's upper bound T.
        seed: Seed of the sample, if known.
    """

    values: np.ndarray
    offsets: np.ndarray
    n_edges: np.ndarray
    keys: np.ndarray
    block: np.ndarray
    kind: np.ndarray
    neuron: np.ndarray
    threshold: float
    seed: int | None = None

    @property
    def n_nodes(self) -> int:
        """Number of source nodes (all of them, kept or not)."""
        return int(self.offsets.shape[0] - 1)

    @property
    def n_kept(self) -> np.ndarray:
        """int64 ``[n_nodes]``: number of kept distances of each node."""
        return np.diff(self.offsets)

    def node(self, i: int) -> np.ndarray:
        """Kept distances of node ``i`` (a view), float64 ``[n_kept[i]]``."""
        return self.values[self.offsets[i] : self.offsets[i + 1]]


def check_threshold(threshold: float) -> float:
    t = float(threshold)
    if not (t > 1.0):
        raise ConfigError(
            f"reference threshold T must be a number > 1 (window 1 < d <= T), got {plain(threshold)}"
        )
    return t


def reference_lists_from_raw(
    raw_lists: Iterable[Sequence[float] | np.ndarray],
    threshold: float = REFERENCE_THRESHOLD,
    *,
    seed: int | None = None,
) -> DistanceLists:
    """Build :class:`DistanceLists` from per-node lists of raw distances.

    This accepts the content of the published ``.pkl`` network files (a list, per source node
    in ascending id order, of the distances ``1/|w|``) or any hand-made lists, and applies the
    window ``1 < d <= threshold``.

    Args:
        raw_lists: One sequence of distances per node (converted to float64).
        threshold: Upper bound T of the window (inclusive).
        seed: Optional seed recorded in the result (used in error messages).

    Returns:
        The :class:`DistanceLists`; ``keys`` is ``arange(n_nodes)`` and ``block``, ``kind``,
        ``neuron`` are -1.

    Raises:
        ConfigError: ``threshold`` is not a number > 1 or a list is not 1-D.
    """
    t = check_threshold(threshold)
    arrays = []
    for i, lst in enumerate(raw_lists):
        a = np.asarray(lst, dtype=np.float64)
        if a.ndim != 1:
            raise ConfigError(
                f"reference_lists_from_raw: list {i} must be 1-D, got shape {a.shape}"
            )
        arrays.append(a)
    n = len(arrays)
    n_edges = np.array([a.shape[0] for a in arrays], dtype=np.int64)
    flat = np.concatenate(arrays) if n else np.zeros(0, dtype=np.float64)
    keep = (flat > 1.0) & (flat <= t)
    node_of = np.repeat(np.arange(n, dtype=np.int64), n_edges)
    counts = np.bincount(node_of[keep], minlength=n).astype(np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    minus = np.full(n, -1, dtype=np.int64)
    return DistanceLists(
        values=flat[keep],
        offsets=offsets,
        n_edges=n_edges,
        keys=np.arange(n, dtype=np.int64),
        block=minus,
        kind=minus.astype(np.int8),
        neuron=minus.copy(),
        threshold=t,
        seed=seed,
    )


@dataclass(frozen=True)
class _Layout:
    """Parameter names and sizes of a GPT-NeoX checkpoint."""

    n_blocks: int
    hidden: int
    names: tuple[tuple[str, str, str, str], ...]  # per block: qkv, dense, h_to_4h, 4h_to_h


def _layout(ckpt: Any) -> _Layout:
    config = config_of(ckpt)
    if config is None:
        raise CheckpointError(
            "reference mode: the checkpoint object has no .config dict (expected the "
            "open_checkpoint() contract)"
        )
    n_blocks, hidden = dims(config)
    keys = list(ckpt.keys())
    prefixes = set()
    for key in keys:
        m = _QKV_RE.match(key)
        if m:
            prefixes.add(m.group("prefix"))
    if not prefixes:
        raise CheckpointError(
            "reference mode: no '...layers.{b}.attention.query_key_value.weight' tensor in the "
            "checkpoint (expected GPT-NeoX parameter names)"
        )
    if len(prefixes) > 1:
        raise CheckpointError(
            f"reference mode: ambiguous GPT-NeoX parameter prefixes {sorted(prefixes)} in the "
            "checkpoint"
        )
    prefix = prefixes.pop()
    key_set = set(keys)
    expected = ((3 * hidden, hidden), (hidden, hidden), (4 * hidden, hidden), (hidden, 4 * hidden))
    names = []
    for b in range(n_blocks):
        block_names = tuple(f"{prefix}layers.{b}.{m}" for m in _MATRICES)
        for name, shape in zip(block_names, expected):
            if name not in key_set:
                raise CheckpointError(
                    f"reference mode: tensor {name!r} is missing (config has "
                    f"num_hidden_layers={n_blocks})"
                )
            got = tuple(int(s) for s in ckpt.shape(name))
            if got != shape:
                raise CheckpointError(
                    f"reference mode: tensor {name!r} has shape {list(got)}, expected "
                    f"{list(shape)} for hidden_size={hidden}"
                )
        names.append(block_names)
    return _Layout(n_blocks=n_blocks, hidden=hidden, names=tuple(names))


@dataclass
class _Chunks:
    """Accumulates the node chunks of one seed, in ascending id order."""

    values: list[np.ndarray] = field(default_factory=list)
    counts: list[np.ndarray] = field(default_factory=list)
    n_edges: list[np.ndarray] = field(default_factory=list)
    keys: list[np.ndarray] = field(default_factory=list)
    block: list[np.ndarray] = field(default_factory=list)
    kind: list[np.ndarray] = field(default_factory=list)
    neuron: list[np.ndarray] = field(default_factory=list)

    def add_meta(self, block: int, kind: int, neurons: np.ndarray, hidden: int) -> None:
        n = neurons.shape[0]
        base = (_BLOCK_STRIDE_H * block + _KIND_OFFSET_H[kind]) * hidden
        self.keys.append(base + neurons)
        self.block.append(np.full(n, block, dtype=np.int64))
        self.kind.append(np.full(n, kind, dtype=np.int8))
        self.neuron.append(neurons)

    def add_weights(
        self, w_yx: np.ndarray, x: np.ndarray, block: int, kind: int, hidden: int, t: float
    ) -> None:
        """Add the source nodes ``x`` of a weight block ``w_yx`` ``[len(y), len(x)]``."""
        order = np.argsort(x, kind="stable")
        w = np.asarray(w_yx).T[order].astype(np.float64)  # [nx, ny]: sources by neuron
        nonzero = w != 0
        with np.errstate(divide="ignore", invalid="ignore"):
            d = 1.0 / np.abs(w)
        keep = nonzero & (d > 1.0) & (d <= t)
        self.values.append(d[keep])
        self.counts.append(keep.sum(axis=1, dtype=np.int64))
        self.n_edges.append(nonzero.sum(axis=1, dtype=np.int64))
        self.add_meta(block, kind, x[order].astype(np.int64), hidden)

    def add_structural(self, sample: ReferenceSample, block: int) -> None:
        """Add the QKV nodes: structural edges of weight 1 (distance 1.0, never kept)."""
        rows = np.sort(sample.qkv_rows(block))
        h = sample.hidden
        k = sample.qkv_base.shape[1]
        # A Q row i meets the identity block: one edge (to context i, which is sampled);
        # K and V rows meet the all-ones blocks: one edge to each of the k context neurons.
        self.n_edges.append(np.where(rows < h, 1, k).astype(np.int64))
        self.counts.append(np.zeros(rows.shape[0], dtype=np.int64))
        self.values.append(np.zeros(0, dtype=np.float64))
        self.add_meta(block, _KIND_QKV, rows, h)

    def build(self, t: float, seed: int) -> DistanceLists:
        counts = np.concatenate(self.counts)
        offsets = np.zeros(counts.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return DistanceLists(
            values=np.concatenate(self.values),
            offsets=offsets,
            n_edges=np.concatenate(self.n_edges),
            keys=np.concatenate(self.keys),
            block=np.concatenate(self.block),
            kind=np.concatenate(self.kind),
            neuron=np.concatenate(self.neuron),
            threshold=t,
            seed=seed,
        )


def _matrix_indices(sample: ReferenceSample, block: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(rows, cols) of the four weight matrices of ``block`` for one sample."""
    return [
        (sample.qkv_rows(block), sample.in1[block]),
        (sample.out_attn[block], sample.qkv_base[block]),
        (sample.mlp[block], sample.out_attn[block]),
        (sample.block_output(block), sample.mlp[block]),
    ]


_MATRIX_SOURCE_KIND = (_KIND_X, _KIND_CTX, _KIND_ATTN_OUT, _KIND_MLP)


def _checked_layout(ckpt: Any, samples: Sequence[ReferenceSample]) -> _Layout:
    layout = _layout(ckpt)
    for s in samples:
        if s.n_blocks != layout.n_blocks or s.hidden != layout.hidden:
            raise ConfigError(
                f"reference sample of seed {s.seed} was drawn for {s.n_blocks} blocks x hidden "
                f"{s.hidden}, but the checkpoint has {layout.n_blocks} x {layout.hidden}"
            )
    return layout


def block_reads(
    layout: _Layout, samples: Sequence[ReferenceSample]
) -> Iterator[tuple[int, int, str, np.ndarray, np.ndarray, list]]:
    """The weight reads of several samples: one per block and matrix, for all samples at once.

    Yields:
        ``(block, matrix, tensor name, rows_u, cols_u, per_sample)``: the union of the sampled
        rows and columns (sorted int64) and, per sample, the ``(rows, cols)`` of every matrix
        of the block (:func:`_matrix_indices`).
    """
    for b in range(layout.n_blocks):
        per_sample = [_matrix_indices(s, b) for s in samples]
        for m, name in enumerate(layout.names[b]):
            rows_u = np.unique(np.concatenate([p[m][0] for p in per_sample]))
            cols_u = np.unique(np.concatenate([p[m][1] for p in per_sample]))
            yield b, m, name, rows_u, cols_u, per_sample


def record_reads(ckpt: Any, samples: Sequence[ReferenceSample]) -> None:
    """Make exactly the ``read_block`` calls of :func:`distance_lists_many` (for a recorder)."""
    for _, _, name, rows_u, cols_u, _ in block_reads(_checked_layout(ckpt, samples), samples):
        ckpt.read_block(name, rows_u, cols_u)


def distance_lists_many(
    ckpt: Any,
    samples: Sequence[ReferenceSample],
    threshold: float,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[DistanceLists]:
    """Distance lists of several samples, reading each needed weight block once."""
    t = check_threshold(threshold)
    layout = _checked_layout(ckpt, samples)
    h = layout.hidden
    chunks = [_Chunks() for _ in samples]
    for b, m, name, rows_u, cols_u, per_sample in block_reads(layout, samples):
        w = np.asarray(ckpt.read_block(name, rows_u, cols_u))
        if w.shape != (rows_u.shape[0], cols_u.shape[0]):
            raise CheckpointError(
                f"reference mode: read_block({name!r}) returned shape {list(w.shape)}, "
                f"expected {[rows_u.shape[0], cols_u.shape[0]]}"
            )
        for s, p, ch in zip(samples, per_sample, chunks):
            rows, cols = p[m]
            sub = w[np.ix_(np.searchsorted(rows_u, rows), np.searchsorted(cols_u, cols))]
            ch.add_weights(sub, cols, b, _MATRIX_SOURCE_KIND[m], h, t)
            if m == 0:
                ch.add_structural(s, b)
        if progress is not None and m == len(layout.names[b]) - 1:
            progress("read blocks", b + 1, layout.n_blocks)
    return [ch.build(t, s.seed) for s, ch in zip(samples, chunks)]


def reference_distance_lists(
    weights_reader: Any, indices: ReferenceSample, threshold: float = REFERENCE_THRESHOLD
) -> DistanceLists:
    """Per-source-node kept one-hop distances of one sample, as the published code builds them.

    Reads only the sampled entries of each weight matrix (``read_block``) and computes the
    distances ``1/|w|`` in float64 from the float32 weights.

    Args:
        weights_reader: A checkpoint object of the ``open_checkpoint`` contract
            (``config``, ``keys()``, ``shape(name)``, ``read_block(name, rows, cols)``).
        indices: The sample, from :func:`reference_sample_indices`.
        threshold: Upper bound T of the window ``1 < d <= T``.

    Returns:
        The :class:`DistanceLists` of the sample.

    Raises:
        ArchitectureError: The checkpoint is not gpt_neox.
        CheckpointError: A tensor is missing or has the wrong shape.
        ConfigError: Bad threshold, or the sample does not fit the checkpoint's sizes.
    """
    return distance_lists_many(weights_reader, [indices], threshold)[0]
