"""Parameter and multiply-accumulate counts."""
from __future__ import annotations

import torch
from torch import nn


def count_parameters(model: nn.Module) -> int:
    """Distinct trainable tensors' elements (a shared basis counts once)."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, height: int, width: int) -> int:
    """Multiply-accumulates of one forward pass at H×W, counted over nn.Conv2d layers."""
    total = 0

    def hook(module: nn.Conv2d, _inputs, output) -> None:
        nonlocal total
        k_h, k_w = module.kernel_size
        total += output[0].numel() * (module.in_channels // module.groups) * k_h * k_w

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    reference = next(model.parameters())
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, model.config.in_channels, height, width, dtype=reference.dtype, device=reference.device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return total
