"""``mfa tm``: TM loss (GeRe) utilities. ``mfa tm build-cache MODEL TEXTS.jsonl OUT/``."""

from __future__ import annotations

import argparse
import json

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``tm`` command and its subcommands to ``sub``."""
    p = sub.add_parser("tm", help="threshold-margin (TM) loss tools (GeRe replay)")
    tm_sub = p.add_subparsers(dest="tm_command", metavar="SUBCOMMAND")
    tm_sub.required = True
    b = tm_sub.add_parser(
        "build-cache",
        help="stream a model over replay texts into a packed-state replay cache",
        description="Two passes over TEXTS: per-dimension statistics, then 2-bit states, written "
        "atomically to OUT (states.bin, tokens.npy, lengths.npy, offsets.npy, mu.npy, sigma.npy, meta.json).",
    )
    b.add_argument("model", help="Hugging Face model directory (tokenizer files included)")
    b.add_argument("texts", help="replay texts, .jsonl (objects with --text-field, or strings)")
    b.add_argument("out", help="output cache directory")
    b.add_argument("--layer", type=int, default=-1, help="hidden_states index (default -1: last layer)")
    b.add_argument("--k", type=float, default=1.0, help="thresholds mu +- k*sigma (default 1.0)")
    b.add_argument("--max-length", type=int, default=512, help="truncation length in tokens (default 512)")
    b.add_argument("--batch-size", type=int, default=8, help="samples per forward pass (default 8)")
    b.add_argument("--text-field", default="text", help="jsonl field with the text (default 'text')")
    b.add_argument("--device", default="cpu", help="torch device (default cpu)")
    b.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    b.set_defaults(func=_run_build_cache)


def _run_build_cache(args: argparse.Namespace) -> int:
    from mfa_engine.tm.cache import ReplayCache, build_replay_cache

    out = build_replay_cache(
        args.model,
        args.texts,
        args.out,
        layer=args.layer,
        k=args.k,
        max_length=args.max_length,
        batch_size=args.batch_size,
        text_field=args.text_field,
        device=args.device,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    cache = ReplayCache(out)
    summary = {
        "cache": str(out),
        "n_samples": len(cache),
        "n_tokens": int(cache.meta["n_tokens"]),
        "hidden_size": cache.hidden_size,
        "states_bytes": int(cache.offsets[-1]),
    }
    print(json.dumps(summary))
    return 0
