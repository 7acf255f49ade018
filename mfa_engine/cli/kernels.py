"""``mfa kernels``: kernel tooling. ``mfa kernels check [--json OUT.json|-] [--arch 80 90]`` compiles every
Triton kernel and CUDA source ahead of time, reads registers, spills and the SASS of each
kernel's gated loop (useful-instruction share of the loop holding the loads for min-plus kernels,
global-load widths for the others; method in docs/gpu.md), CTAs per SM and the width of the K
loop's pointer offsets in the compiled IR, and fails on a compile error, a spill, a float32
min-plus kernel below 80% FADD + FMNMX on sm_90 or below 2 CTAs per SM, 32-bit K-loop offsets,
or a SASS gate that accepts the decoy kernel."""

from __future__ import annotations

import argparse

__all__ = ["register", "run_check"]


def register(sub: argparse._SubParsersAction) -> None:
    """Register ``mfa kernels`` and its ``check`` subcommand."""
    p = sub.add_parser("kernels", help="kernel tooling (ahead-of-time compilation check)")
    ksub = p.add_subparsers(dest="kernels_command", metavar="ACTION")
    ksub.required = True
    c = ksub.add_parser(
        "check",
        help="compile every Triton kernel and CUDA source for sm_80/sm_90; report registers, spills, CTAs "
        "per SM, K-loop offset width and SASS shares of the loop holding the loads; fail on errors, spills, "
        "32-bit K offsets, a min-plus kernel below 80%% useful on sm_90 or below 2 CTAs per SM, or a gate "
        "that accepts the decoy kernel",
    )
    c.add_argument("--json", metavar="OUT.json",
                   help='write a JSON list of {"kernel", "arch", "registers", "spill_bytes", "ok", "kind", '
                   '"useful_share", "loop", "load_widths", "shared_bytes", "ctas_per_sm", "k_offsets"} here '
                   '(\'-\': stdout, instead of the table)')
    c.add_argument("--arch", type=int, nargs="+", default=[80, 90], help="compute capabilities (default: 80 90)")
    c.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    """Run the AOT check; returns 0 when every kernel passed (no spills, SASS gate met), else 1."""
    import json
    import sys

    from mfa_engine.aot import check_all, check_archs, format_table
    from mfa_engine.io import atomic_write_json, check_output_path

    if args.json and args.json != "-":
        check_output_path(args.json)
    reports = check_all(check_archs(args.arch))
    if args.json == "-":
        print(json.dumps([r.to_dict() for r in reports], indent=1))
    else:
        print(format_table(reports))
    if args.json and args.json != "-":
        atomic_write_json(args.json, [r.to_dict() for r in reports])
        print(f"wrote {args.json}")
    for r in reports:
        if not r.ok:
            print(f"kernel check failed: {r.kernel} sm_{r.arch}: {r.error}", file=sys.stderr)
    return 0 if reports and all(r.ok for r in reports) else 1
