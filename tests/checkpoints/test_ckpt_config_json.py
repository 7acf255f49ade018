"""config.json and index files that JSON allows but a checkpoint cannot hold (issue 22 X2, class 5):
depth, size and integer-length limits, and values of the wrong JSON type, each a one-line error
naming the file or field."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from mfa_engine.arch import get_adapter
from mfa_engine.checkpoints import json_file, open_checkpoint
from mfa_engine.errors import ArchitectureError, CheckpointError, MFAError
from mfa_engine.reference.sampling import dims

CONFIG = {"model_type": "gpt_neox", "num_hidden_layers": 2, "hidden_size": 8, "num_attention_heads": 2,
          "intermediate_size": 32}


def _model(d: Path, config_text: str, index: str | None = None) -> Path:
    d.mkdir()
    (d / "config.json").write_text(config_text)
    if index is None:
        save_file({"w": np.zeros((2, 2), np.float32)}, str(d / "model.safetensors"))
    else:
        save_file({"w": np.zeros((2, 2), np.float32)}, str(d / "s1.safetensors"))
        (d / "model.safetensors.index.json").write_text(index)
    return d


def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert isinstance(exc.value, MFAError) and "\n" not in msg, msg
    return msg


def test_deep_nesting_is_refused_without_recursion(tmp_path: Path) -> None:
    d = _model(tmp_path / "m", '{"model_type": "gpt_neox", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(CheckpointError) as exc:
        open_checkpoint(d)
    assert "nests arrays/objects 100001 deep" in _one_line(exc)


def test_brackets_inside_strings_do_not_count() -> None:
    assert json_file.nesting_depth(b'{"a": "[[[[{{{{\\"[[["}') == 1
    assert json_file.nesting_depth(b'[[1], {"b": [2]}]') == 3
    assert json_file.nesting_depth(b"") == 0


def test_a_5000_digit_integer_names_its_field(tmp_path: Path) -> None:
    text = json.dumps(CONFIG).replace('"hidden_size": 8', '"hidden_size": ' + "9" * 5000)
    with pytest.raises(CheckpointError) as exc:
        open_checkpoint(_model(tmp_path / "m", text))
    assert "field 'hidden_size' is an integer of 5000 digits" in _one_line(exc)
    nested = '{"model_type": "gpt_neox", "rope": {"scale": [1, -' + "1" * 200 + "]}}"
    with pytest.raises(CheckpointError, match=r"field 'rope.scale\[1\]' is an integer of 200 digits"):
        open_checkpoint(_model(tmp_path / "n", nested))


def test_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(json_file, "MAX_BYTES", 1000)
    d = _model(tmp_path / "m", json.dumps({**CONFIG, "pad": "x" * 2000}))
    with pytest.raises(CheckpointError, match="larger than 1000 bytes"):
        open_checkpoint(d)


@pytest.mark.parametrize("value", [["gpt_neox"], {"name": "gpt_neox"}, 3, True])
def test_model_type_of_the_wrong_json_type_names_the_field(tmp_path: Path, value) -> None:
    d = _model(tmp_path / "m", json.dumps({**CONFIG, "model_type": value}))
    with open_checkpoint(d) as ck, pytest.raises(ArchitectureError) as exc:
        get_adapter(ck)
    msg = _one_line(exc)
    assert "'model_type'" in msg and "expected a string" in msg


@pytest.mark.parametrize("field, value", [("hidden_size", [8]), ("hidden_size", "8"), ("num_hidden_layers", 2.5),
                                          ("num_hidden_layers", {"n": 2}), ("intermediate_size", [32])])
def test_sizes_of_the_wrong_json_type_name_the_field(field: str, value) -> None:
    cfg = {**CONFIG, field: value}
    with pytest.raises(ArchitectureError, match=repr(field)) as exc:
        get_adapter(cfg)
    _one_line(exc)
    with pytest.raises(ArchitectureError, match=repr(field)) as exc:
        dims(cfg)
    _one_line(exc)


@pytest.mark.parametrize("weight_map", [{"w": ["s1.safetensors"]}, {"w": 5}, {"w": None}])
def test_index_values_of_the_wrong_json_type(tmp_path: Path, weight_map) -> None:
    d = _model(tmp_path / "m", json.dumps(CONFIG), index=json.dumps({"weight_map": weight_map}))
    with pytest.raises(CheckpointError, match="maps tensor 'w'.*expected a shard file name") as exc:
        open_checkpoint(d)
    _one_line(exc)


def test_valid_config_still_opens(tmp_path: Path) -> None:
    d = _model(tmp_path / "m", json.dumps({**CONFIG, "rope_scaling": {"factor": 2.0, "list": [[1, 2], [3]]},
                                           "name": "[not {nested"}))
    with open_checkpoint(d) as ck:
        assert ck.config["rope_scaling"]["list"] == [[1, 2], [3]] and ck.model_type == "gpt_neox"
        assert get_adapter(ck).hidden == 8
