"""Train a tiny GPT-NeoX with transformers' Trainer and watch its multifractal emergence E(t).

    python examples/train_and_track.py [--out train-and-track] [--steps 300] [--save-steps 50]
                                       [--baseline] [--worker thread|process]

A character-level GPT-NeoX (2 blocks, hidden 64) learns English from the docstrings of Python's
standard library (local text, nothing is downloaded) on the CPU. ``MFACallback`` analyses the
weights at the start and at every save with the default options of ``mfa analyze`` (paper
mode, 32 neurons per layer, 10 samples) in a background thread; the results go to the
results store ``OUT/mfa-store`` and, through ``Trainer.log``, to TensorBoard (``OUT/tb``):

    tensorboard --logdir OUT/tb          # train/mfa/paper/emergence, alpha0, width, ...
    mfa plot OUT/mfa-store --out OUT/plots

The script prints the E(t) it reads back from TensorBoard's event files, writes the plots of
``mfa plot``, and reports the mean training step time. With ``--baseline`` the same run is
trained first without the callback and the step-time overhead of tracking is printed.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import statistics
import time
import warnings
from pathlib import Path

import torch
import transformers as tf

import mfa_engine

_MODULES = ("collections", "functools", "itertools", "json", "os", "pathlib", "re", "string",
            "textwrap", "argparse", "logging", "typing", "inspect", "random", "statistics")


def local_text() -> str:
    """English text that ships with Python: docstrings of some standard-library modules."""
    parts = []
    for name in _MODULES:
        mod = importlib.import_module(name)
        parts.append(inspect.getdoc(mod) or "")
        for attr in sorted(dir(mod)):
            if attr.startswith("_"):
                continue
            with warnings.catch_warnings():  # e.g. typing.re is deprecated
                warnings.simplefilter("ignore", DeprecationWarning)
                obj = getattr(mod, attr, None)
                if inspect.isfunction(obj) or inspect.isclass(obj):
                    parts.append(inspect.getdoc(obj) or "")
    return "\n\n".join(p for p in parts if p)


class Windows(torch.utils.data.Dataset):
    """Random windows of the text as (input_ids, labels), one character per token."""

    def __init__(self, ids: torch.Tensor, seq_len: int, n: int, seed: int) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.ids, self.seq_len = ids, seq_len
        self.starts = torch.randint(0, len(ids) - seq_len - 1, (n,), generator=gen).tolist()

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        x = self.ids[self.starts[i] : self.starts[i] + self.seq_len]
        return {"input_ids": x, "labels": x}


class StepTimer(tf.TrainerCallback):
    """Wall time between the starts of consecutive optimizer steps (callbacks and saves included)."""

    def __init__(self) -> None:
        self.starts: list[float] = []

    def on_step_begin(self, args, state, control, **kwargs):
        self.starts.append(time.perf_counter())

    def periods(self) -> list[float]:
        return [b - a for a, b in zip(self.starts, self.starts[1:])]


def train(out: Path, steps: int, save_steps: int, *, track: bool, seed: int = 0, worker: str = "thread") -> dict:
    """One seeded training run; returns the step periods, the callback and the runtime.

    Both kinds of run log to TensorBoard; ``track`` adds the ``MFACallback``.
    """
    text = local_text()
    chars = sorted(set(text))
    ids = torch.tensor([chars.index(c) for c in text], dtype=torch.long)
    torch.manual_seed(seed)
    config = tf.GPTNeoXConfig(vocab_size=len(chars), hidden_size=64, num_hidden_layers=2,
                              num_attention_heads=4, intermediate_size=256, max_position_embeddings=128,
                              rotary_pct=0.25, tie_word_embeddings=False)
    model = tf.GPTNeoXForCausalLM(config)
    args = tf.TrainingArguments(
        output_dir=str(out / "checkpoints"), max_steps=steps, save_strategy="steps", save_steps=save_steps,
        save_only_model=True, per_device_train_batch_size=16, learning_rate=3e-3, logging_steps=10,
        report_to=["tensorboard"], use_cpu=True, seed=seed, disable_tqdm=True,
        run_name="tiny-gpt-neox",
    )
    timer = StepTimer()
    callbacks: list = [timer]
    if track:  # the default options of mfa analyze: paper mode, 32 neurons per layer, 10 samples
        callbacks.append(mfa_engine.MFACallback(out / "mfa-store", mfa_engine.AnalysisOptions(), worker=worker))
    trainer = tf.Trainer(model=model, args=args, train_dataset=Windows(ids, 64, steps * 16, seed),
                         callbacks=callbacks)
    trainer.remove_callback(tf.PrinterCallback)  # the logs go to TensorBoard, not to stdout
    t0 = time.perf_counter()
    trainer.train()
    return {"periods": timer.periods(), "runtime": time.perf_counter() - t0,
            "callback": callbacks[-1] if track else None}


def read_tensorboard(logdir: Path, tag: str = "train/mfa/paper/emergence") -> list[tuple[int, float]]:
    """``(step, value)`` of a scalar from TensorBoard's event files (tensorboard's own reader)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir))
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)] if tag in acc.Tags()["scalars"] else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("train-and-track"))
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--save-steps", type=int, default=50)
    parser.add_argument("--baseline", action="store_true", help="also train without tracking and compare")
    parser.add_argument("--worker", choices=("thread", "process"), default="thread")
    args = parser.parse_args(argv)
    os.environ.setdefault("TENSORBOARD_LOGGING_DIR", str(args.out / "tb"))
    tf.logging.set_verbosity_error()
    tf.utils.logging.disable_progress_bar()

    base = train(args.out / "baseline", args.steps, args.save_steps, track=False) if args.baseline else None
    run = train(args.out, args.steps, args.save_steps, track=True, worker=args.worker)
    tracker = run["callback"].tracker

    print("step   E(t)      95% interval          (read back from TensorBoard's event files)")
    ci = {r.step: r.entry.get("emergence_ci") for r in run["callback"].results}
    for step, value in read_tensorboard(Path(os.environ["TENSORBOARD_LOGGING_DIR"])):
        lo, hi = ci.get(step) or (float("nan"), float("nan"))
        print(f"{step:5d}  {value:+.4f}   [{lo:+.4f}, {hi:+.4f}]")
    from mfa_engine.cli.plot import plot_store

    for path in plot_store(args.out / "mfa-store", args.out / "plots", formats=("png",)):
        print(f"mfa plot: {path}")
    print(f"analysed steps {tracker.analysed}, skipped {tracker.skipped}, failed {len(tracker.failures)}")
    mean = statistics.fmean(run["periods"])
    handover = statistics.median(tracker.handover_seconds) if tracker.handover_seconds else 0.0
    print(f"tracked run: {run['runtime']:.1f} s, mean step {1000 * mean:.1f} ms "
          f"(hand-over on the training thread: median {1000 * handover:.1f} ms per analysed step)")
    if base is not None:
        b = statistics.fmean(base["periods"])
        print(f"baseline:    {base['runtime']:.1f} s, mean step {1000 * b:.1f} ms; "
              f"step-time overhead of tracking {100 * (mean / b - 1):+.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
