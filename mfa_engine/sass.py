"""Static SASS analysis of a compiled kernel: the useful-instruction share of its hottest loop.

No GPU is needed: the cubin is disassembled with ``cuobjdump -sass`` and read as text. The
method (documented in ``docs/gpu.md``):

1. **Instructions.** Every line ``/*addr*/  [@P] OPCODE operands ;`` of the function is one
   instruction; ``NOP`` (alignment padding) is dropped.
2. **Loops.** A branch (``BRA``) whose target address is at or before its own address closes a
   loop whose body is ``[target, branch]`` (both included). A branch to itself (the ``EXIT``
   trap at the end of every function) is not a loop.
3. **Hottest loop.** Among all loops, those whose body holds the most useful instructions; of
   these the innermost (shortest body). A loop nested in it (e.g. a tile-load loop inside the K
   loop) is counted once, as straight-line code. For a min-plus kernel that is the K loop by
   construction: it performs ``K * BM * BN`` add+min pairs, every other loop (epilogue,
   histogram) is O(BM * BN * log R) per tile.
4. **Useful instructions.** For min-plus: ``FADD`` and ``FMNMX`` (any modifiers, including the
   three-input ``FMNMX3`` and packed ``FADD2`` of newer architectures, each counted once as an
   instruction). The share is ``useful / all instructions of the body``. On sm_80/sm_90 one
   relaxation ``acc = min(acc, a + b)`` is exactly one FADD and one FMNMX, so 100% would mean the
   loop does nothing but relaxations; loads, address arithmetic, barriers and the loop branch
   are the overhead.

**The gate** (:func:`gate_loop`, what ``mfa kernels check`` applies) does not trust step 3
alone: a loop that never runs (a decoy) could hold the most useful instructions. The gated loop
is the loop that holds the kernel's global or shared loads (``LDG``, ``LDS``, ``LDGSTS``) and,
among those, the most useful instructions; its useful count per trip must equal the count the
tile shape gives (``2 * TJ * TS * UNROLL`` for a float32 min-plus loop); and no other loop outside
it may hold a comparable amount of min-plus work (then the SASS cannot tell which one runs).

For other kernels (TM loss) :func:`global_load_widths` reports the vector width of the global
loads instead.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Instr",
    "LoopStats",
    "parse_sass",
    "disassemble",
    "hottest_loop",
    "useful_share",
    "global_load_widths",
    "GateResult",
    "gate_loop",
    "LOAD_OPS",
    "MINPLUS_USEFUL",
    "MINPLUS_FP64_USEFUL",
]

#: Opcode stems counted as useful in a min-plus loop.
MINPLUS_USEFUL = ("FADD", "FMNMX")
#: Float64 min-plus (reported, not gated): DADD, and the DSETP + two FSEL of each minimum
#: (sm_80/sm_90 have no float64 min instruction).
MINPLUS_FP64_USEFUL = ("DADD", "DSETP", "FSEL")

#: Opcodes of the loads that feed a min-plus loop (global, shared, and async global -> shared).
LOAD_OPS = ("LDG", "LDS", "LDGSTS", "LDSM")

_LINE = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(@!?U?P[T0-9]+\s+)?([A-Z][A-Z0-9_]*)((?:\.[A-Z0-9_]+)*)([^;]*);")
_FUNC = re.compile(r"Function\s*:\s*(\S+)")


@dataclass(frozen=True)
class Instr:
    """One SASS instruction.

    Attributes:
        addr: Byte address in the function.
        opcode: Opcode without modifiers, e.g. "FMNMX".
        mods: Modifiers, e.g. ".128" or ".E.128".
        operands: Operand text.
    """

    addr: int
    opcode: str
    mods: str
    operands: str


@dataclass
class LoopStats:
    """Instruction classes of one loop body.

    Attributes:
        start: First address of the body. end: Address of the closing branch.
        total: Instructions in the body (NOPs excluded).
        useful: FADD + FMNMX instructions.
        classes: Opcode -> count.
    """

    start: int
    end: int
    total: int
    useful: int
    classes: dict[str, int] = field(default_factory=dict)

    @property
    def loads(self) -> int:
        """Global and shared loads in the body (:data:`LOAD_OPS`)."""
        return sum(n for op, n in self.classes.items() if op in LOAD_OPS)

    @property
    def share(self) -> float:
        """useful / total (0 for an empty body)."""
        return self.useful / self.total if self.total else 0.0


def parse_sass(text: str) -> dict[str, list[Instr]]:
    """Parse ``cuobjdump -sass`` text into function name -> instructions (NOPs dropped)."""
    funcs: dict[str, list[Instr]] = {}
    cur: list[Instr] | None = None
    for line in text.splitlines():
        m = _FUNC.search(line)
        if m:
            cur = funcs.setdefault(m.group(1), [])
            continue
        m = _LINE.search(line)
        if m and cur is not None and m.group(3) != "NOP":
            cur.append(Instr(int(m.group(1), 16), m.group(3), m.group(4), m.group(5).strip()))
    return funcs


def disassemble(cubin: Path, cuobjdump: str) -> dict[str, list[Instr]]:
    """Disassemble a cubin with ``cuobjdump -sass`` and parse it."""
    res = subprocess.run([cuobjdump, "-sass", str(cubin)], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"cuobjdump -sass failed on {cubin.name}: {res.stderr.strip()[:200]}")
    return parse_sass(res.stdout)


def _loops(instrs: list[Instr]) -> list[tuple[int, int]]:
    out = []
    for ins in instrs:
        if ins.opcode != "BRA":
            continue
        m = re.search(r"0x([0-9a-f]+)", ins.operands)
        if m is None:
            continue
        target = int(m.group(1), 16)
        if target < ins.addr:
            out.append((target, ins.addr))
    return out


def _stats(instrs: list[Instr], start: int, end: int, useful_ops: tuple[str, ...]) -> LoopStats:
    body = [i for i in instrs if start <= i.addr <= end]
    classes = Counter(i.opcode for i in body)
    useful = sum(n for op, n in classes.items() if op.startswith(useful_ops))
    return LoopStats(start, end, len(body), useful, dict(classes))


def hottest_loop(instrs: list[Instr], useful_ops: tuple[str, ...] = MINPLUS_USEFUL) -> LoopStats | None:
    """The innermost of the loops holding the most useful instructions (None without a loop)."""
    best = None
    for s, e in _loops(instrs):
        st = _stats(instrs, s, e, useful_ops)
        if best is None or (st.useful, -st.total) > (best.useful, -best.total):
            best = st
    return best


def useful_share(instrs: list[Instr], useful_ops: tuple[str, ...] = MINPLUS_USEFUL) -> float:
    """Useful-instruction share of the hottest loop (0.0 when the function has no loop)."""
    st = hottest_loop(instrs, useful_ops)
    return st.share if st is not None else 0.0


def global_load_widths(instrs: list[Instr]) -> dict[int, int]:
    """Global loads by width in bits (``LDG.E`` = 32, ``LDG.E.64`` = 64, ``LDG.E.128`` = 128, ...)."""
    out: Counter[int] = Counter()
    for ins in instrs:
        if ins.opcode != "LDG":
            continue
        m = re.search(r"\.(U8|S8|U16|S16|64|128)\b", ins.mods)
        width = {"U8": 8, "S8": 8, "U16": 16, "S16": 16, "64": 64, "128": 128}.get(m.group(1)) if m else 32
        out[width] += 1
    return dict(sorted(out.items()))


@dataclass
class GateResult:
    """Outcome of :func:`gate_loop`.

    Attributes:
        loop: The gated loop (the one holding the loads and the most useful instructions), or None.
        problems: Why the gate fails ([] when it passes).
    """

    loop: LoopStats | None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the gate passes."""
        return not self.problems


def gate_loop(
    instrs: list[Instr],
    useful_ops: tuple[str, ...] = MINPLUS_USEFUL,
    *,
    min_share: float | None = None,
    useful_per_trip: int | None = None,
    rival_fraction: float = 0.25,
) -> GateResult:
    """The SASS gate of a min-plus kernel, robust to loops that never run.

    Args:
        instrs: The function's instructions (:func:`parse_sass`).
        useful_ops: Opcode stems counted as useful.
        min_share: Fail below this useful share in the gated loop (None: not checked).
        useful_per_trip: Expected useful instructions per trip from the tile shape (None: not
            checked).
        rival_fraction: Fail when a loop that neither contains nor is inside the gated loop holds
            at least this fraction of its useful instructions.

    Returns:
        A :class:`GateResult`: the gated loop is the loop holding at least one global or shared
        load, with the most useful instructions (innermost on ties).
    """
    stats = [_stats(instrs, s, e, useful_ops) for s, e in _loops(instrs)]
    fed = [st for st in stats if st.loads > 0 and st.useful > 0]
    if not fed:
        return GateResult(None, ["no loop holds both the kernel's loads and its useful instructions"])
    g = max(fed, key=lambda st: (st.useful, -st.total))
    res = GateResult(g)
    if useful_per_trip is not None and g.useful != useful_per_trip:
        res.problems.append(f"the loop holding the loads has {g.useful} useful instructions per trip; the tile "
                            f"shape gives {useful_per_trip}")  # fmt: skip
    for st in stats:
        nested = (st.start <= g.start and g.end <= st.end) or (g.start <= st.start and st.end <= g.end)
        if not nested and st.useful >= max(1, rival_fraction * g.useful):
            res.problems.append(f"another loop [{st.start:#x}, {st.end:#x}] holds {st.useful} useful instructions "
                                f"({st.loads} loads): the gate cannot tell which loop runs")  # fmt: skip
            break
    if min_share is not None and g.share < min_share:
        res.problems.append(f"the loop holding the loads is {g.share:.1%} useful (< {min_share:.0%})")
    return res
