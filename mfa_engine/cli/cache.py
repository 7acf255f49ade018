"""``mfa cache info`` / ``mfa cache clear``: the range cache of Hub checkpoints."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from mfa_engine.checkpoints.range_cache import RangeCache

    cache = RangeCache(args.range_cache)
    if args.action == "clear":
        freed = cache.clear(args.repo)
        what = args.repo or "all repositories"
        print(f"cleared {what} from {cache.root}: {freed / 1e6:.1f} MB freed")
        return 0
    info = cache.info()
    print(f"range cache {info['root']}: {info['held_bytes'] / 1e6:.1f} MB of ranges held, "
          f"{info['allocated_bytes'] / 1e6:.1f} MB on disk, limit {info['limit'] / 1e9:.1f} GB")
    if not info["manifest"] and cache.root.is_dir() and any(True for _ in cache.root.iterdir()):
        print(f"  no manifest: if an older mfa-engine made this cache, `mfa cache clear --range-cache "
              f"{cache.root}` adopts and deletes it (the next analysis using it adopts it too)")
    for repo, entry in sorted(info["repos"].items()):
        print(f"  {repo}: {entry['commits']} commit(s), {entry['files']} file(s), "
              f"{entry['held_bytes'] / 1e6:.1f} MB")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``mfa cache``."""
    p = sub.add_parser("cache", help="show or clear the range cache of Hub checkpoints",
                       description="The range cache holds the byte ranges of Hub checkpoints "
                                   "that analyses fetched (keyed by repository, commit, file and "
                                   "range). Default folder: $MFA_RANGE_CACHE, else "
                                   "$HF_HOME/mfa-ranges.")
    p.add_argument("action", choices=("info", "clear"))
    p.add_argument("--range-cache", metavar="DIR", default=None, help="the range cache folder (default $MFA_RANGE_CACHE, else $HF_HOME/mfa-ranges)")
    p.add_argument("--repo", metavar="ORG/NAME", help="clear: only this repository")
    p.set_defaults(func=_run)
