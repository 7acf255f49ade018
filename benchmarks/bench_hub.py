"""Hub range reads of a Pythia-2.8B-shaped checkpoint against a full download (a benchmark).

A sharded fp16 GPT-NeoX checkpoint with Pythia-2.8B shapes (about 5.6 GB in 3 shards) is
served by the local Hub-compatible server of the test suite (``tests/checkpoints/hub_server.py``)
from virtual files: the bytes are computed from the offset, so nothing is written to disk on
the server side. The client is the engine with the real huggingface_hub client, reached through
``HF_ENDPOINT``. Measured side by side in one run:

* paper mode, 1 seed, cold range cache: bytes the server sent, as a fraction of the checkpoint
  (goal <= 1.5%), and wall time;
* paper mode, 10 seeds, cold range cache (goal <= 10%);
* the same 1-seed run again: bytes of tensor data sent (goal 0);
* the peer: ``download=True``, every shard downloaded whole into the HF cache, then the same
  1-seed analysis on the local files. Its numbers must equal the range-read run's exactly.

Run:  .venv/bin/python -m pytest benchmarks/bench_hub.py -s   (takes a few minutes; needs
about 6 GB of free disk for the downloaded peer)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.checkpoints.conftest import hub_environment  # noqa: E402
from tests.checkpoints.hub_server import HubServer, virtual_gpt_neox  # noqa: E402

REPO = "EleutherAI/pythia-2.8b-shaped"
REV = "step143000"


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from mfa_engine.synthetic import PYTHIA_2P8B

    files = virtual_gpt_neox(seed=7, max_shard_bytes=2 << 30, **PYTHIA_2P8B)
    with HubServer() as server:
        hub_environment(monkeypatch, tmp_path / "hf-home", server.endpoint)
        server.add_branch(REPO, REV, files)
        total = sum(f.size for n, f in files.items() if n.endswith(".safetensors"))
        yield server, total, tmp_path


def _run(server: HubServer, cache: Path, samples: int, **kw) -> tuple[dict, float, int, int]:
    from mfa_engine.api import analyze_checkpoint

    server.reset_counters()
    t0 = time.perf_counter()
    doc = analyze_checkpoint(REPO, revision=REV, samples=samples, range_cache=cache, sampling="neurons", **kw)
    return doc, time.perf_counter() - t0, server.bytes_sent, server.range_bytes


def test_hub_range_reads_vs_full_download(served, benchmark) -> None:
    server, total, tmp = served
    one, t1, sent1, _ = benchmark.pedantic(lambda: _run(server, tmp / "c1", 1), rounds=1, iterations=1)
    again, t1b, sent1b, ranged1b = _run(server, tmp / "c1", 1)
    ten, t10, sent10, _ = _run(server, tmp / "c10", 10)
    full, tfull, sentfull, _ = _run(server, tmp / "c1", 1, download=True)
    f1, f10 = sent1 / total, sent10 / total
    print(f"\n[2.8B-shaped fp16, {total / 1e9:.2f} GB, 3 shards, paper mode, 32 neurons per layer]")
    print(f"  range reads, 1 seed : {sent1 / 1e6:8.1f} MB sent = {100 * f1:.2f}% (goal <= 1.5%) in {t1:6.1f} s")
    print(f"  range reads, 10 seeds: {sent10 / 1e6:8.1f} MB sent = {100 * f10:.2f}% (goal <= 10%) in {t10:6.1f} s")
    print(f"  re-run, 1 seed      : {sent1b} bytes sent ({ranged1b} bytes of tensor data; goal 0) in {t1b:.1f} s")
    print(f"  full download + 1 seed: {sentfull / 1e6:8.1f} MB sent in {tfull:6.1f} s")
    print(f"  ratios vs full download: 1 seed {sentfull / sent1:.0f}x fewer bytes, {tfull / t1:.1f}x less time; "
          f"10 seeds {sentfull / sent10:.0f}x fewer bytes")
    benchmark.extra_info.update(fraction_1=f1, fraction_10=f10, seconds_1=t1, seconds_10=t10,
                                seconds_full=tfull, bytes_full=sentfull)
    assert one["samples"] == again["samples"] == full["samples"]  # identical numbers
    assert [s["seed"] for s in ten["samples"]] == list(range(10))
    assert ten["samples"][0] == one["samples"][0]
    assert ranged1b == 0
    assert f1 <= 0.015 and f10 <= 0.10
