"""The ``mfa`` command line. Each subcommand lives in its own module with ``register(sub)``.

Subcommand modules must stay light at import: heavy imports go inside their ``run`` functions.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main", "build_parser"]

# Modules of this package that each define ``register(subparsers)``.
_SUBCOMMANDS = ("analyze", "batch", "cache", "demo", "kernels", "plot", "tm")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand registered."""
    import importlib

    from mfa_engine import __version__

    parser = argparse.ArgumentParser(
        prog="mfa",
        description="Multifractal analysis of neuron interaction networks in LLM checkpoints.",
    )
    parser.add_argument("--version", action="version", version=f"mfa-engine {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _SUBCOMMANDS:
        importlib.import_module(f"mfa_engine.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (errors print one line to stderr, code 2)."""
    from mfa_engine.cli.messages import as_cli_message
    from mfa_engine.errors import MFAError
    from mfa_engine.limits import check_settings

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        check_settings()  # every MFA_*/HF_* numeric setting, before any work
        return int(args.func(args) or 0)
    except MFAError as exc:
        print(f"error: {as_cli_message(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
