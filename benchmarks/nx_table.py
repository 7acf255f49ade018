"""Print the NetworkX-backend table: seconds of NetworkX and of the ``mfa`` backend (cold:
conversion and result dicts included) and the ratio, with results checked identical.

Run:  .venv/bin/python benchmarks/nx_table.py [--cases all_pairs_rgg4000 ...] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nx_cases import NX_CASES, best, make_nx_case, run_mfa, run_nx, same  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", nargs="+", default=list(NX_CASES), choices=NX_CASES)
    p.add_argument("--repeat", type=int, default=3, help="runs of the backend per round (best kept)")
    p.add_argument("--rounds", type=int, default=1, help="side-by-side rounds (NetworkX once per round)")
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")
    print(f"{'case':<22} {'round':>5} {'networkx s':>11} {'mfa s':>8} {'x networkx':>10}  identical")
    for name in args.cases:
        g, call = make_nx_case(name)
        run_mfa(g, call)  # compile the kernels
        for r in range(args.rounds):
            t_nx, ref = best(lambda g=g, call=call: run_nx(g, call), 1)
            t_mfa, got = best(lambda g=g, call=call: run_mfa(g, call), args.repeat)
            print(f"{name:<22} {r:>5} {t_nx:>11.3f} {t_mfa:>8.3f} {t_nx / t_mfa:>10.1f}  {same(got, ref)}")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
