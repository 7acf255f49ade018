"""Fuzzed safetensors files: valid ones read back exactly; corrupted ones give a one-line
CheckpointError (or, if still well-formed, values equal to the safetensors library's)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from mfa_engine.checkpoints import open_checkpoint
from mfa_engine.checkpoints.dtypes import SAFETENSORS_DTYPES
from mfa_engine.errors import CheckpointError

from .harness import budget, one_line, record

CODES = sorted(SAFETENSORS_DTYPES)
FLOAT = {"F64", "F32", "F16", "BF16"}

tensor = st.tuples(st.sampled_from(CODES), st.lists(st.integers(0, 5), min_size=0, max_size=3))
tensors = st.dictionaries(st.text("abcdefgh.", min_size=1, max_size=6), tensor, min_size=1, max_size=4)

mutation = st.one_of(
    st.just(("none",)),
    st.tuples(st.just("dtype"), st.integers(0, 3), st.sampled_from(CODES + ["F8", "X", 3])),
    st.tuples(st.just("shape"), st.integers(0, 3), st.lists(st.integers(-2, 2**62), max_size=3)),
    st.tuples(st.just("offsets"), st.integers(0, 3), st.lists(st.integers(-5, 2**63), min_size=0, max_size=3)),
    st.tuples(st.just("shift"), st.integers(0, 3), st.integers(1, 64)),
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("header_len"), st.integers(0, 2**64 - 1)),
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255)),
)


def _build(spec: dict, seed: int) -> tuple[dict, bytes, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    header, data, values = {}, bytearray(), {}
    for name, (code, shape) in spec.items():
        storage = SAFETENSORS_DTYPES[code][1]
        n = int(np.prod(shape, dtype=np.int64))
        raw = rng.integers(0, 256, size=n * storage.itemsize, dtype=np.uint8)
        arr = raw.view(storage).reshape(shape)
        if code in FLOAT:  # finite values: NaN/inf are refused (tested elsewhere)
            f = rng.standard_normal(n).astype(np.float32)
            if code == "BF16":
                arr = (f.view(np.uint32) >> 16).astype(np.uint16).reshape(shape)
            else:
                arr = f.astype(storage).reshape(shape)
        if code == "BOOL":
            arr = (raw % 2).astype(bool).reshape(shape)
        header[name] = {"dtype": code, "shape": list(shape), "data_offsets": [len(data), len(data) + arr.nbytes]}
        data += arr.tobytes()
        values[name] = arr
    return header, bytes(data), values


def _expected_float32(code: str, arr: np.ndarray) -> np.ndarray:
    if code == "BF16":
        return (arr.astype(np.uint32) << 16).view(np.float32)
    return arr.astype(np.float32)


def _mutate(header: dict, data: bytes, m: tuple) -> bytes:
    names = list(header)
    kind = m[0]
    if kind in ("dtype", "shape", "offsets"):
        key = {"dtype": "dtype", "shape": "shape", "offsets": "data_offsets"}[kind]
        header[names[m[1] % len(names)]][key] = m[2]
    if kind == "shift":  # move a tensor's bytes back onto its neighbour's, span kept
        e = header[names[m[1] % len(names)]]
        b, end = e["data_offsets"]
        delta = min(m[2], b)
        e["data_offsets"] = [b - delta, end - delta]
    raw = json.dumps(header).encode()
    blob = struct.pack("<Q", len(raw)) + raw + data
    if kind == "truncate":
        blob = blob[: int(len(blob) * m[1])]
    elif kind == "header_len":
        blob = struct.pack("<Q", m[1]) + blob[8:]
    elif kind == "flip" and blob:
        i = m[1] % len(blob)
        blob = blob[:i] + bytes([blob[i] ^ m[2]]) + blob[i + 1 :]
    return blob


def _overlapping(header: dict) -> bool:
    """Two tensors whose well-formed, non-empty byte ranges overlap (must be refused)."""
    spans = []
    for e in header.values():
        off = e.get("data_offsets")
        if isinstance(off, list) and len(off) == 2 and all(type(o) is int for o in off) and 0 <= off[0] < off[1]:
            spans.append((off[0], off[1]))
    spans.sort()
    return any(b0 < e_prev for (_, e_prev), (b0, _) in zip(spans, spans[1:]))


def _oracle(path: Path) -> dict[str, np.ndarray] | None:
    try:
        from safetensors.numpy import load_file

        return load_file(str(path))
    except Exception:  # noqa: BLE001 - the library refuses it: no oracle
        return None


@budget(60)
@given(spec=tensors, seed=st.integers(0, 2**16), m=mutation)
def test_safetensors_reader(tmp_path_factory, spec, seed, m):
    d = tmp_path_factory.mktemp("st")
    (d / "config.json").write_text('{"model_type": "gpt2"}')
    header, data, values = _build(spec, seed)
    (d / "model.safetensors").write_bytes(_mutate(header, data, m))
    overlap = m[0] in ("offsets", "shift") and _overlapping(header)
    try:
        with open_checkpoint(d) as ck:
            got = {}
            for name in ck.keys():
                got[name] = ck.read(name)
                if ck.dtype(name) in ("float16", "bfloat16", "float32", "float64") and len(ck.shape(name)) == 2:
                    r, c = ck.shape(name)
                    if r and c:
                        blk = ck.read_block(name, [r - 1, 0], [c - 1])
                        np.testing.assert_array_equal(blk, got[name][[r - 1, 0]][:, [c - 1]])
    except CheckpointError as exc:
        one_line(str(exc))
        assert m[0] != "none", f"a valid file was refused: {exc}"
        record("safetensors", "error")
        return
    record("safetensors", "ok")
    assert not overlap, "tensors with overlapping data_offsets were read"
    if m[0] == "none":
        assert sorted(got) == sorted(values)
        for name, arr in values.items():
            np.testing.assert_array_equal(got[name], _expected_float32(spec[name][0], arr))
        return
    oracle = _oracle(d / "model.safetensors")
    if oracle is not None:
        for name, arr in oracle.items():
            if name in got and arr.dtype.kind == "f" and np.isfinite(arr).all():
                np.testing.assert_array_equal(got[name], arr.astype(np.float32))
