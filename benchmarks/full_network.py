"""Full-network shortest paths at the CPU's limit (issue 20): the numbers of benchmarks/PATHS.md.

For the full network of a 70M-shaped GPT-NeoX (``--neurons-per-layer all``: 31,232 nodes,
every node but the output layer a centre, the paper-mode radius grid of 64 radii) it reports,
in one run:

* the per-core min-plus peak measured now (``minplus_peak``: float min and integer min on the
  float bit patterns, the host's widest ISA, per CPU-second of each thread);
* the engine's DAG kernel (``paths.cpu.dag_histogram``: float32 pass with in-place exact
  resolution) as CPU time, relaxations per CPU-second and % of both peaks, the entries it
  resolved, and the same for the float32 pass alone (no resolution, no re-run);
* optionally the same call of an earlier revision (``--before DIR``, e.g. ``git archive c5facb7
  | tar -x -C DIR``), run in a subprocess interleaved with ours, and the CPU-time ratio;
* SciPy ``dijkstra(indices, limit)`` on 64 random centres, per CPU-second of one core (SciPy
  runs on one thread; the engine's CPU time is summed over its threads);
* peak RSS of the process.

CPU time (``time.process_time``), not wall time: the machine is shared. Counts are checked
identical to SciPy's on the 64 centres.

Run: .venv/bin/python benchmarks/full_network.py [--sources N] [--repeat 3] [--before /tmp/before]

``--case 2p8b [--blocks K] [--centres 1200]``: one centre-sampled sample of a Pythia-2.8B-shaped
checkpoint (synthetic, fp16, written once to ``--ckpt-dir``), streamed level by level
(:func:`mfa_engine.paths.stream.stream_counts`: float32 blocks from :class:`mfa_engine.nin.NinBlocks`
with its float64 columns as ``columns_at`` for the exact resolution; ``--precision f64`` the float64 pass over
:func:`mfa_engine.nin.iter_nin_blocks`, ``f32,f64`` both) in a child process each: peak RSS
(``VmHWM``), CPU time, relaxations per CPU-second against the float and integer peaks of
``minplus_peak`` (same run), the CPU time of block building and of the resolution, and the
entries resolved.
``--blocks`` writes only the first K transformer blocks (the same level shapes; the streamed
memory does not depend on the depth, the time is proportional to it).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

__all__ = ["build_70m", "main", "relaxations", "tile_areas"]


def build_70m(path: str) -> None:
    """Write the full 70M-shaped network (layer sizes, blocks, centres, radii) to ``path`` (npz)."""
    from mfa_engine.api import graph_radius_grid
    from mfa_engine.arch import get_adapter
    from mfa_engine.checkpoints import open_checkpoint
    from mfa_engine.nin import build_nin
    from mfa_engine.synthetic import PYTHIA_70M, write_gpt_neox_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        ckpt_path = write_gpt_neox_checkpoint(tmp, seed=0, **{**PYTHIA_70M, "vocab_size": 64})
        with open_checkpoint(ckpt_path) as ckpt:
            g = build_nin(ckpt, get_adapter(ckpt.config), neurons_per_layer="all", seed=0, structural_scale="median")
    centres = np.arange(g.n_nodes - g.layer_sizes[-1])
    radii = graph_radius_grid(g, centres)
    blocks = {f"arr_{i}": b for i, b in enumerate(g.blocks)}
    np.savez(path, sizes=np.array(g.layer_sizes), radii=radii, centres=centres, **blocks)


def _kernel_isa() -> str:
    """The vector ISA whose peak the engine is compared with: the tile ``MFA_MINPLUS_TILE``
    forces (``avx2``: the 256-bit tile, e.g. on an AVX-512 host), else the host's widest."""
    import minplus_peak

    forced = os.environ.get("MFA_MINPLUS_TILE", "")
    return forced if forced in ("avx2", "avx512") else minplus_peak.widest_isa()


def relaxations(sizes: list[int], pos: np.ndarray, areas: list[float] | None = None) -> float:
    """Min-plus relaxations of the sources at level-order positions ``pos`` on a layered
    network: the first hop reads only the source's own weight row, later blocks in full.

    Args:
        sizes: Level sizes.
        pos: int64 [S] level-order positions of the sources.
        areas: Cells the kernel runs on per block (default the dense ``n_l * n_{l+1}``; the
            engine's structural block counts only its heads' tiles, the work it does).
    """
    off = np.concatenate([[0], np.cumsum(sizes)])
    lvl = np.searchsorted(off, pos, side="right") - 1
    dense = [float(sizes[i] * sizes[i + 1]) for i in range(len(sizes) - 1)]
    area = np.array(list(areas if areas is not None else dense) + [0.0], np.float64)
    down = np.concatenate([np.cumsum(area[::-1])[::-1], [0.0]])
    # first hop: the source's own row of its block (its share of the block's cells)
    first = np.array([area[i] / sizes[i] for i in range(len(sizes) - 1)] + [0.0], np.float64)
    return float(first[lvl].sum() + down[lvl + 1].sum())


def tile_areas(data: str) -> list[float]:
    """Cells of each level block the engine's CPU kernel runs on (:meth:`DagLevels.tiles`)."""
    from mfa_engine.layered import LayeredGraph
    from mfa_engine.paths import dag

    z = np.load(data)
    sizes = [int(s) for s in z["sizes"]]
    lv = dag.from_layered(LayeredGraph(sizes, [z[f"arr_{i}"] for i in range(len(sizes) - 1)]))
    t = lv.tiles(np.float32)
    out = np.zeros(len(sizes) - 1)
    np.add.at(out, t.src, (t.nr * t.nc).astype(np.float64))
    return out.tolist()


_WORKER = r"""
import json, sys, time, numpy as np
sys.path.insert(0, sys.argv[1])
z = np.load(sys.argv[2]); n_src = int(sys.argv[3]); mode = sys.argv[4]
sizes = [int(s) for s in z["sizes"]]
from mfa_engine.layered import LayeredGraph
from mfa_engine.paths import cpu, dag
lv = dag.from_layered(LayeredGraph(sizes, [z[f"arr_{i}"] for i in range(len(sizes) - 1)]))
c = z["centres"]
c = c if n_src <= 0 else c[np.linspace(0, c.size - 1, n_src).astype(np.int64)]
radii = np.sort(z["radii"])
lv.packed(np.float32); lv.packed(np.float64)
cpu.dag_histogram(lv, c[:64], radii)
out = {}
for name in mode.split(","):
    t = time.process_time()
    if name == "engine":
        h, _ = cpu.dag_histogram(lv, c, radii)
        np.save(sys.argv[5], h)
    else:  # float32 pass alone: no resolution, no re-run
        g = cpu.gamma_for(lv, np.dtype(np.float32))
        thr = float(np.nextafter(np.float32(radii[-1] * (1 + g)), np.float32(np.inf)))
        cpu._run_dag(lv, c.astype(np.int64), radii, np.dtype(np.float32), thr, False, False)
    out[name] = time.process_time() - t
    out[name + "_stats"] = dict(getattr(cpu, "LAST_STATS", {}))
print(json.dumps(out))
"""


def _worker(root: str, data: str, n_src: int, mode: str, hist_out: str) -> dict:
    env = {**os.environ, "PYTHONPATH": root}
    r = subprocess.run([sys.executable, "-c", _WORKER, root, data, str(n_src), mode, hist_out],
                       env=env, check=True, capture_output=True, text=True, cwd=root)
    return json.loads(r.stdout.strip().splitlines()[-1])


def _scipy_per_core(data: str, n: int = 64) -> tuple[float, float, bool, np.ndarray, np.ndarray]:
    """SciPy Dijkstra CPU seconds per source (one thread) and the counts check material."""
    from scipy.sparse import csgraph

    from mfa_engine.layered import LayeredGraph

    z = np.load(data)
    sizes = [int(s) for s in z["sizes"]]
    m = LayeredGraph(sizes, [z[f"arr_{i}"] for i in range(len(sizes) - 1)]).to_csr()
    c = np.random.default_rng(0).choice(z["centres"], n, replace=False)
    radii = np.sort(z["radii"])
    t = time.process_time()
    d = csgraph.dijkstra(m, indices=c, limit=radii[-1])
    per_src = (time.process_time() - t) / n
    return per_src, float(radii[-1]), True, c, d


_STREAM_WORKER = r"""
import json, sys, time, numpy as np
sys.path.insert(0, sys.argv[1])
from mfa_engine.arch import get_adapter
from mfa_engine.checkpoints import open_checkpoint
from mfa_engine import nin as nin_mod
from mfa_engine.paths import stream
n_c = int(sys.argv[3]); precision = sys.argv[4]
with open_checkpoint(sys.argv[2]) as ckpt:
    ad = get_adapter(ckpt.config)
    sizes = nin_mod.nin_level_sizes(ad)
    n = int(sum(sizes))
    centres = np.sort(np.random.default_rng(0).choice(n - sizes[-1], n_c, replace=False))
    radii = np.geomspace(50.0, 2000.0, 64)
    # compile (or load) the kernels before timing: a tiny network through the same calls
    rng = np.random.default_rng(1)
    tiny = [rng.uniform(1.0, 3.0, (a, b)) for a, b in ((9, 17), (17, 33))]
    tr = np.array([2.0, 4.0, 5.0])
    if precision == "f32":
        stream.stream_counts([9, 17, 33], (stream.LevelBlock(i, w.astype(np.float32)) for i, w in enumerate(tiny)),
                             np.arange(30), tr, block_at=lambda l: tiny[l])
        nin_mod.NinBlocks(ckpt, ad).block(0, np.float32), nin_mod.NinBlocks(ckpt, ad).block(0, np.float64)
    else:
        stream.stream_counts([9, 17, 33], (stream.LevelBlock(i, w) for i, w in enumerate(tiny)), np.arange(30), tr)
        next(nin_mod.iter_nin_blocks(ckpt, ad))
    t = time.process_time()
    if precision == "f32":  # float32 blocks from the fast reader, float64 columns for the resolution
        nb = nin_mod.NinBlocks(ckpt, ad, structural_distance=50.0)
        counts = stream.stream_counts(sizes, nb.iter(np.float32, lazy=True), centres, radii, columns_at=lambda l, c: nb.block(l, np.float64, c))
    else:  # exact float64 min-plus over the float64 blocks
        counts = stream.stream_counts(sizes, nin_mod.iter_nin_blocks(ckpt, ad, structural_distance=50.0), centres, radii)
    cpu = time.process_time() - t
stats = dict(getattr(stream, "LAST_STATS", {}))
np.save(sys.argv[5], counts)
hwm = int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024
print(json.dumps({"cpu": cpu, "sizes": sizes, "centres": centres.tolist(), "peak_rss_mb": hwm,
                  "reach_median": float(np.median(counts[:, -1])), "stats": stats,
                  "counts_sum": int(counts.sum())}))
"""


def _case_2p8b(args: argparse.Namespace) -> None:
    from mfa_engine.synthetic import PYTHIA_2P8B, write_gpt_neox_checkpoint

    shape = {**PYTHIA_2P8B, "vocab_size": 64, "num_hidden_layers": args.blocks}
    path = Path(args.ckpt_dir) / f"pythia2p8b-shaped-{args.blocks}"
    if not (path / "config.json").exists():
        path.mkdir(parents=True, exist_ok=True)
        write_gpt_neox_checkpoint(path, seed=0, **shape)
    import minplus_peak

    isa = _kernel_isa()
    peaks = {k: minplus_peak.measured_peak(runs=1, threads=1, kind=k, isa=isa) for k in ("float", "int")}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs = []
    for prec in args.precision.split(","):
        out = os.path.join(tempfile.gettempdir(), f"mfa-stream-counts-{prec}.npy")
        r = subprocess.run([sys.executable, "-c", _STREAM_WORKER, str(ROOT), str(path), str(args.centres), prec, out],
                           env=env, check=True, capture_output=True, text=True, cwd=str(ROOT))
        runs.append((prec, json.loads(r.stdout.strip().splitlines()[-1])))
        runs[-1][1]["counts_file"] = out
    sizes, centres = runs[0][1]["sizes"], np.array(runs[0][1]["centres"], np.int64)
    # work actually done: the structural blocks run on their heads' tiles
    areas = []
    for i in range(len(sizes) - 1):
        dense = float(sizes[i] * sizes[i + 1])
        areas.append(dense / shape["num_attention_heads"] * 3 if i % 5 == 1 else dense)
    relax = relaxations(sizes, centres, areas)
    print(f"2.8B-shaped, {args.blocks} block(s), {len(centres)} centres, {sum(sizes)} nodes, relax {relax:.4g}, "
          f"isa {isa}, peaks per thread CPU-s: float {peaks['float']:.3g} int {peaks['int']:.3g}")
    for prec, res in runs:
        st = res["stats"]
        rate = relax / res["cpu"]
        build = st.get("build_cpu_s", 0.0) + st.get("block_at_cpu_s", 0.0)
        print(f"[{prec}] cpu_s {res['cpu']:.2f}  relax_per_cpu_s {rate:.4g} ({100 * rate / peaks['float']:.0f} % float peak, "
              f"{100 * rate / peaks['int']:.0f} % int peak)  peak_rss_mb {res['peak_rss_mb']:.0f}  "
              f"median reach {res['reach_median']:.0f}  counts sum {res['counts_sum']}  load {os.getloadavg()[0]:.2f}")
        print(f"[{prec}] block building {build:.2f} s ({100 * build / res['cpu']:.0f} %: forward {st.get('build_cpu_s', 0.0):.2f}, "
              f"resolution's float64 columns {st.get('block_at_cpu_s', 0.0):.2f})  min-plus {st.get('minplus_cpu_s', 0.0):.2f} (kernel {st.get('kernel_cpu_s', 0.0):.2f})  "
              f"bucketing {st.get('bucket_cpu_s', 0.0):.2f}  spill {st.get('spill_cpu_s', 0.0):.2f} ({st.get('spill_bytes', 0) / 1e6:.0f} MB)  "
              f"resolution {st.get('resolve_cpu_s', 0.0):.2f} s ({st.get('resolved', 0)} entries resolved, "
              f"{st.get('moved', 0)} moved, {st.get('marks', 0)} marks, {st.get('edges', 0)} edges)")
    if len(runs) > 1:
        same = all(np.array_equal(np.load(runs[0][1]["counts_file"]), np.load(res["counts_file"])) for _, res in runs[1:])
        print(f"counts identical across {', '.join(p for p, _ in runs)}: {same}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sources", type=int, default=0, help="evenly spaced centres (0: all 30,720)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--before", default=None, help="root of an earlier revision to compare with")
    p.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "mfa-full-70m.npz"))
    p.add_argument("--case", choices=("70m", "2p8b"), default="70m")
    p.add_argument("--blocks", type=int, default=32, help="2p8b: transformer blocks written")
    p.add_argument("--centres", type=int, default=1200, help="2p8b: centres of the sample")
    p.add_argument("--precision", default="f32", help="2p8b: f32 (float32 pass + exact resolution), f64, or both: f32,f64")
    p.add_argument("--ckpt-dir", default=os.path.join(tempfile.gettempdir(), "mfa-bench-2p8b"))
    args = p.parse_args()
    if args.case == "2p8b":
        _case_2p8b(args)
        return
    import minplus_peak

    if not os.path.exists(args.data):
        build_70m(args.data)
    z = np.load(args.data)
    sizes = [int(s) for s in z["sizes"]]
    c = z["centres"] if args.sources <= 0 else z["centres"][np.linspace(0, z["centres"].size - 1, args.sources).astype(np.int64)]
    relax = relaxations(sizes, c, tile_areas(args.data))  # the work the engine does
    relax_dense = relaxations(sizes, c)  # the work of dense blocks (the earlier kernel)
    isa = _kernel_isa()
    rows: dict[str, list] = {}
    hist_new = os.path.join(tempfile.gettempdir(), "mfa-full-hist-new.npy")
    hist_old = os.path.join(tempfile.gettempdir(), "mfa-full-hist-old.npy")
    for _ in range(args.repeat):
        rows.setdefault("peak_float", []).append(minplus_peak.measured_peak(runs=1, threads=1, kind="float", isa=isa))
        rows.setdefault("peak_int", []).append(minplus_peak.measured_peak(runs=1, threads=1, kind="int", isa=isa))
        new = _worker(str(ROOT), args.data, args.sources, "engine,f32pass", hist_new)
        rows.setdefault("engine", []).append(new["engine"])
        rows.setdefault("f32pass", []).append(new["f32pass"])
        rows.setdefault("resolved", []).append(new["engine_stats"].get("resolved"))
        if args.before:
            old = _worker(args.before, args.data, args.sources, "engine", hist_old)
            rows.setdefault("before", []).append(old["engine"])
        rows.setdefault("load", []).append(os.getloadavg()[0])
    if args.before:
        same = bool(np.array_equal(np.load(hist_new)[:, :-1], np.load(hist_old)[:, :-1]))
        rows["ratio_new_over_before"] = [a / b for a, b in zip(rows["engine"], rows["before"])]
        rows["counts_identical_to_before"] = [same]
    per_src, _, _, cs, d = _scipy_per_core(args.data)
    engine_per_src = min(rows["engine"]) / c.size
    rows["scipy_cpu_s_per_source"] = [per_src]
    rows["x_scipy_per_core"] = [per_src / engine_per_src]
    # counts of the engine on the SciPy sources equal SciPy's
    from mfa_engine.layered import LayeredGraph
    from mfa_engine.paths import multi_source_counts

    radii = np.sort(z["radii"])
    g = LayeredGraph(sizes, [z[f"arr_{i}"] for i in range(len(sizes) - 1)])
    ours = multi_source_counts(g, cs, radii)
    rows["counts_equal_scipy"] = [bool(np.array_equal(ours, np.stack([(d <= r).sum(1) for r in radii], 1)))]
    for k in ("engine", "f32pass"):
        rate = [relax / t for t in rows[k]]
        rows[k + "_relax_per_cpu_s"] = rate
        rows[k + "_pct_float_peak"] = [100 * r / pk for r, pk in zip(rate, rows["peak_float"])]
        rows[k + "_pct_int_peak"] = [100 * r / pk for r, pk in zip(rate, rows["peak_int"])]
    rows["relaxations"] = [relax]
    rows["relaxations_dense"] = [relax_dense]
    rows["isa"] = [isa]
    rows["peak_rss_mb_children"] = [resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024]
    for k, v in rows.items():
        print(f"{k:28s} " + "  ".join(f"{x:.4g}" if isinstance(x, float) else str(x) for x in v))


if __name__ == "__main__":
    main()
