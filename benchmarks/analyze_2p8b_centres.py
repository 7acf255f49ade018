"""One centre-sampled sample of a Pythia-2.8B-shaped checkpoint through ``analyze_checkpoint``
(issue 20): the full network is above ``MFA_NETWORK_MEMORY``, so it is streamed (pre-pass, then
the float32 stream with exact resolution). Reports the child process's peak RSS (``VmHWM``),
CPU and wall seconds, and the sample's alpha0 and width.

Run:  .venv/bin/python benchmarks/analyze_2p8b_centres.py [--ckpt-dir DIR] [--blocks 32] [--centres 1000]

The checkpoint (synthetic GPT-NeoX, fp16) is written once into ``--ckpt-dir`` (the same folder
``benchmarks/full_network.py --case 2p8b`` uses).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

__all__ = ["main"]

_CHILD = r"""
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
from mfa_engine.api import analyze_checkpoint
doc = analyze_checkpoint(sys.argv[1], samples=1, centres=int(sys.argv[2]), progress=False)
t1, c1 = time.perf_counter(), time.process_time()
hwm = int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]) / 1024
s = doc["samples"][0]
print(json.dumps({"wall_s": t1 - t0, "cpu_s": c1 - c0, "peak_rss_mb": hwm, "alpha0": s["alpha0"],
                  "width": s["width"], "n_centres": s.get("n_centres")}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ckpt-dir", default=os.path.join(tempfile.gettempdir(), "mfa-bench-2p8b"))
    p.add_argument("--blocks", type=int, default=32)
    p.add_argument("--centres", type=int, default=1000)
    a = p.parse_args()
    from mfa_engine.synthetic import PYTHIA_2P8B, write_gpt_neox_checkpoint

    path = Path(a.ckpt_dir) / f"pythia2p8b-shaped-{a.blocks}"
    if not (path / "config.json").exists():
        path.mkdir(parents=True, exist_ok=True)
        write_gpt_neox_checkpoint(path, seed=0, **{**PYTHIA_2P8B, "vocab_size": 64, "num_hidden_layers": a.blocks})
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(a.centres)], capture_output=True,
                         text=True, check=True, cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT)})
    res = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"2.8B-shaped ({a.blocks} blocks), 1 sample of {a.centres} centres, streamed: "
          f"peak RSS {res['peak_rss_mb']:.0f} MB, {res['cpu_s']:.1f} CPU-s, {res['wall_s']:.1f} s wall; "
          f"alpha0 {res['alpha0']:.4f}, width {res['width']:.4f}")


if __name__ == "__main__":
    main()
