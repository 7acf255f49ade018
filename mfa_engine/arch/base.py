"""The architecture adapter base class: node layers, QKV layout, structural edges, edge reads.

Canonical node orders (shared by every adapter):
    x, attn_out: hidden units 0..h-1.
    qkv: all q neurons (query head-major, ``head * head_dim + dim``), then all k neurons
        (kv head-major), then all v neurons (kv head-major).
    ctx: query head-major, ``head * head_dim + dim`` (the order attention outputs are
        concatenated in before the output projection, in every supported architecture).
    mlp: hidden units 0..ffn-1.

Subclasses describe where each weight lives (:meth:`Adapter.weight_specs`) and how canonical
QKV neurons map to stored rows or columns (:meth:`Adapter.qkv_storage`).
"""

from __future__ import annotations

import abc
import weakref
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np

from mfa_engine.errors import ArchitectureError, CheckpointError, ConfigError

__all__ = ["Adapter", "WeightSpec", "EDGES", "LAYERS"]

EDGES = ("x_qkv", "ctx_attn_out", "attn_out_mlp", "mlp_x")
LAYERS = ("x", "qkv", "ctx", "attn_out", "mlp")
# edge -> (input layer, output layer); mlp_x lands in the next block's x (or the final x).
_EDGE_LAYERS = {
    "x_qkv": ("x", "qkv"),
    "ctx_attn_out": ("ctx", "attn_out"),
    "attn_out_mlp": ("attn_out", "mlp"),
    "mlp_x": ("mlp", "x"),
}

Layout = Literal["out_in", "in_out"]


class WeightSpec(NamedTuple):
    """One weight matrix of a block.

    Attributes:
        name: parameter name relative to the block prefix, e.g. ``"attention.dense.weight"``.
        layout: ``"out_in"`` (``nn.Linear``, stored [out, in]) or ``"in_out"`` (GPT-2
            ``Conv1D``, stored [in, out]).
        n_in: number of input neurons.
        n_out: number of output neurons.
    """

    name: str
    layout: Layout
    n_in: int
    n_out: int

    @property
    def shape(self) -> tuple[int, int]:
        """Stored shape implied by the config."""
        return (self.n_out, self.n_in) if self.layout == "out_in" else (self.n_in, self.n_out)


def config_int(config: Mapping[str, Any], model_type: str, *names: str, default: Any = None) -> int:
    """First present positive integer field among ``names`` of ``config``.

    Raises:
        ArchitectureError: none present (and no default) or the value is not a positive int.
    """
    for name in names:
        value = config.get(name)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ArchitectureError(
                    f"{model_type} config field {name!r} = {value!r}; expected a positive integer"
                )
            return value
    if default is not None:
        return int(default)
    raise ArchitectureError(
        f"{model_type} config lacks {' or '.join(repr(n) for n in names)}; expected a positive "
        "integer"
    )


class Adapter(abc.ABC):
    """Maps one architecture's parameters to NIN node layers and edges.

    Subclasses set :attr:`model_type`, :attr:`blocks_container` and :attr:`probe`, declare the
    config fields they read as data (:attr:`config_keys`, :attr:`ffn_default_factor`; read by
    :meth:`_read_config`) and implement :meth:`weight_specs` and :meth:`qkv_storage`.

    Attributes:
        n_blocks: number of transformer blocks.
        hidden: hidden size h.
        ffn: MLP hidden size.
        n_heads: number of query heads.
        n_kv_heads: number of key/value heads (== n_heads without grouped KV).
        head_dim: size of one head.
        config: the config dict.
    """

    model_type: ClassVar[str] = ""
    # Name of the block list (e.g. "layers", "h", "encoder.layer") and a parameter name relative
    # to a block used to detect the prefix in front of it.
    blocks_container: ClassVar[str] = ""
    probe: ClassVar[str] = ""
    #: Shape attribute -> the config fields that hold it, the first present one wins. An empty
    #: tuple: not in the config (``n_kv_heads`` = ``n_heads``; ``head_dim`` = hidden / heads);
    #: ``n_kv_heads`` and ``head_dim`` fall back to those when their fields are absent.
    config_keys: ClassVar[dict[str, tuple[str, ...]]] = {
        "n_blocks": ("num_hidden_layers",),
        "hidden": ("hidden_size",),
        "n_heads": ("num_attention_heads",),
        "n_kv_heads": (),
        "ffn": ("intermediate_size",),
        "head_dim": (),
    }
    #: MLP size when no ``ffn`` field is present, as a multiple of ``hidden`` (None: required).
    ffn_default_factor: ClassVar[int | None] = None

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = dict(config)
        self.n_blocks = 0
        self.hidden = 0
        self.ffn = 0
        self.n_heads = 0
        self.n_kv_heads = 0
        self.head_dim = 0
        self._read_config(self.config)
        if self.n_heads % self.n_kv_heads:
            raise ArchitectureError(
                f"{self.model_type} config: {self.n_heads} attention heads is not a multiple of "
                f"{self.n_kv_heads} key/value heads"
            )
        self._prefixes: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()

    # ------------------------------------------------------------------ to implement
    def _read_config(self, config: dict[str, Any]) -> None:
        """Set the shape attributes (n_blocks, hidden, ffn, heads, ...) from the config, as
        :attr:`config_keys` and :attr:`ffn_default_factor` declare them."""
        t, keys = self.model_type, self.config_keys
        self.n_blocks = config_int(config, t, *keys["n_blocks"])
        self.hidden = config_int(config, t, *keys["hidden"])
        self.n_heads = config_int(config, t, *keys["n_heads"])
        self.n_kv_heads = (config_int(config, t, *keys["n_kv_heads"], default=self.n_heads)
                           if keys["n_kv_heads"] else self.n_heads)
        factor = self.ffn_default_factor
        self.ffn = config_int(config, t, *keys["ffn"], default=None if factor is None else factor * self.hidden)
        if any(config.get(k) is not None for k in keys["head_dim"]):
            self.head_dim = config_int(config, t, *keys["head_dim"])
        else:
            self.head_dim = self._head_dim_divides()

    @abc.abstractmethod
    def weight_specs(self) -> dict[str, WeightSpec]:
        """Weights of one block keyed by role.

        Roles: ``"o"``, ``"out"`` and either ``"qkv"`` or ``"q"``, ``"k"``, ``"v"``, and
        either ``"in"`` or ``"gate"``, ``"up"``.
        """

    @abc.abstractmethod
    def qkv_storage(self, qkv_idx: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """Where canonical QKV neurons are stored.

        Args:
            qkv_idx: canonical QKV indices [k].

        Returns:
            List of ``(weight role, stored output indices [m], positions in qkv_idx [m])``.
        """

    def _head_dim_divides(self) -> int:
        if self.hidden % self.n_heads:
            raise ArchitectureError(
                f"{self.model_type} config: hidden size {self.hidden} is not divisible by "
                f"{self.n_heads} attention heads"
            )
        return self.hidden // self.n_heads

    # ------------------------------------------------------------------ sizes and layout
    @property
    def n_q(self) -> int:
        """Number of q neurons (n_heads * head_dim)."""
        return self.n_heads * self.head_dim

    @property
    def n_kv(self) -> int:
        """Number of k (and of v) neurons (n_kv_heads * head_dim)."""
        return self.n_kv_heads * self.head_dim

    def layer_sizes(self) -> dict[str, int]:
        """Sizes of the node layers of one block.

        Returns:
            ``{"x": h, "qkv": nq*hd + 2*nkv*hd, "ctx": nq*hd, "attn_out": h, "mlp": ffn}``.
        """
        return {
            "x": self.hidden,
            "qkv": self.n_q + 2 * self.n_kv,
            "ctx": self.n_q,
            "attn_out": self.hidden,
            "mlp": self.ffn,
        }

    def qkv_roles(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Role, head and dim of every canonical QKV neuron.

        Returns:
            ``(role int8 [qkv], head int64 [qkv], dim int64 [qkv])`` with role 0 = q, 1 = k,
            2 = v; head is the query head for q and the kv head for k and v.
        """
        nq, nkv, hd = self.n_q, self.n_kv, self.head_dim
        role = np.concatenate(
            [np.zeros(nq, np.int8), np.ones(nkv, np.int8), np.full(nkv, 2, np.int8)]
        )
        local = np.concatenate([np.arange(nq), np.arange(nkv), np.arange(nkv)]).astype(np.int64)
        return role, local // hd, local % hd

    def structural_mask(self, qkv_idx: Any, ctx_idx: Any) -> np.ndarray:
        """Structural QKV -> context edges between the given neurons.

        q of head h -> every ctx neuron of head h; k of kv head g -> every ctx neuron of every
        query head in group g; v (g, d) -> ctx (h, d) for every query head h in group g.
        Query head h belongs to group ``h // (n_heads // n_kv_heads)`` (HF ``repeat_kv``).

        Args:
            qkv_idx: canonical QKV indices [k].
            ctx_idx: canonical context indices [l].

        Returns:
            bool [k, l].
        """
        sizes = self.layer_sizes()
        q = self._index(qkv_idx, sizes["qkv"], "qkv")
        c = self._index(ctx_idx, sizes["ctx"], "ctx")
        role_all, head_all, dim_all = self.qkv_roles()
        role, head, dim = role_all[q][:, None], head_all[q][:, None], dim_all[q][:, None]
        c_head = (c // self.head_dim)[None, :]
        c_dim = (c % self.head_dim)[None, :]
        c_group = c_head // (self.n_heads // self.n_kv_heads)
        return np.where(
            role == 0,
            head == c_head,
            (head == c_group) & ((role == 1) | (dim == c_dim)),
        )

    # ------------------------------------------------------------------ checkpoint access
    def _index(self, idx: Any, bound: int, layer: str) -> np.ndarray:
        arr = np.asarray(idx)
        if arr.size == 0:
            return np.zeros(0, np.int64)
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise ConfigError(
                f"{layer} indices: expected a 1-D integer array, got dtype {arr.dtype} "
                f"shape {arr.shape}"
            )
        if arr.min() < 0 or arr.max() >= bound:
            raise ConfigError(
                f"{layer} indices out of range: expected 0 <= index < {bound}, got "
                f"[{arr.min()}, {arr.max()}]"
            )
        return arr.astype(np.int64, copy=False)

    def block_prefix(self, ckpt: Any) -> str:
        """Prefix of block parameter names in ``ckpt``, e.g. ``"gpt_neox.layers."``.

        Detected from the keys: the names ending in ``<container>.0.<probe>``.

        Raises:
            CheckpointError: no key matches.
        """
        try:
            return self._prefixes[ckpt]
        except (KeyError, TypeError):
            pass
        tail = f"{self.blocks_container}.0.{self.probe}"
        cut = len(f"0.{self.probe}")
        found = sorted(
            (k[:-cut] for k in ckpt.keys() if k == tail or k.endswith("." + tail)), key=len
        )
        if not found:
            raise CheckpointError(
                f"checkpoint {ckpt.path} has no {self.model_type} block weights: expected a "
                f"tensor named [prefix.]{tail}"
            )
        try:
            self._prefixes[ckpt] = found[0]
        except TypeError:
            pass
        return found[0]

    def validate(self, ckpt: Any) -> None:
        """Check every tensor the analysis needs exists with the shape the config implies.

        Raises:
            CheckpointError: a tensor is missing, has the wrong shape, or the checkpoint holds
                more blocks than the config says.
        """
        prefix = self.block_prefix(ckpt)
        specs = self.weight_specs()
        for block in range(self.n_blocks):
            for spec in specs.values():
                name = f"{prefix}{block}.{spec.name}"
                if name not in ckpt:
                    raise CheckpointError(
                        f"tensor {name!r} is missing from {ckpt.path}; the {self.model_type} "
                        f"config implies shape {spec.shape}"
                    )
                actual = tuple(ckpt.shape(name))
                if actual != spec.shape:
                    raise CheckpointError(
                        f"tensor {name!r} has shape {actual}, expected {spec.shape} from the "
                        f"{self.model_type} config ({self._shape_story()})"
                    )
        extra = f"{prefix}{self.n_blocks}.{self.probe}"
        if extra in ckpt:
            raise CheckpointError(
                f"checkpoint {ckpt.path} has tensor {extra!r} but the config says "
                f"{self.n_blocks} blocks"
            )

    def _shape_story(self) -> str:
        return (
            f"hidden={self.hidden}, heads={self.n_heads}, kv_heads={self.n_kv_heads}, "
            f"head_dim={self.head_dim}, ffn={self.ffn}"
        )

    def _read(
        self, ckpt: Any, block: int, role: str, in_idx: np.ndarray, out_idx: np.ndarray
    ) -> np.ndarray:
        """Weights of ``role`` as float32 [len(in_idx), len(out_idx)] (input x output)."""
        spec = self.weight_specs()[role]
        name = f"{self.block_prefix(ckpt)}{block}.{spec.name}"
        if spec.layout == "in_out":
            return ckpt.read_block(name, in_idx, out_idx)
        return np.ascontiguousarray(ckpt.read_block(name, out_idx, in_idx).T)

    def edge_weights(
        self, ckpt: Any, block: int, edge: str, in_idx: Any, out_idx: Any
    ) -> np.ndarray:
        """Signed weights of the edges ``in_idx -> out_idx`` of one block.

        Args:
            ckpt: an opened :class:`~mfa_engine.checkpoints.Checkpoint`.
            block: block index in ``[0, n_blocks)``.
            edge: one of ``"x_qkv"``, ``"ctx_attn_out"``, ``"attn_out_mlp"``, ``"mlp_x"``.
            in_idx: canonical indices [k] of the input layer.
            out_idx: canonical indices [l] of the output layer.

        Returns:
            float32 [k, l]: ``w[i -> j]``. For gated MLPs, ``attn_out_mlp`` gives the entry of
            W_gate or W_up with the larger magnitude (W_gate on ties).
        """
        if edge not in _EDGE_LAYERS:
            raise ConfigError(f"unknown edge {edge!r}; expected one of {', '.join(EDGES)}")
        if not (isinstance(block, (int, np.integer)) and 0 <= block < self.n_blocks):
            raise ConfigError(
                f"block {block!r} out of range; expected 0 <= block < {self.n_blocks}"
            )
        sizes = self.layer_sizes()
        src, dst = _EDGE_LAYERS[edge]
        i = self._index(in_idx, sizes[src], src)
        o = self._index(out_idx, sizes[dst], dst)
        specs = self.weight_specs()
        if edge == "x_qkv":
            out = np.zeros((i.size, o.size), np.float32)
            for role, stored, pos in self.qkv_storage(o):
                if stored.size:
                    out[:, pos] = self._read(ckpt, block, role, i, stored)
            return out
        if edge == "ctx_attn_out":
            return self._read(ckpt, block, "o", i, o)
        if edge == "mlp_x":
            return self._read(ckpt, block, "out", i, o)
        if "in" in specs:
            return self._read(ckpt, block, "in", i, o)
        gate = self._read(ckpt, block, "gate", i, o)
        up = self._read(ckpt, block, "up", i, o)
        return np.where(np.abs(gate) >= np.abs(up), gate, up)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._shape_story()}, blocks={self.n_blocks})"
