"""Peak RSS and time of ``mfa analyze`` on a large synthetic checkpoint (a benchmark, not a test).

Writes a >= 1 GB fp16 GPT-NeoX checkpoint (sharded safetensors) once, then runs ``mfa analyze``
in a fresh process per mode and reports its peak RSS against the checkpoint size. The engine
streams tensors and reads only the sampled rows, so RSS must stay a small fraction of the size.

Run:  .venv/bin/python -m pytest benchmarks/bench_analyze_rss.py -s
      (MFA_BENCH_HIDDEN / MFA_BENCH_LAYERS change the shape; default 2048 x 16, about 1.7 GB)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HIDDEN = int(os.environ.get("MFA_BENCH_HIDDEN", "2048"))
LAYERS = int(os.environ.get("MFA_BENCH_LAYERS", "16"))

# Peak RSS is read from /proc/self/status (VmHWM): it belongs to the exec'd process's own address
# space, whereas getrusage's ru_maxrss can carry the forking parent's high-water mark.
_HWM = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]) / 1024"

_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from mfa_engine.api import analyze_checkpoint
doc = analyze_checkpoint(sys.argv[1], mode=sys.argv[2], samples=int(sys.argv[3]), sampling="neurons")
dt = time.perf_counter() - t0
print(json.dumps({"seconds": dt, "peak_rss_mb": HWM,
                  "alpha0": doc["alpha0"], "width": doc["width"]}))
"""

_BASELINE = r"""
import json
import numpy, scipy.sparse, tqdm, mfa_engine.api, mfa_engine.nin, mfa_engine.paths, mfa_engine.reference
print(json.dumps({"peak_rss_mb": HWM}))
"""


@pytest.fixture(scope="module")
def big_checkpoint(tmp_path_factory) -> Path:
    from mfa_engine.synthetic import write_gpt_neox_checkpoint

    root = Path(os.environ.get("MFA_BENCH_DIR", tmp_path_factory.mktemp("big")))
    out = root / f"gpt-neox-h{HIDDEN}-l{LAYERS}-fp16"
    if not (out / "model.safetensors.index.json").exists():
        write_gpt_neox_checkpoint(out, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                                  num_attention_heads=HIDDEN // 128, dtype="float16",
                                  max_shard_bytes=512 << 20)
    return out


def _child(code: str, *args: str) -> dict:
    code = code.replace("HWM", _HWM)
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["paper", "reference"])
def test_analyze_peak_rss(big_checkpoint: Path, mode: str, benchmark) -> None:
    size_mb = sum(p.stat().st_size for p in big_checkpoint.glob("*.safetensors")) / 2**20
    assert size_mb >= 1000, "the benchmark checkpoint must be >= 1 GB"
    base = _child(_BASELINE)["peak_rss_mb"]
    res = benchmark.pedantic(lambda: _child(_CHILD, str(big_checkpoint), mode, "3"), rounds=1, iterations=1)
    extra = res["peak_rss_mb"] - base
    print(f"\n[{mode}] checkpoint {size_mb:.0f} MB | 3 samples in {res['seconds']:.2f} s | peak RSS "
          f"{res['peak_rss_mb']:.0f} MB (interpreter + imports {base:.0f} MB, analysis {extra:.0f} MB) | "
          f"RSS / checkpoint = {res['peak_rss_mb'] / size_mb:.3f}")
    benchmark.extra_info.update(checkpoint_mb=size_mb, peak_rss_mb=res["peak_rss_mb"],
                                import_rss_mb=base, seconds=res["seconds"])
    assert res["peak_rss_mb"] < 0.5 * size_mb
