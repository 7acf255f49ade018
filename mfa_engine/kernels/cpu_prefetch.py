"""A software-prefetch hint for numba kernels (LLVM's ``llvm.prefetch``).

``prefetch(arr, i)`` asks the CPU to bring the cache line of ``arr[i]`` closer ahead of use.
It never faults and changes no value, so an index past the end is harmless; it only costs an
instruction. Used by the bounded Dijkstra of ``kernels/cpu_sssp.py`` to fetch the CSR offset of
a node when it is queued, long before it is settled.
"""

from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

__all__ = ["prefetch", "prefetch_l2"]


def _prefetch_codegen(locality: int):
    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        # (address, 0 = read, locality 3: all cache levels / 2: not L1, 1 = data cache)
        builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 0), ir.Constant(i32, locality), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return codegen


@intrinsic
def prefetch(typingctx, arr, idx):  # noqa: ARG001 - numba's intrinsic signature
    """Prefetch ``arr[idx]`` for reading into all cache levels (no bounds check, no wraparound).

    Args:
        arr: A numba array. idx: An integer index.
    """
    if not isinstance(arr, types.Array) or not isinstance(idx, types.Integer):
        return None
    return types.void(arr, idx), _prefetch_codegen(3)


@intrinsic
def prefetch_l2(typingctx, arr, idx):  # noqa: ARG001 - numba's intrinsic signature
    """:func:`prefetch` into the outer levels only (``prefetcht1``: L2 and beyond, not L1), for
    data wanted soon but not before the L1-resident data in use now."""
    if not isinstance(arr, types.Array) or not isinstance(idx, types.Integer):
        return None
    return types.void(arr, idx), _prefetch_codegen(2)
