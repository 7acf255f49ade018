"""Fuzzed config.json structure (issue 22 X2, class 5): documents JSON allows (deep nesting, long
integers, values of every JSON type in the fields the adapters read). Opening the checkpoint and
building its adapter either succeeds with the config's values or fails with a one-line
MFAError; never another exception."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from safetensors.numpy import save_file

from mfa_engine.arch import get_adapter
from mfa_engine.checkpoints import open_checkpoint
from mfa_engine.errors import MFAError

from .harness import budget, one_line, record

_FIELDS = ("model_type", "num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size")
_VALID = {"model_type": "gpt_neox", "num_hidden_layers": 2, "hidden_size": 8, "num_attention_heads": 2,
          "intermediate_size": 32}

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 40), st.floats(allow_nan=False, allow_infinity=False),
                     st.text(max_size=8), st.sampled_from(["gpt_neox", "llama", "gpt2", "bert"]))
_json = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                     max_leaves=8)


@pytest.fixture(scope="module")
def model_dir():
    d = Path(tempfile.mkdtemp(prefix="mfa-fuzz-config-"))
    save_file({"w": np.zeros((1, 1), np.float32)}, str(d / "model.safetensors"))
    return d


@st.composite
def configs(draw):
    """(config.json text, whether it is a valid gpt_neox config)."""
    cfg = dict(_VALID)
    hostile = draw(st.integers(0, 2)) > 0  # a third keep the five fields valid
    for name in draw(st.lists(st.sampled_from(_FIELDS), max_size=3, unique=True)) if hostile else ():
        cfg[name] = draw(_json)
    extra = draw(st.sampled_from(["none", "none", "deep", "long_int", "extra_field"]))
    text = json.dumps(cfg)
    if extra == "deep":
        depth = draw(st.sampled_from([10, 64, 65, 5000, 100_000]))
        text = text[:-1] + ', "x": ' + "[" * depth + "]" * depth + "}"
    elif extra == "long_int":
        digits = draw(st.sampled_from([50, 101, 4301, 5000]))
        field = draw(st.sampled_from(_FIELDS[1:] + ("other",)))
        cfg.pop(field, None)
        text = json.dumps(cfg)[:-1] + f', "{field}": ' + "7" * digits + "}"
    elif extra == "extra_field":
        cfg["rope"] = draw(_json)
        text = json.dumps(cfg)
    return text


@budget(40)
@given(text=configs())
def test_config_json_structure(model_dir, text):
    (model_dir / "config.json").write_text(text)
    try:
        with open_checkpoint(model_dir) as ck:
            adapter = get_adapter(ck)
    except MFAError as exc:
        one_line(str(exc))
        record("config", "error")
        return
    cfg = json.loads(text)
    assert cfg["model_type"] == adapter.model_type
    for name in ("num_hidden_layers", "hidden_size", "num_attention_heads"):
        assert isinstance(cfg[name], int) and cfg[name] > 0
    assert (adapter.n_blocks, adapter.hidden) == (cfg["num_hidden_layers"], cfg["hidden_size"])
    record("config", "ok")
