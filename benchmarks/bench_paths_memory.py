"""Peak RSS of ``multi_source_counts`` where the S x N float32 distance matrix would be 8 GB.

A random sparse graph with N = 2**21 nodes (mean out-degree 4) and S = 1024 sources: S * N * 4 B
= 8 GiB. Counts over a small radius grid run in a fresh process; its peak RSS (VmHWM) must stay
under 1 GB. A benchmark, not a unit test (about a minute on 2 cores).

Run:  .venv/bin/python -m pytest benchmarks/bench_paths_memory.py -s
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_CHILD = r"""
import json, time
import numpy as np, scipy.sparse as sp
from mfa_engine.paths import multi_source_counts
n, deg, s = 2**21, 4, 1024
rng = np.random.default_rng(0)
rows = np.repeat(np.arange(n, dtype=np.int32), deg)
cols = rng.integers(0, n, n * deg).astype(np.int32)
m = sp.csr_array((rng.uniform(0.5, 2.0, n * deg), (rows, cols)), shape=(n, n))
del rows, cols
src = rng.choice(n, s, replace=False)
radii = np.array([0.5, 1.0, 2.0, 3.0, 4.0])
t = time.perf_counter()
c = multi_source_counts(m, src, radii)
dt = time.perf_counter() - t
hwm = int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]) / 1024
print(json.dumps({"seconds": dt, "peak_rss_mb": hwm, "dense_gb": s * n * 4 / 1e9,
                  "mean_count_rmax": float(c[:, -1].mean())}))
"""


@pytest.mark.slow
def test_counts_8gb_equivalent_under_1gb_rss() -> None:
    res = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    print(f"\n8 GB-equivalent counts: {out}")
    assert out["dense_gb"] >= 8.0
    assert out["peak_rss_mb"] < 1000, out
