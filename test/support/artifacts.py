"""A small random-weight deploy artifact, for the node, runtime, CLI and tools tests."""
from __future__ import annotations

import os
from pathlib import Path


def make_tiny_artifact(path: str | os.PathLike[str], *, num_classes: int = 5, input_size: tuple[int, int] = (64, 80), seed: int = 0) -> Path:
    """A small random-weight deploy artifact."""
    import torch

    from mtl_perception.model import MultiTaskNet, NetConfig
    from mtl_perception.runtime import load_artifact, save_artifact

    palette = [((37 * i) % 256, (91 * i + 60) % 256, (151 * i + 120) % 256) for i in range(num_classes)]
    torch.manual_seed(seed)
    net = MultiTaskNet(NetConfig(num_classes=num_classes, width=0.25)).eval()
    directory = save_artifact(
        net,
        path,
        class_names=[f"class{i}" for i in range(num_classes)],
        palette=palette,
        input_size=input_size,
        name="tiny-test",
    )
    load_artifact(directory)  # fail here, not inside a node, if the artifact cannot be read back
    return directory
