"""Hostile checkpoint files: overlapping offsets, integer weights, files truncated while being
read (never SIGBUS), empty or foreign pytorch_model.bin, unreadable directories."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mfa_engine.checkpoints import open_checkpoint
from mfa_engine.errors import CheckpointError


class Foreign:
    """Not an allow-listed type: torch's weights_only loading refuses it."""


def write_st(path: Path, header: dict, data: bytes) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text('{"model_type": "gpt2"}')
    raw = json.dumps(header).encode()
    (path / "model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and "np.float64" not in msg
    return msg


def test_overlapping_offsets_are_refused(tmp_path):
    data = np.arange(8, dtype=np.float32).tobytes()
    hdr = {"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
           "b": {"dtype": "F32", "shape": [2, 2], "data_offsets": [8, 24]}}
    with pytest.raises(CheckpointError, match=r"tensors 'a' \[0, 16\) and 'b' \[8, 24\) overlap") as info:
        open_checkpoint(write_st(tmp_path / "c", hdr, data + bytes(8)))
    _one_line(info)


def test_identical_offsets_are_refused(tmp_path):
    hdr = {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
           "b": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}
    with pytest.raises(CheckpointError, match="overlap"):
        open_checkpoint(write_st(tmp_path / "c", hdr, bytes(16)))


def test_empty_tensors_may_share_an_offset(tmp_path):
    hdr = {"a": {"dtype": "F32", "shape": [0, 3], "data_offsets": [0, 0]},
           "b": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
           "c": {"dtype": "F32", "shape": [0], "data_offsets": [8, 8]}}
    with open_checkpoint(write_st(tmp_path / "c", hdr, np.array([1, 2], np.float32).tobytes())) as ck:
        np.testing.assert_array_equal(ck.read("b"), [1, 2])


def test_offsets_out_of_range_and_huge(tmp_path):
    hdr = {"a": {"dtype": "F32", "shape": [4], "data_offsets": [2**62, 2**62 + 16]}}
    with pytest.raises(CheckpointError, match="truncated|out of range") as info:
        open_checkpoint(write_st(tmp_path / "c", hdr, bytes(16)))
    _one_line(info)
    hdr = {"a": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 16]}}
    with pytest.raises(CheckpointError, match="data_offsets span 16 bytes") as info:
        open_checkpoint(write_st(tmp_path / "d", hdr, bytes(16)))
    _one_line(info)


@pytest.mark.parametrize("code", ["I32", "I64", "U8", "BOOL"])
def test_integer_weight_is_an_error_naming_the_tensor(tmp_path, code):
    from mfa_engine.checkpoints.dtypes import SAFETENSORS_DTYPES

    item = SAFETENSORS_DTYPES[code][1].itemsize
    hdr = {"w": {"dtype": code, "shape": [4, 4], "data_offsets": [0, 16 * item]}}
    with open_checkpoint(write_st(tmp_path / "c", hdr, bytes(16 * item))) as ck:
        with pytest.raises(CheckpointError, match=rf"tensor 'w' .* is stored as {SAFETENSORS_DTYPES[code][0]}; "
                                                  r"expected a floating-point weight"):
            ck.read_block("w", [0, 1], [2])
        with pytest.raises(CheckpointError, match="expected a floating-point weight"):
            ck.read_rows("w", [0])


def test_integer_weight_in_analysis_names_the_tensor(tiny_checkpoint, tmp_path):
    """A GPT-2 checkpoint whose c_attn weight claims I32 (same bytes) is refused, not analysed."""
    from mfa_engine.api import analyze_checkpoint

    src = tiny_checkpoint("gpt2")
    dst = tmp_path / "ck"
    shutil.copytree(src, dst)
    f = dst / "model.safetensors"
    raw = f.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    hdr = json.loads(raw[8 : 8 + n])
    name = "transformer.h.0.attn.c_attn.weight"
    hdr[name]["dtype"] = "I32"
    new = json.dumps(hdr, separators=(",", ":")).encode().ljust(n)
    assert len(new) == n
    f.write_bytes(raw[:8] + new + raw[8 + n :])
    with pytest.raises(CheckpointError, match=rf"tensor '{name}' .* stored as int32"):
        analyze_checkpoint(dst, samples=1, neurons_per_layer=4)


_TRUNCATE_DURING_READ = textwrap.dedent("""
    import os, sys
    import numpy as np
    from mfa_engine.checkpoints import open_checkpoint
    from mfa_engine.errors import CheckpointError
    path = sys.argv[1]
    f = os.path.join(path, "model.safetensors")
    with open_checkpoint(path) as ck:
        name = "w"
        ck.read_block(name, [0, 1], [0, 1])           # maps / opens the file
        os.truncate(f, os.path.getsize(f) // 3)       # shrinks under the reader
        try:
            ck.read_block(name, np.arange(0, 1000, 7), np.arange(0, 512, 5))
        except CheckpointError as exc:
            print("ERR", exc)
        try:
            ck.read(name)
        except CheckpointError as exc:
            print("ERR", exc)
    print("alive")
""")


@pytest.mark.slow
def test_file_truncated_while_read_is_a_checkpoint_error_not_sigbus(tmp_path):
    from safetensors.numpy import save_file

    d = tmp_path / "c"
    d.mkdir()
    (d / "config.json").write_text('{"model_type": "gpt2"}')
    save_file({"w": np.ones((1000, 512), np.float32)}, str(d / "model.safetensors"))
    res = subprocess.run([sys.executable, "-c", _TRUNCATE_DURING_READ, str(d)], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, f"exit {res.returncode}: {res.stderr[-500:]}"
    lines = res.stdout.splitlines()
    assert lines[-1] == "alive" and len(lines) == 3
    for line in lines[:2]:
        assert "model.safetensors" in line and "changed or was truncated while being read" in line


def test_file_replaced_after_open_is_detected(tmp_path):
    from safetensors.numpy import save_file

    d = tmp_path / "c"
    d.mkdir()
    (d / "config.json").write_text('{"model_type": "gpt2"}')
    save_file({"w": np.ones((8, 4), np.float32)}, str(d / "model.safetensors"))
    with open_checkpoint(d) as ck:
        save_file({"w": np.full((8, 4), 2, np.float32)}, str(d / "new.tmp"))
        os.replace(d / "new.tmp", d / "model.safetensors")
        with pytest.raises(CheckpointError, match="changed"):
            ck.read_rows("w", [0])


def test_empty_pytorch_bin_has_a_reason(tmp_path):
    pytest.importorskip("torch")
    d = tmp_path / "c"
    d.mkdir()
    (d / "config.json").write_text('{"model_type": "gpt2"}')
    (d / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(CheckpointError) as info:
        open_checkpoint(d)
    msg = _one_line(info)
    assert msg.endswith("is empty (0 bytes); expected a torch state dict")


def test_torch_weights_only_advice_does_not_leak(tmp_path):
    torch = pytest.importorskip("torch")
    d = tmp_path / "c"
    d.mkdir()
    (d / "config.json").write_text('{"model_type": "gpt2"}')
    torch.save({"w": torch.ones(2), "x": Foreign()}, d / "pytorch_model.bin")
    with pytest.raises(CheckpointError) as info:
        open_checkpoint(d)
    msg = _one_line(info)
    assert "weights_only=False" not in msg and "Please" not in msg and len(msg) < 400
    assert msg.endswith("holds objects other than tensors (WeightsUnpickler error: Unsupported global: GLOBAL "
                        "tests.checkpoints.test_ckpt_hostile.Foreign was not an allowed global); expected a "
                        "state dict of tensors")


@pytest.mark.slow
def test_unreadable_checkpoint_directory(tiny_checkpoint, tmp_path):
    src = tiny_checkpoint("gpt2")
    d = tmp_path / "ck"
    shutil.copytree(src, d)
    d.chmod(0o000)
    prefix: list[str] = []
    if os.getuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root without setpriv")
        prefix = [shutil.which("setpriv"), "--bounding-set=-dac_override,-dac_read_search,-fowner"]
    try:
        res = subprocess.run([*prefix, sys.executable, "-m", "mfa_engine", "analyze", str(d), "--quiet"],
                             capture_output=True, text=True, timeout=120)
    finally:
        d.chmod(0o755)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("error: ") and "Permission denied" in line and str(d) in line


def test_truncated_pytorch_bin_is_refused_before_touching_the_map(tiny_checkpoint, tmp_path):
    pytest.importorskip("torch")
    from .._models import write_pytorch_bin

    d = write_pytorch_bin(tiny_checkpoint("gpt2"), tmp_path / "bin")
    f = d / "pytorch_model.bin"
    with open_checkpoint(d) as ck:
        name = ck.keys()[0]
        os.truncate(f, f.stat().st_size // 2)
        with pytest.raises(CheckpointError, match="changed or was truncated while being read"):
            ck.read(name)


_BATCH_WITH_TRUNCATION = textwrap.dedent("""
    import os, sys
    from mfa_engine.batch import run_batch
    from mfa_engine.checkpoints import safetensors_file as sf
    victim = os.path.join(sys.argv[1], "step1000", "model.safetensors")
    parse = sf.SafetensorsFile._parse_header
    def parse_then_truncate(self):
        parse(self)
        if str(self.path) == victim:
            os.truncate(victim, os.path.getsize(victim) // 2)
    sf.SafetensorsFile._parse_header = parse_then_truncate
    rep = run_batch([os.path.join(sys.argv[1], "step*")], sys.argv[2], options={"reference": {}},
                    samples=1, log=lambda _: None)
    print(rep.computed, [f["step"] for f in rep.failed], rep.failed[0]["error"] if rep.failed else "")
""")


@pytest.mark.slow
def test_batch_goes_on_after_a_checkpoint_truncated_during_its_read(tmp_path):
    from mfa_engine.synthetic import write_gpt_neox_checkpoint

    for i, step in enumerate((0, 1000, 2000)):
        write_gpt_neox_checkpoint(tmp_path / "s" / f"step{step}", seed=i, hidden_size=64, num_hidden_layers=2,
                                  num_attention_heads=4, dtype="float16")
    res = subprocess.run([sys.executable, "-c", _BATCH_WITH_TRUNCATION, str(tmp_path / "s"), str(tmp_path / "st")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"exit {res.returncode}: {res.stderr[-500:]}"
    computed, rest = res.stdout.strip().split(" ", 1)
    assert computed == "2" and rest.startswith("[1000]") and "truncated while being read" in rest
