"""Resolve a user's device string into a torch.device, with errors that say what is wrong."""
from __future__ import annotations

import re

import torch

_DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def resolve_device(spec: str = "auto") -> torch.device:
    """'auto' → the first CUDA device if there is one, else CPU; 'cuda[:N]' must exist."""
    if not isinstance(spec, str) or not _DEVICE_PATTERN.match(spec):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {spec!r}")
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {spec!r} requested but CUDA is not available (use 'cpu' or 'auto')")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {spec!r} does not exist ({torch.cuda.device_count()} CUDA device(s))")
    return device
