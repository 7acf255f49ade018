"""Compute kernels, installed as ``mfa_engine.kernels`` (never as a top-level ``kernels``).

Each kernel module defines private ``_name_kernel`` functions, public launchers, and an
``AOT_SPECS`` list consumed by ``mfa kernels check`` (ahead-of-time compilation for sm_80 and
sm_90). Importing this package imports nothing heavy; import the submodules explicitly.
"""

__all__: list[str] = []
