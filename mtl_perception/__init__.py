"""Compact multitask perception: segmentation, metric depth and surface normals in one pass."""

__version__ = "0.1.0"
