"""Reference mode: what the published NeuroMFA code computes, reproduced exactly (DESIGN 2.6).

The published pipeline (repository ``joshuaxiao98/Neuron_MFA_LLM``) runs in three stages:

1. ``model2network.py`` / ``data_processing/network_extraction.py``: sample neurons with the
   global NumPy RNG, walk ``model.named_parameters()`` of a ``GPTNeoXForCausalLM`` and write an
   edge list ``[source id, target id, weight]`` for every sampled (input, output) pair with a
   nonzero weight.
2. ``data_preprocess.py`` / ``data_processing/data_preprocessing.py``: group the edges by
   source id and store, for each source node in ascending id order, the list of its distances
   ``1/|w|``.
3. ``NMFA_emergence_data.py`` / ``analysis/multifractal.py`` (``wnfd_llm`` and
   ``nspectrum`` / ``calculate_multifractal_spectrum``): the box-growing spectrum over those
   one-hop lists.

This module computes the same numbers with a vectorised implementation (NumPy over all nodes
and all q at once), reads every weight block once for all seeds, and never builds the edge
list. The semantics pinned down from the published code:

* **Sampling** (``net_sample_nums``): ``np.random.seed(s)``, then per block in order
  ``in1 = choice(arange(h), k)``, ``base = choice(arange(h), k)``, ``out_attn = choice(arange(h),
  k)``, ``mlp = choice(arange(4h), 2k)``, and after the last block ``next_in = choice(arange(h),
  k)``, all ``replace=False``. The QKV rows are ``concat(base, base + h, base + 2h)`` (a [Q;K;V]
  layout is assumed although GPT-NeoX interleaves per head); the context layer reuses ``base``.
  We use a private ``np.random.RandomState(s)``, which yields the same draws as the global
  state after ``np.random.seed(s)`` without touching it.
  ``k`` is ``layer_sample``: 32 in ``config.py`` of the refactored code (the default here) but
  **64** in the original ``model2network.py`` main loop (pass ``n_per_layer=64`` for that).
* **Node ids** (``make_edge``): per block ``b`` the source ids are ``10*h*b + offset + neuron``
  with offsets ``0`` (block input), ``h`` (QKV rows ``0..3h-1``), ``4h`` (context),
  ``5h`` (attention output) and ``6h`` (MLP hidden, ``0..4h-1``). The id ranges of different
  node sets never overlap, so out-edge lists of different node sets never merge, and the
  target ids of one matrix coincide with the source ids of the next node set (the block output
  of block b is block b+1's input). The lists are ordered by ascending id, i.e. block by block,
  node set by node set, neuron index ascending (not draw order); inside a list the distances
  follow the draw order of the targets.
* **Edges**: value ``W[y, x]`` (PyTorch ``[out, in]`` layout) for every sampled input ``x`` and
  output ``y`` with ``W[y, x] != 0``. QKV nodes only have the structural QKV -> context edges of
  weight 1 (one edge for a Q row, ``k`` edges for a K or V row); their distance 1.0 is outside
  the window, so they are listed but never kept.
* **Arithmetic**: ``np.array(edge_list)`` mixes int64 ids and float32 weights, so the stored
  weights are float64 upcasts of the float32 weights (``from_pretrained`` loads fp16 checkpoints
  as float32, an exact upcast); ``1/np.abs(w)`` is then float64. We do the same.
* **Window and node filter** (``wnfd_llm``): keep ``1 < d <= T``; keep the node if more than
  10 distances remain. ``np.round(d, 0)`` (half to even). Radii: sorted distinct rounded values
  over all kept nodes; ``N_i(r) = 1 + #{rounded d <= r}``; ``mu = N_i(r) / N_i(r_max)``;
  ``Z_q(r) = sum_i mu_i(r)**q`` (``np.power``; bit-identical here); ``tau(q)`` = slope of
  ``scipy.stats.linregress(ln(r / r_max), ln Z_q(r))`` over all radii. The q grid is
  ``[k / 100 for k in range(-300, 301, 10)]``.
* **Spectrum** (``nspectrum``): ``alpha_j = (tau_{j+1} - tau_j) / (q_{j+1} - q_j)``,
  ``f_j = q_j alpha_j - tau_j`` (j = 0..59), ``alpha0 = alpha[argmax f]`` (first maximum),
  ``width = max alpha - min alpha``; per checkpoint the means over samples.

Differences from the specification and from the published code (documented on purpose):

* T: DESIGN 2.6 and ``analysis/multifractal.py`` use T = 150 (our default), but the published
  ``NMFA_emergence_data.py`` script that produced the emergence numbers sets ``threshold = 200``;
  ``NMFA_for_LLM.py`` (spectrum figures) uses 150.
* Sample filters: ``NMFA_for_LLM.py`` drops samples with ``max(alpha) - alpha[0] > 0.01``
  (``filter_mode = 2``) before averaging spectra; the emergence scripts use ``filter_mode = 0``
  (no filter, our default). ``sample_filter`` offers modes 0-3 with the semantics of
  ``analysis/multifractal.py``. (``NMFA_emergence_data.py`` has a bookkeeping bug that mixes
  filtered counts with unfiltered values when filtering; mode 0 is unaffected.)
* Failures: the published code prints "Error: No node selected" and crashes later; a
  single kept node still gives a (degenerate) spectrum there. We raise ``AnalysisError`` when
  fewer than 2 nodes or fewer than 2 radii remain.
* alpha0 is decided by rounding noise (a quirk of the published code, reproduced): with
  per-centre normalisation ``Z_0(r)`` is the number of centres at every radius, so ``tau(0)``
  is the slope of a constant, i.e. 0 or rounding noise, ``f`` at q = 0 is ``-tau(0)`` and
  ``f`` at q = -0.1 equals ``-tau(0)`` up to one rounding; in every network we tried all other
  ``f`` are clearly negative. alpha0 is therefore alpha(-0.1 -> 0) or alpha(0 -> 0.1)
  depending on the last bits of ``tau(0)`` and ``tau(-0.1)`` (about 1% apart on the random
  test networks). We get the same bits as the published code in the same environment:
  ``Z_q`` gathers ``np.power`` values and sums them over the nodes in node order like the
  published ``np.sum(np.power(...), axis=0)`` (checked bit-identical), and ``tau`` comes from
  the same ``np.cov(x, y, bias=1)`` call as ``scipy.stats.linregress``. A different BLAS or
  CPU can flip that noise in the published code itself, so published alpha0 values carry
  this ambiguity.

Only ``gpt_neox`` checkpoints are supported, as in the published code.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mfa_engine.errors import AnalysisError, ArchitectureError, CheckpointError, ConfigError, plain

__all__ = [
    "REFERENCE_Q",
    "REFERENCE_THRESHOLD",
    "NODE_KINDS",
    "ReferenceSample",
    "DistanceLists",
    "reference_q_grid",
    "reference_sample_indices",
    "reference_distance_lists",
    "reference_lists_from_raw",
    "reference_counts",
    "reference_spectrum",
    "analyze_reference",
    "reference_emergence",
]

#: Distance window upper bound T of the published code (``wnfd_llm(..., threshold=150)``).
REFERENCE_THRESHOLD: float = 150.0

#: Minimum number of kept distances is ``> MIN_KEPT`` (published: ``len(grow) > 10``).
_MIN_KEPT = 10

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


def reference_q_grid() -> np.ndarray:
    """Return the published q grid ``[k / 100 for k in range(-300, 301, 10)]``.

    Returns:
        float64 array of shape ``[61]`` from -3.0 to 3.0 (each value the correctly rounded
        quotient ``k / 100``, exactly as the Python list of the published code).
    """
    return np.array([k / 100 for k in range(-300, 301, 10)], dtype=np.float64)


#: The published q grid (read-only).
REFERENCE_Q: np.ndarray = reference_q_grid()
REFERENCE_Q.setflags(write=False)


# --------------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceSample:
    """Sampled neuron indices of one seed, in draw order (``net_sample_nums`` of the paper code).

    Attributes:
        seed: The seed given to the RNG.
        n_blocks: Number of transformer blocks B.
        hidden: Hidden size h.
        in1: int64 ``[B, k]``, block inputs (``nums1``).
        qkv_base: int64 ``[B, k]``, base of the QKV rows and the context neurons (``nums3``).
        out_attn: int64 ``[B, k]``, attention-output neurons (``nums4``).
        mlp: int64 ``[B, k_mlp]``, MLP hidden neurons, drawn from ``4h`` (``nums5``).
        next_in: int64 ``[k]``, outputs of the last block (``nums6``).
    """

    seed: int
    n_blocks: int
    hidden: int
    in1: np.ndarray
    qkv_base: np.ndarray
    out_attn: np.ndarray
    mlp: np.ndarray
    next_in: np.ndarray

    def qkv_rows(self, block: int) -> np.ndarray:
        """Rows of the fused ``query_key_value`` weight used for ``block``.

        Returns:
            int64 ``[3k]``: ``concat(base, base + h, base + 2h)`` (the published [Q;K;V]
            assumption).
        """
        base = self.qkv_base[block]
        return np.concatenate((base, base + self.hidden, base + 2 * self.hidden))

    def block_output(self, block: int) -> np.ndarray:
        """Sampled outputs of ``block``'s MLP: block ``block + 1``'s ``in1``, or ``next_in``.

        Returns:
            int64 ``[k]``.
        """
        return self.in1[block + 1] if block + 1 < self.n_blocks else self.next_in


def _config_of(obj: Any) -> Mapping[str, Any] | None:
    if isinstance(obj, Mapping):
        return obj
    cfg = getattr(obj, "config", None)
    if isinstance(cfg, Mapping):
        return cfg
    if cfg is not None and hasattr(cfg, "to_dict"):
        return cfg.to_dict()
    return None


def _check_model_type(config: Mapping[str, Any]) -> None:
    model_type = config.get("model_type")
    if model_type is not None and model_type != "gpt_neox":
        raise ArchitectureError(
            "reference mode reproduces the published NeuroMFA code, which only supports "
            f"gpt_neox; this model has model_type={model_type!r}"
        )


def _dims(config_or_dims: Any) -> tuple[int, int]:
    """Return ``(n_blocks, hidden)`` from a config dict, an object with ``.config`` or a pair."""
    config = _config_of(config_or_dims)
    if config is not None:
        _check_model_type(config)
        try:
            n_blocks = int(config["num_hidden_layers"])
            hidden = int(config["hidden_size"])
        except KeyError as exc:
            raise ArchitectureError(
                f"reference mode: the config lacks {exc.args[0]!r} (needs num_hidden_layers "
                "and hidden_size)"
            ) from None
        ffn = config.get("intermediate_size")
        if ffn is not None and int(ffn) != 4 * hidden:
            raise ArchitectureError(
                "reference mode reproduces the published NeuroMFA code, which samples the MLP "
                f"from 4*hidden_size = {4 * hidden} neurons; this config has "
                f"intermediate_size={int(ffn)}"
            )
    else:
        try:
            n_blocks, hidden = (int(v) for v in config_or_dims)
        except (TypeError, ValueError):
            raise ConfigError(
                "reference_sample_indices: expected a config dict, an object with .config, or "
                f"(n_blocks, hidden); got {type(config_or_dims).__name__}"
            ) from None
    if n_blocks < 1 or hidden < 1:
        raise ConfigError(
            f"reference mode needs n_blocks >= 1 and hidden >= 1, got {n_blocks} and {hidden}"
        )
    return n_blocks, hidden


def _check_counts(n_per_layer: int, n_mlp: int | None) -> tuple[int, int]:
    k = int(n_per_layer)
    k_mlp = 2 * k if n_mlp is None else int(n_mlp)
    if k < 1 or k_mlp < 1:
        raise ConfigError(
            f"reference sampling needs positive neuron counts, got n_per_layer={k}, n_mlp={k_mlp}"
        )
    return k, k_mlp


def reference_sample_indices(
    config_or_dims: Any, seed: int, *, n_per_layer: int = 32, n_mlp: int | None = None
) -> ReferenceSample:
    """Draw the sampled neuron indices of one seed with the published RNG sequence.

    Equivalent to ``np.random.seed(seed)`` followed by, for each block in order,
    ``choice(arange(h), k)``, ``choice(arange(h), k)``, ``choice(arange(h), k)``,
    ``choice(arange(4h), k_mlp)`` (all without replacement) and, after the last block,
    ``choice(arange(h), k)``. The global NumPy RNG is not touched.

    Args:
        config_or_dims: A model config dict (``model_type`` must be ``gpt_neox`` if given), an
            object with a ``.config`` dict (a checkpoint), or a pair ``(n_blocks, hidden)``.
        seed: Seed of the sample (the published runs use 0..9).
        n_per_layer: Neurons per node layer, k (published: 32 in ``config.py``, 64 in
            ``model2network.py``).
        n_mlp: Neurons of the MLP hidden layer; default ``2 * n_per_layer``.

    Returns:
        The :class:`ReferenceSample`.

    Raises:
        ArchitectureError: The config is not gpt_neox or lacks the sizes.
        ConfigError: A layer is too small to draw its count without replacement (the message
            names the block, the layer and the sizes), or a count is not positive.
    """
    n_blocks, hidden = _dims(config_or_dims)
    k, k_mlp = _check_counts(n_per_layer, n_mlp)
    layers = (("in1/qkv_base/out_attn/next_in", hidden, k), ("mlp", 4 * hidden, k_mlp))
    for name, size, count in layers:
        if count > size:
            raise ConfigError(
                f"reference sampling needs {count} neurons without replacement from layer "
                f"{name!r} of every block, which has only {size} (hidden_size={hidden}); lower "
                "n_per_layer/n_mlp"
            )
    rng = np.random.RandomState(int(seed))
    h_range = np.arange(hidden)
    m_range = np.arange(4 * hidden)
    in1, base, out_attn, mlp = [], [], [], []
    for _ in range(n_blocks):
        in1.append(rng.choice(h_range, k, replace=False))
        base.append(rng.choice(h_range, k, replace=False))
        out_attn.append(rng.choice(h_range, k, replace=False))
        mlp.append(rng.choice(m_range, k_mlp, replace=False))
    next_in = rng.choice(h_range, k, replace=False)

    def stack(arrs: list[np.ndarray]) -> np.ndarray:
        out = np.stack(arrs).astype(np.int64)
        out.setflags(write=False)
        return out

    next_in = next_in.astype(np.int64)
    next_in.setflags(write=False)
    return ReferenceSample(
        seed=int(seed),
        n_blocks=n_blocks,
        hidden=hidden,
        in1=stack(in1),
        qkv_base=stack(base),
        out_attn=stack(out_attn),
        mlp=stack(mlp),
        next_in=next_in,
    )


# --------------------------------------------------------------------------------------------
# Distance lists
# --------------------------------------------------------------------------------------------


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


def _check_threshold(threshold: float) -> float:
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
    t = _check_threshold(threshold)
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
    config = _config_of(ckpt)
    if config is None:
        raise CheckpointError(
            "reference mode: the checkpoint object has no .config dict (expected the "
            "open_checkpoint() contract)"
        )
    n_blocks, hidden = _dims(config)
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


def _distance_lists_many(
    ckpt: Any,
    samples: Sequence[ReferenceSample],
    threshold: float,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[DistanceLists]:
    """Distance lists of several samples, reading each needed weight block once."""
    t = _check_threshold(threshold)
    layout = _layout(ckpt)
    for s in samples:
        if s.n_blocks != layout.n_blocks or s.hidden != layout.hidden:
            raise ConfigError(
                f"reference sample of seed {s.seed} was drawn for {s.n_blocks} blocks x hidden "
                f"{s.hidden}, but the checkpoint has {layout.n_blocks} x {layout.hidden}"
            )
    h = layout.hidden
    chunks = [_Chunks() for _ in samples]
    for b in range(layout.n_blocks):
        per_sample = [_matrix_indices(s, b) for s in samples]
        for m, name in enumerate(layout.names[b]):
            rows_u = np.unique(np.concatenate([p[m][0] for p in per_sample]))
            cols_u = np.unique(np.concatenate([p[m][1] for p in per_sample]))
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
        if progress is not None:
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
    return _distance_lists_many(weights_reader, [indices], threshold)[0]


# --------------------------------------------------------------------------------------------
# Spectrum
# --------------------------------------------------------------------------------------------


def _check_q(q: Any) -> np.ndarray:
    if q is None:
        return REFERENCE_Q.copy()
    arr = np.asarray(q, dtype=np.float64)
    if arr.ndim != 1 or arr.shape[0] < 2:
        raise ConfigError(f"q grid must be 1-D with at least 2 values, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError("q grid must be finite")
    if not np.all(np.diff(arr) > 0):
        raise ConfigError("q grid must be strictly increasing")
    return arr


def _linregress_slopes(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slopes and R^2 of ``y[j] ~ a + b x``, bit-identical to ``scipy.stats.linregress``.

    ``linregress`` takes the slope from ``np.cov(x, y, bias=1)`` (row means, centring, a BLAS
    ``dot``, scaling by ``1/n``). The same arithmetic is done here for every row: the last bits of
    ``tau(0)`` (the slope of a constant ``ln Z_0``, pure rounding noise) decide the sign of
    ``f`` at ``q = 0`` and hence which of the two neighbouring alphas the published code
    reports as alpha0, so this fit must follow the published arithmetic exactly. It is a loop
    over the ``Q`` rows of tiny ``[2, R]`` problems (microseconds each), not over nodes.

    Args:
        x: float64 ``[R]``.
        y: float64 ``[Q, R]``.

    Returns:
        ``(slope [Q], r2 [Q])``; ``r2`` is the squared correlation, 1.0 where ``y`` is constant.
    """
    n_q, n_r = y.shape
    # np.cov(x, y[j], bias=1) step by step, without its per-call overhead: the row means
    # (pairwise sums of contiguous rows, identical for a [Q, R] and a [2, R] array), the
    # centring, one BLAS dot of the [2, R] centred pair with its conjugated transpose (a copy,
    # so the same gemm call as np.cov's), and the scaling by 1/R.
    x_mean = np.stack([x, x]).mean(axis=1)[0]
    y_mean = y.mean(axis=1)
    scale = np.true_divide(1, n_r)
    pair = np.empty((2, n_r), dtype=np.float64)
    pair[0] = x
    pair[0] -= x_mean
    slope = np.empty(n_q, dtype=np.float64)
    r2 = np.empty(n_q, dtype=np.float64)
    for j in range(n_q):
        pair[1] = y[j]
        pair[1] -= y_mean[j]
        c = np.dot(pair, pair.T.conj())
        c *= scale
        ssxm, ssxym, _, ssym = c.flat
        slope[j] = ssxym / ssxm
        if ssym == 0.0 or np.all(y[j] == y[j, 0]):
            r2[j] = 1.0
        else:
            r2[j] = min((ssxym / np.sqrt(ssxm * ssym)) ** 2, 1.0)
    return slope, r2


def reference_counts(distance_lists: DistanceLists) -> tuple[np.ndarray, np.ndarray]:
    """Radii and box counts ``N_i(r)`` of the centres, as ``wnfd_llm`` builds them.

    Centres are the nodes with more than 10 kept distances (in node order); each kept distance
    is rounded with ``np.round`` (half to even); the radii are the sorted distinct rounded values
    over all centres, and ``N_i(r) = 1 + #{rounded d of i <= r}``.

    Args:
        distance_lists: Kept distances per node.

    Returns:
        ``(radii [R], counts [C, R])``, both float64 (counts are exact integers).

    Raises:
        AnalysisError: Fewer than 2 centres or fewer than 2 distinct radii (names the seed and
            the counts).
    """
    dl = distance_lists
    counts = dl.n_kept
    centre = counts > _MIN_KEPT
    n_centres = int(centre.sum())
    seed_txt = f"seed {dl.seed}" if dl.seed is not None else "sample"
    if n_centres < 2:
        raise AnalysisError(
            f"reference spectrum ({seed_txt}): only {n_centres} of {dl.n_nodes} nodes have more "
            f"than {_MIN_KEPT} distances in (1, {dl.threshold:g}] (need at least 2 centres)"
        )
    node_of = np.repeat(np.arange(dl.n_nodes, dtype=np.int64), counts)
    sel = centre[node_of]
    rounded = np.round(dl.values[sel])
    centre_of = np.cumsum(centre)[node_of[sel]] - 1  # 0..n_centres-1
    radii = np.unique(rounded)
    n_r = radii.shape[0]
    if n_r < 2:
        raise AnalysisError(
            f"reference spectrum ({seed_txt}): all kept distances of the {n_centres} centres "
            f"round to the single radius {radii[0]:g}; a power-law fit needs at least 2 radii"
        )
    ridx = np.searchsorted(radii, rounded)
    hist = np.bincount(centre_of * n_r + ridx, minlength=n_centres * n_r).reshape(n_centres, n_r)
    n_within = 1.0 + np.cumsum(hist, axis=1).astype(np.float64)
    return radii, n_within


def reference_spectrum(
    distance_lists: DistanceLists, q: Sequence[float] | np.ndarray | None = None
) -> dict[str, Any]:
    """Multifractal spectrum of one sample with the published ``wnfd_llm`` + ``nspectrum``.

    Nodes with more than 10 kept distances are the centres; each kept distance is rounded half
    to even; the radii are the sorted distinct rounded values; ``N_i(r) = 1 + #{round(d) <= r}``,
    ``mu_i(r) = N_i(r) / N_i(r_max)``, ``Z_q(r) = sum_i mu_i(r)^q``, ``tau(q)`` the OLS slope
    (free intercept) of ``ln Z_q`` against ``ln(r / r_max)`` over all radii; then the forward
    differences ``alpha_j = (tau_{j+1} - tau_j) / (q_{j+1} - q_j)``, ``f_j = q_j alpha_j - tau_j``.

    Args:
        distance_lists: Kept distances per node (:func:`reference_distance_lists` or
            :func:`reference_lists_from_raw`).
        q: Strictly increasing q grid ``[Q]``; default the published 61 values -3.0..3.0.

    Returns:
        A dict with ``q`` [Q], ``tau`` [Q], ``r2`` [Q] (R^2 of each fit, 1.0 for constant
        ``ln Z``), ``alpha`` [Q-1], ``f_alpha`` [Q-1], ``alpha0`` (alpha at the first maximum of
        f), ``width`` (max alpha - min alpha), ``n_centres``, ``n_nodes``, ``radii`` [R] (float64),
        ``threshold`` and ``seed``. Arrays are float64 NumPy arrays.

    Raises:
        ConfigError: Invalid q grid.
        AnalysisError: Fewer than 2 centres or fewer than 2 distinct radii (names the seed and
            the counts).
    """
    qv = _check_q(q)
    dl = distance_lists
    radii, n_within = reference_counts(dl)
    n_r = radii.shape[0]
    x = np.log(radii / radii[-1])
    # mu_i(r) = N_i(r) / N_i(r_max) takes few distinct values (pairs of small integers): raise
    # each distinct value to every q once, gather, and sum over the centres in node order.
    # The gathered [q, C, R] values and the summation order are those of the published
    # np.sum(np.power(N / N[:, -1, None], q), axis=0), so Z_q is bit-identical to it.
    n_int = n_within.astype(np.int64)
    base = int(n_int[:, -1].max()) + 1
    pair = n_int * base + n_int[:, -1, None]
    if base * base <= 64 * pair.size + 1_000_000:  # distinct pairs by a presence table, no sort
        present = np.zeros(base * base, dtype=np.int64)
        present[pair.ravel()] = 1
        upair = np.flatnonzero(present)
        rank = np.cumsum(present) - 1
        inv = rank[pair]
    else:
        upair, inv = np.unique(pair, return_inverse=True)
        inv = inv.reshape(pair.shape)
    mu_u = (upair // base).astype(np.float64) / (upair % base).astype(np.float64)

    # Same summation order (bit-identical) without the [Q, C, R] temporary.
    from mfa_engine.reference_zsum import gather_sum

    z = gather_sum(np.power(mu_u[None, :], qv[:, None]), inv)
    tau, r2 = _linregress_slopes(x, np.log(z))

    alpha = np.diff(tau) / np.diff(qv)
    f_alpha = qv[:-1] * alpha - tau[:-1]
    alpha0 = float(alpha[int(np.argmax(f_alpha))])
    width = float(np.max(alpha) - np.min(alpha))
    return {
        "q": qv,
        "tau": tau,
        "r2": r2,
        "alpha": alpha,
        "f_alpha": f_alpha,
        "alpha0": alpha0,
        "width": width,
        "n_centres": int(n_within.shape[0]),
        "n_nodes": dl.n_nodes,
        "radii": radii,
        "threshold": dl.threshold,
        "seed": dl.seed,
    }


# --------------------------------------------------------------------------------------------
# Whole checkpoint
# --------------------------------------------------------------------------------------------


def _retained(spec: Mapping[str, Any], mode: int) -> bool:
    """Sample filters of the published ``filter_mode`` (``analysis/multifractal.py``)."""
    alpha, f = spec["alpha"], spec["f_alpha"]
    positive_f = bool(np.any(f > 0))
    not_monotone = bool(np.max(alpha) - alpha[0] > 0.01)
    if mode == 1:
        return not positive_f
    if mode == 2:
        return not not_monotone
    if mode == 3:
        return not (positive_f or not_monotone)
    return True


def analyze_reference(
    ckpt: Any,
    seeds: int | Sequence[int] = 10,
    threshold: float = REFERENCE_THRESHOLD,
    q: Sequence[float] | np.ndarray | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    *,
    n_per_layer: int = 32,
    n_mlp: int | None = None,
    sample_filter: int = 0,
) -> dict[str, Any]:
    """Reference-mode analysis of one GPT-NeoX checkpoint over several seeds.

    Every needed weight block is read once for all seeds (the union of the sampled rows and
    columns), then indexed per seed.

    Args:
        ckpt: Checkpoint object of the ``open_checkpoint`` contract (gpt_neox).
        seeds: Seeds of the samples, or an int n for seeds ``0..n-1`` (the published runs:
            10, i.e. 0..9).
        threshold: Upper bound T of the distance window (published: 150; 200 in
            ``NMFA_emergence_data.py``).
        q: q grid; default the published 61 values.
        progress: Optional callback ``progress(stage, done, total)``.
        n_per_layer: Sampled neurons per node layer k (published: 32, or 64 in
            ``model2network.py``).
        n_mlp: Sampled MLP hidden neurons; default ``2 * n_per_layer``.
        sample_filter: Published ``filter_mode``: 0 keep all samples (default); 1 drop samples
            with any f > 0; 2 drop samples with ``max(alpha) - alpha[0] > 0.01``; 3 both.
            Dropped samples stay in ``per_seed`` (``retained`` False) but not in the means.

    Returns:
        A dict with ``seeds`` (list), ``threshold``, ``q`` [Q], ``per_seed`` (list of
        :func:`reference_spectrum` dicts, each with ``retained``), ``alpha0`` [S], ``width``
        [S] (all seeds), ``n_retained``, and over the retained seeds ``alpha0_mean``,
        ``alpha0_std``, ``width_mean``, ``width_std`` (population std, ddof=0, as the
        published ``np.std``), ``tau_mean`` [Q], ``alpha_mean`` [Q-1], ``f_alpha_mean``
        [Q-1] (NaN when no seed is retained).

    Raises:
        ArchitectureError: Not a gpt_neox checkpoint.
        CheckpointError: Missing tensors or wrong shapes.
        ConfigError: Bad options, or a layer too small for the sample sizes.
        AnalysisError: A seed leaves fewer than 2 centres (names the seed and counts).
    """
    config = _config_of(ckpt)
    if config is None:
        raise CheckpointError("reference mode: the checkpoint object has no .config dict")
    _check_model_type(config)
    if isinstance(seeds, (int, np.integer)):
        seed_list = list(range(int(seeds)))
    else:
        seed_list = [int(s) for s in seeds]
    if not seed_list:
        raise ConfigError("analyze_reference: at least one seed is needed")
    bad = [s for s in seed_list if not 0 <= s < 2**32]
    if bad:
        raise ConfigError(f"analyze_reference: seeds must be in [0, 2**32), got {bad}")
    if sample_filter not in (0, 1, 2, 3):
        raise ConfigError(f"sample_filter must be 0, 1, 2 or 3, got {sample_filter!r}")
    qv = _check_q(q)
    samples = [
        reference_sample_indices(config, s, n_per_layer=n_per_layer, n_mlp=n_mlp)
        for s in seed_list
    ]
    lists = _distance_lists_many(ckpt, samples, threshold, progress)
    per_seed = []
    for i, dl in enumerate(lists):
        spec = reference_spectrum(dl, qv)
        spec["retained"] = _retained(spec, sample_filter)
        per_seed.append(spec)
        if progress is not None:
            progress("spectra", i + 1, len(lists))
    alpha0 = np.array([s["alpha0"] for s in per_seed])
    width = np.array([s["width"] for s in per_seed])
    keep = np.array([s["retained"] for s in per_seed])
    n_ret = int(keep.sum())

    def mean(a: np.ndarray) -> Any:
        if n_ret == 0:
            return float("nan") if a.ndim == 1 else np.full(a.shape[1:], np.nan)
        m = np.mean(a[keep], axis=0)
        return float(m) if a.ndim == 1 else m

    def std(a: np.ndarray) -> float:
        return float(np.std(a[keep])) if n_ret else float("nan")

    return {
        "seeds": seed_list,
        "threshold": float(threshold),
        "q": qv,
        "per_seed": per_seed,
        "alpha0": alpha0,
        "width": width,
        "n_retained": n_ret,
        "alpha0_mean": mean(alpha0),
        "alpha0_std": std(alpha0),
        "width_mean": mean(width),
        "width_std": std(width),
        "tau_mean": mean(np.stack([s["tau"] for s in per_seed])),
        "alpha_mean": mean(np.stack([s["alpha"] for s in per_seed])),
        "f_alpha_mean": mean(np.stack([s["f_alpha"] for s in per_seed])),
    }


def reference_emergence(
    alpha0_mean: Sequence[float] | np.ndarray, width_mean: Sequence[float] | np.ndarray
) -> np.ndarray:
    """Degree of emergence over a checkpoint series, as ``analysis/emergence.py`` (DESIGN 2.4).

    ``E(t) = (w(t) / w(t0)) * ln(alpha0(t0) / alpha0(t))`` with the per-checkpoint means over
    samples; the first entry is the reference checkpoint t0, so ``E[0] = 0``.

    Args:
        alpha0_mean: float ``[T]``, mean alpha0 per checkpoint, first = t0.
        width_mean: float ``[T]``, mean width per checkpoint.

    Returns:
        float64 ``[T]``.

    Raises:
        ConfigError: Shapes differ, are empty, or alpha0/width values make the ratio undefined
            (alpha0 must be positive, w(t0) nonzero).
    """
    a = np.asarray(alpha0_mean, dtype=np.float64)
    w = np.asarray(width_mean, dtype=np.float64)
    if a.ndim != 1 or a.shape != w.shape or a.shape[0] == 0:
        raise ConfigError(
            f"reference_emergence: alpha0 and width must be 1-D of equal non-zero length, got "
            f"{a.shape} and {w.shape}"
        )
    if not np.all(a > 0) or w[0] == 0 or not np.all(np.isfinite(w)):
        raise ConfigError(
            "reference_emergence: alpha0 means must be positive and finite, width means finite "
            "with a nonzero first value"
        )
    return np.array([w[i] / w[0] * math.log(a[0] / a[i]) for i in range(a.shape[0])])
