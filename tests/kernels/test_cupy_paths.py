"""CuPy RawKernel launchers: run only with CuPy and a CUDA device (compiled by test_aot otherwise)."""

from __future__ import annotations

import numpy as np
import pytest

from mfa_engine.kernels.cupy_paths import CUDA_SOURCES, cuda_source


def test_cuda_sources_are_packaged() -> None:
    for path, names in CUDA_SOURCES.items():
        text = cuda_source(path)
        for name in names:
            assert "void __launch_bounds__" in text and name in text


@pytest.mark.gpu
def test_cupy_backend_matches_scipy() -> None:
    cupy = pytest.importorskip("cupy")
    if cupy.cuda.runtime.getDeviceCount() == 0:  # pragma: no cover - needs a GPU
        pytest.skip("no CUDA device")
    from mfa_engine.paths import multi_source_counts
    from tests.paths.paths_graphs import layered_to_csr, oracle_counts, random_layered

    rng = np.random.default_rng(0)
    g = random_layered(rng, [33, 65, 17], 0.5, "float")
    m = layered_to_csr(g)
    src = np.arange(0, 115, 3)
    radii = np.linspace(0, 5, 11)
    np.testing.assert_array_equal(multi_source_counts(m, src, radii, backend="cupy"), oracle_counts(m, src, radii))
