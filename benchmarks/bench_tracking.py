"""Step-time overhead of MFACallback on the tiny training run of examples/train_and_track.py.

    python benchmarks/bench_tracking.py [--rounds 2] [--steps 300] [--save-steps 50] [--out DIR]
                                        [--torch-threads N] [--worker thread|process]

Trains the example's tiny GPT-NeoX with ``Trainer`` alternately without and with the callback
(default analysis options: paper mode, 32 neurons per layer, 10 samples; analyses at the start
and at every save), ``--rounds`` times each, and prints per run the mean and median wall time
between consecutive optimizer steps (saves and callbacks included), the hand-over time on the
training thread, and the overhead of the tracked runs' mean step time over the baselines'.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _example():
    spec = importlib.util.spec_from_file_location("train_and_track", ROOT / "examples" / "train_and_track.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--save-steps", type=int, default=50)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--worker", choices=("thread", "process"), default="thread")
    parser.add_argument("--torch-threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args(argv)
    import os

    import torch
    import transformers as tf

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)

    tf.logging.set_verbosity_error()
    tf.utils.logging.disable_progress_bar()
    example = _example()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-tracking-"))
    os.environ.setdefault("TENSORBOARD_LOGGING_DIR", str(out / "tb"))
    means: dict[str, list[float]] = {"baseline": [], "tracked": []}
    rows = []
    for i in range(args.rounds):
        for kind in ("baseline", "tracked"):
            res = example.train(out / f"{kind}{i}", args.steps, args.save_steps, track=kind == "tracked",
                                worker=args.worker)
            periods = res["periods"]
            row = {"run": f"{kind}{i}", "mean_ms": 1000 * statistics.fmean(periods),
                   "median_ms": 1000 * statistics.median(periods), "runtime_s": res["runtime"]}
            if res["callback"] is not None:
                t = res["callback"].tracker
                row.update(handover_median_ms=1000 * statistics.median(t.handover_seconds),
                           analysed=t.analysed, skipped=t.skipped, failed=len(t.failures))
            means[kind].append(row["mean_ms"])
            rows.append(row)
            print(json.dumps(row), flush=True)
    base, tracked = statistics.fmean(means["baseline"]), statistics.fmean(means["tracked"])
    print(f"mean step: baseline {base:.1f} ms, tracked {tracked:.1f} ms, overhead {100 * (tracked / base - 1):+.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
