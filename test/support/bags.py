"""The bag tests' geometry, and a tiny artifact for the renderer's classes at that size."""
from __future__ import annotations

from pathlib import Path

H, W, FRAMES, FPS, SEED = 48, 64, 4, 15.0, 3


def make_artifact(directory: Path) -> Path:
    """A tiny artifact (width 0.25, 48x64 input) for the renderer's classes."""
    import torch

    from mtl_perception.data import CLASS_NAMES, PALETTE
    from mtl_perception.model import MultiTaskNet, NetConfig
    from mtl_perception.runtime import save_artifact

    torch.manual_seed(0)
    net = MultiTaskNet(NetConfig(num_classes=len(CLASS_NAMES), width=0.25)).eval()
    return save_artifact(
        net, directory / "art", class_names=CLASS_NAMES, palette=[tuple(int(v) for v in c) for c in PALETTE], input_size=(48, 64)
    )
