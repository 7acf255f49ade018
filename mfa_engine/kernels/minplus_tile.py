"""Register-blocked min-plus micro-kernel, written as LLVM IR with explicit vector types.

numba runs LLVM with SLP vectorization off and its loop vectorizer only widens innermost loops,
so from numba source the accumulators of an ``MR x NR`` tile cannot stay in vector registers
across the reduction loop. These ``@intrinsic`` functions emit the whole tile loop through
llvmlite's IRBuilder instead:

    acc[r][v] = C[r, v*L : (v+1)*L]                      for r < MR, v < NV  (L lanes)
    for t in range(nk):
        k = kidx[t]
        x_r = splat(X[r, k])                             (one broadcast per source row)
        w_v = W[k, v*L : (v+1)*L]                        (one vector load per column vector)
        acc[r][v] = min(acc[r][v], x_r + w_v)            (vaddps + vminps / vpminud)
    C[r, v*L : (v+1)*L] = acc[r][v]

The minimum is ``select(t < acc, t, acc)`` (``vminps``, the same choice as the scalar code's
``t if t < c else c``) or, with ``intmin``, the unsigned minimum of the float32 bit patterns
(``vpminud``: exact for non-negative floats, +inf ordering last; it runs in the integer pipes
beside the float adds). ``kidx`` lists the reduction steps where some of the tile's sources
are finite, so steps where all of them are +inf (beyond the cutoff) cost nothing.

Tile shapes per ISA level (:func:`isa_level` picks the widest the host has, at run time):

* AVX2 (16 vector registers of 8 float32 lanes): 4 x 2 vectors (8 accumulators + 2 weight
  vectors + a broadcast + a temporary);
* AVX-512 (32 registers of 16 lanes): 4 x 4 vectors.

float64 uses the same shapes with half the lanes (no integer minimum: there is no packed
unsigned 64-bit minimum below AVX-512).
"""

from __future__ import annotations

import functools

from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["ISA_AVX2", "ISA_AVX512", "ISA_NONE", "MR", "NV", "VEC_BYTES", "isa_level", "tile_cols", "tile_minplus"]

#: No micro-kernel (the loop-vectorised numba code of :mod:`mfa_engine.kernels.cpu_minplus`).
ISA_NONE = 0
#: 256-bit vectors (AVX2).
ISA_AVX2 = 1
#: 512-bit vectors (AVX-512F).
ISA_AVX512 = 2

#: Source rows of a tile per ISA level.
MR = (0, 4, 4)
#: Column vectors of a tile per ISA level.
NV = (0, 2, 4)
#: Bytes of one vector register per ISA level.
VEC_BYTES = (0, 32, 64)


@functools.lru_cache(maxsize=1)
def isa_level() -> int:
    """Widest vector ISA of this host the micro-kernel has a tile for, probed at run time from
    LLVM's host CPU features (what numba compiles for): :data:`ISA_AVX512` with ``avx512f``,
    :data:`ISA_AVX2` with ``avx2``, else :data:`ISA_NONE`."""
    import llvmlite.binding as llb

    feats = llb.get_host_cpu_features()
    if feats.get("avx512f", False):
        return ISA_AVX512
    if feats.get("avx2", False):
        return ISA_AVX2
    return ISA_NONE


def tile_cols(isa: int, itemsize: int) -> int:
    """Columns of one tile (``NV`` vectors) for an ISA level and a float size in bytes."""
    return NV[isa] * VEC_BYTES[isa] // itemsize if isa else 0


def _data_ptr(context, builder, aty, val):
    return context.make_array(aty)(context, builder, val).data


def _make(mr: int, nv: int, vbytes: int, intmin: bool):
    """The intrinsic for an ``mr x nv`` tile of ``vbytes``-byte vectors."""

    @intrinsic
    def tile(typingctx, c, c_off, ldc, x, x_off, ldx, w, w_off, ldw, kidx, k_off, nk):
        for a in (c, x, w):
            if not (isinstance(a, types.Array) and isinstance(a.dtype, types.Float)):
                return None
        if not (c.dtype == x.dtype == w.dtype):
            return None
        if not (isinstance(kidx, types.Array) and isinstance(kidx.dtype, types.Integer)):
            return None
        i64 = types.int64
        sig = types.void(c, i64, i64, x, i64, i64, w, i64, i64, kidx, i64, i64)
        fbits = c.dtype.bitwidth
        use_int = intmin and fbits == 32

        def codegen(context, builder, signature, args):
            cv, c_o, c_ld, xv, x_o, x_ld, wv, w_o, w_ld, kv, k_o, n = args
            aty = signature.args
            cp = _data_ptr(context, builder, aty[0], cv)
            xp = _data_ptr(context, builder, aty[3], xv)
            wp = _data_ptr(context, builder, aty[6], wv)
            kp = _data_ptr(context, builder, aty[9], kv)
            ft = ir.FloatType() if fbits == 32 else ir.DoubleType()
            lanes = vbytes * 8 // fbits
            vt = ir.VectorType(ft, lanes)
            it = ir.VectorType(ir.IntType(fbits), lanes)
            vpt = vt.as_pointer()
            al = fbits // 8
            i64t = ir.IntType(64)
            i32t = ir.IntType(32)
            zero_mask = ir.Constant(ir.VectorType(i32t, lanes), [0] * lanes)

            def vload(base, off):
                p = builder.bitcast(builder.gep(base, [off]), vpt)
                v = builder.load(p, align=al)
                return builder.bitcast(v, it) if use_int else v

            def vstore(val, base, off):
                if use_int:
                    val = builder.bitcast(val, vt)
                p = builder.bitcast(builder.gep(base, [off]), vpt)
                builder.store(val, p, align=al)

            def col(v):
                return ir.Constant(i64t, v * lanes)

            crow = [builder.add(c_o, builder.mul(ir.Constant(i64t, r), c_ld)) for r in range(mr)]
            xrow = [builder.add(x_o, builder.mul(ir.Constant(i64t, r), x_ld)) for r in range(mr)]
            acc0 = [[vload(cp, builder.add(crow[r], col(v))) for v in range(nv)] for r in range(mr)]
            entry = builder.block
            loop = builder.append_basic_block("mp_tile_loop")
            done = builder.append_basic_block("mp_tile_done")
            zero64 = ir.Constant(i64t, 0)
            builder.cbranch(builder.icmp_signed(">", n, zero64), loop, done)

            builder.position_at_end(loop)
            t_phi = builder.phi(i64t)
            t_phi.add_incoming(zero64, entry)
            acc_phi = [[builder.phi(it if use_int else vt) for _ in range(nv)] for _ in range(mr)]
            for r in range(mr):
                for v in range(nv):
                    acc_phi[r][v].add_incoming(acc0[r][v], entry)
            k = builder.load(builder.gep(kp, [builder.add(t_phi, k_o)]))
            if k.type.width < 64:
                k = builder.sext(k, i64t)
            wrow = builder.add(w_o, builder.mul(k, w_ld))
            wvec = []
            for v in range(nv):
                p = builder.bitcast(builder.gep(wp, [builder.add(wrow, col(v))]), vpt)
                wvec.append(builder.load(p, align=al))
            new = [[None] * nv for _ in range(mr)]
            for r in range(mr):
                xs = builder.load(builder.gep(xp, [builder.add(xrow[r], k)]))
                xb = builder.insert_element(ir.Constant(vt, ir.Undefined), xs, ir.Constant(i32t, 0))
                xb = builder.shuffle_vector(xb, ir.Constant(vt, ir.Undefined), zero_mask)
                for v in range(nv):
                    s = builder.fadd(xb, wvec[v])
                    a = acc_phi[r][v]
                    if use_int:
                        si = builder.bitcast(s, it)
                        new[r][v] = builder.select(builder.icmp_unsigned("<", si, a), si, a)
                    else:
                        new[r][v] = builder.select(builder.fcmp_ordered("<", s, a), s, a)
            t_next = builder.add(t_phi, ir.Constant(i64t, 1))
            t_phi.add_incoming(t_next, loop)
            for r in range(mr):
                for v in range(nv):
                    acc_phi[r][v].add_incoming(new[r][v], loop)
            builder.cbranch(builder.icmp_signed("<", t_next, n), loop, done)

            builder.position_at_end(done)
            fin = [[builder.phi(it if use_int else vt) for _ in range(nv)] for _ in range(mr)]
            for r in range(mr):
                for v in range(nv):
                    fin[r][v].add_incoming(acc0[r][v], entry)
                    fin[r][v].add_incoming(new[r][v], loop)
            for r in range(mr):
                for v in range(nv):
                    vstore(fin[r][v], cp, builder.add(crow[r], col(v)))
            return context.get_dummy_value()

        return sig, codegen

    return tile


# One intrinsic per (ISA level, rows, integer minimum); rows < MR serve groups of fewer sources.
_T2 = [[_make(m, NV[ISA_AVX2], VEC_BYTES[ISA_AVX2], im) for im in (False, True)] for m in range(1, MR[ISA_AVX2] + 1)]
_T5 = [[_make(m, NV[ISA_AVX512], VEC_BYTES[ISA_AVX512], im) for im in (False, True)]
       for m in range(1, MR[ISA_AVX512] + 1)]  # fmt: skip
_a1f, _a1i = _T2[0]
_a2f, _a2i = _T2[1]
_a3f, _a3i = _T2[2]
_a4f, _a4i = _T2[3]
_z1f, _z1i = _T5[0]
_z2f, _z2i = _T5[1]
_z3f, _z3i = _T5[2]
_z4f, _z4i = _T5[3]


@njit(fastmath=False, cache=True)
def tile_minplus(isa, intmin, mr, c, c_off, ldc, x, x_off, ldx, w, w_off, ldw, kidx, nk, k_off=0):
    """One register tile: ``C[r, j] = min(C[r, j], min_t X[r, kidx[t]] + W[kidx[t], j])`` for
    ``r < mr`` (1 <= mr <= ``MR[isa]``) and ``j < tile_cols(isa, itemsize)``.

    Args:
        isa: :data:`ISA_AVX2` or :data:`ISA_AVX512` (the tile's vector width and shape).
        intmin: Minima on the unsigned bit patterns (float32 only; ignored for float64).
        mr: Source rows of this tile.
        c: float [*] accumulator memory; row r starts at ``c_off + r * ldc``.
        x: float [*] source distances (+inf beyond the cutoff); row r at ``x_off + r * ldx``.
        w: float [*] weights; reduction row k at ``w_off + k * ldw``.
        kidx: int [k_off + nk] reduction steps to apply (the others are all-+inf for these rows).
        nk: Number of steps.
        k_off: First entry of ``kidx`` to use (an offset rather than a slice: a slice is a new
            array whose reference count every call would update).
    """
    im = intmin and c.itemsize == 4
    if isa == ISA_AVX512:
        if mr == 4:
            if im:
                _z4i(c, c_off, ldc, x, x_off, ldx, w, w_off, ldw, kidx, k_off, nk)
            else:
                _z4f(c, c_off, ldc, x, x_off, ldx, w, w_off, ldw, kidx, k_off, nk)
        elif mr == 3:
            if im:
                _z3i(c, c_off, ldc, x, x_off, ldx, w, w_off, ldw, kidx, k_off, nk)
            else:
                _z3f(c, c_off, ldc, x, x_off, ldx, w, w_off, ldw, kidx, k_off, nk)
        elif mr == 2:
            if im:
                _z2i(c, c_off, ldc, x, x_off, ldx, w, w_off, ldw, kidx, k_off, nk)
            else:
                _z2f(c, c_off, ldc, x, x_off, ldx, w, w_off, ldw, kidx, k_off, nk)
        elif im:
            _z1i(c, c_off, ldc, x, x_off, ldx, w, w_off, ldw, kidx, k_off, nk)
        else:
            _z1f(c, c_off, ldc, x, x_off, ldx, w, w_off, ldw, kidx, k_off, nk)
        return
    if mr == 4:
        if im:
            _a4i(c, c_off, ldc, x, x_off, ldx, w, w_off, ldw, kidx, k_off, nk)
        else:
            _a4f(c, c_off, ldc, x, x_off, ldx, w, w_off, ldw, kidx, k_off, nk)
    elif mr == 3:
        if im:
            _a3i(c, c_off, ldc, x, x_off, ldx, w, w_off, ldw, kidx, k_off, nk)
        else:
            _a3f(c, c_off, ldc, x, x_off, ldx, w, w_off, ldw, kidx, k_off, nk)
    elif mr == 2:
        if im:
            _a2i(c, c_off, ldc, x, x_off, ldx, w, w_off, ldw, kidx, k_off, nk)
        else:
            _a2f(c, c_off, ldc, x, x_off, ldx, w, w_off, ldw, kidx, k_off, nk)
    elif im:
        _a1i(c, c_off, ldc, x, x_off, ldx, w, w_off, ldw, kidx, k_off, nk)
    else:
        _a1f(c, c_off, ldc, x, x_off, ldx, w, w_off, ldw, kidx, k_off, nk)
