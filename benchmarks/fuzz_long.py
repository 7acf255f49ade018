"""Long run of the fuzz/property harness (tests/fuzz/) with a large example budget.

Properties: CSR graphs, safetensors files, the results store, the CLI, NetworkX graphs with
hostile weight kinds and cutoffs against NetworkX itself (``nx``), config.json structure
(``config``), store keys under moving Hub commits and changing local files (``identity``),
the numeric MFA_*/HF_* settings (``settings``), range cache tampering (``cache``,
``cache-open``, ``cache-held``: truncate, flip, symbolic links in place of mirrors, logs and
repository folders, removal, eviction and clear under an open reader of this process and of
another running process), and served file names (``names``: NUL, control characters,
backslashes, ``..``, absolute, empty and over-long names through the range cache and an index).

The pytest suite runs a fast, derandomised slice of the same properties (a few dozen examples
each); this script runs them with ``MFA_FUZZ_EXAMPLES`` examples per property (default 300)
and fresh random draws, then prints how many cases each property ran and how they ended
("ok" = a correct result, "error" = an accepted one-line error). Any failure is reported by
pytest/hypothesis with its minimal failing example, and the script exits non-zero.

Run:  .venv/bin/python benchmarks/fuzz_long.py [EXAMPLES] [-k EXPR]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    examples = argv[0] if argv and argv[0].isdigit() else "300"
    rest = argv[1:] if argv and argv[0].isdigit() else argv
    os.environ["MFA_FUZZ_EXAMPLES"] = examples
    os.environ["MFA_FUZZ_RANDOM"] = "1"
    sys.path.insert(0, str(ROOT))
    import pytest

    code = pytest.main(["-q", "-p", "no:cacheprovider", str(ROOT / "tests" / "fuzz"), *rest])
    from tests.fuzz.harness import COUNTS

    total = sum(COUNTS.values())
    print(f"\nfuzz harness, {examples} examples per property: {total} cases run")
    for prop in sorted({p for p, _ in COUNTS}):
        ok, err = COUNTS[(prop, "ok")], COUNTS[(prop, "error")]
        print(f"  {prop:<14} {ok + err:>6} cases: {ok:>6} correct results, {err:>6} one-line errors")
    print("result:", "no failures" if code == 0 else f"FAILURES (pytest exit {code})")
    return int(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
