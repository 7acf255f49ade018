"""Print the AVX-512 dispatch targets of the installed NumPy that this CPU supports, space
separated (for ``NPY_DISABLE_CPU_FEATURES``); nothing if there are none.

NumPy >= 2.3 names them X86_V4, AVX512_ICL, AVX512_SPR, ...; older versions AVX512F,
AVX512CD, AVX512_SKX, ... Baseline features cannot be disabled and are left out.
"""

from __future__ import annotations

try:
    from numpy._core._multiarray_umath import __cpu_baseline__, __cpu_dispatch__, __cpu_features__
except ImportError:  # NumPy 1.x
    from numpy.core._multiarray_umath import __cpu_baseline__, __cpu_dispatch__, __cpu_features__

names = [f for f in __cpu_dispatch__
         if (f.startswith("AVX512") or f == "X86_V4") and f not in __cpu_baseline__ and __cpu_features__.get(f)]
print(" ".join(names))
