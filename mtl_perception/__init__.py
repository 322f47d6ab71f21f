"""Compact multitask perception: segmentation, metric depth and surface normals in one pass."""

from .cpu_threads import configure_openmp

# Every entry point (CLI, node, tools, benchmarks) imports this package before torch, so the
# OpenMP defaults that hold up on a shared CPU are in force when libgomp reads them.
configure_openmp()

__version__ = "0.1.0"
