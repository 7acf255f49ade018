"""Why the range cache is not fsspec's block cache or ``HfFileSystem.cat_ranges`` (docs/hub.md).

A Pythia-70M-shaped checkpoint (virtual files, nothing on disk) is served by the local
Hub-compatible server of the test suite. The byte ranges of one paper-mode sample (32 neurons
per layer) are fetched three ways, twice each (a second analysis of the same checkpoint):

* the engine: coalesced ranges (``MFA_HUB_GAP``), fetched in parallel into the range cache on
  disk, keyed by commit; the second pass fetches nothing;
* ``HfFileSystem.cat_ranges`` with the same coalesced ranges: no cache, every pass fetches again;
* ``HfFileSystem.open(..., cache_type="blockcache")``: reads whole blocks (``block_size``,
  default 5 MiB in huggingface_hub), an in-memory cache that dies with the file object.

Printed: bytes the server sent in range answers, range requests, and seconds per pass.

Run:  .venv/bin/python benchmarks/hub_vs_fsspec.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.checkpoints.hub_server import HubServer, virtual_gpt_neox  # noqa: E402

REPO = "EleutherAI/pythia-70m-shaped"
REV = "step143000"


def _environment(home: Path, endpoint: str) -> None:
    import huggingface_hub.constants as c

    os.environ.update({"HF_ENDPOINT": endpoint, "HF_HOME": str(home)})
    for var in ("HF_TOKEN", "HF_HUB_OFFLINE", "MFA_RANGE_CACHE"):
        os.environ.pop(var, None)
    c.HF_HUB_OFFLINE = False
    c.ENDPOINT = endpoint
    c.HUGGINGFACE_CO_URL_TEMPLATE = endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    c.HF_HOME, c.HF_HUB_CACHE = str(home), str(home / "hub")
    c.HF_TOKEN_PATH = str(home / "token")


def _ranged(server: HubServer) -> int:
    return sum(1 for _, _, rng, _ in server.log if rng)


def main() -> None:
    from huggingface_hub import HfFileSystem

    from mfa_engine.checkpoints import open_checkpoint
    from mfa_engine.checkpoints.prefetch import record_requests
    from mfa_engine.checkpoints.range_cache import merge_ranges
    from mfa_engine.modes import get_mode
    from mfa_engine.options import AnalysisOptions
    from mfa_engine.synthetic import PYTHIA_70M

    files = virtual_gpt_neox(seed=3, **PYTHIA_70M)
    options = AnalysisOptions(samples=1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, HubServer() as server:
        _environment(Path(tmp) / "home", server.endpoint)
        server.add_branch(REPO, REV, files)
        total = files["model.safetensors"].size
        with open_checkpoint(REPO, revision=REV) as ckpt:  # config and headers
            plan = get_mode("paper").plan
            requests = record_requests(ckpt, [lambda rec: plan(rec, options.seeds, options)])
            wanted: dict[str, list[tuple[int, int]]] = {}
            for name, r, c in requests:
                path, ranges = ckpt._ranges(name, r, c)
                wanted.setdefault(Path(path).name, []).extend(ranges)
            merged = {f: merge_ranges(v, ckpt.gap) for f, v in wanted.items()}
            for run in (1, 2):
                server.reset_counters()
                t0 = time.perf_counter()
                ckpt.fetch(requests)
                rows.append(("engine range cache", run, server.range_bytes, _ranged(server), time.perf_counter() - t0))
        fs = HfFileSystem(endpoint=server.endpoint)
        paths, starts, ends = [], [], []
        for f, ranges in merged.items():
            for a, b in ranges:
                paths.append(f"{REPO}@{REV}/{f}")
                starts.append(a)
                ends.append(b)
        for run in (1, 2):
            server.reset_counters()
            t0 = time.perf_counter()
            got = fs.cat_ranges(paths, starts, ends)
            assert sum(len(g) for g in got) == sum(e - s for s, e in zip(starts, ends))
            rows.append(("HfFileSystem.cat_ranges", run, server.range_bytes, _ranged(server), time.perf_counter() - t0))
        for run in (1, 2):
            server.reset_counters()
            t0 = time.perf_counter()
            for f, ranges in merged.items():
                with fs.open(f"{REPO}@{REV}/{f}", "rb", cache_type="blockcache") as fh:
                    for a, b in ranges:
                        fh.seek(a)
                        fh.read(b - a)
            rows.append(("HfFileSystem blockcache", run, server.range_bytes, _ranged(server), time.perf_counter() - t0))
    need = sum(e - s for s, e in zip(starts, ends))
    print(f"{REPO}: {total / 1e6:.1f} MB of weights; one sample needs {need / 1e6:.3f} MB in "
          f"{len(starts)} coalesced ranges")
    print(f"{'method':<26} {'pass':>4} {'MB sent':>9} {'% of file':>9} {'requests':>9} {'seconds':>8}")
    for name, run, sent, n, sec in rows:
        print(f"{name:<26} {run:>4} {sent / 1e6:>9.3f} {100 * sent / total:>8.2f}% {n:>9} {sec:>8.2f}")


if __name__ == "__main__":
    main()
