"""Small shared fixtures-as-functions for tests (no ROS)."""
from __future__ import annotations

import torch
from torch import nn


def randomise_batchnorm(model: nn.Module, generator: torch.Generator) -> None:
    """Give every BN non-trivial running statistics and affine parameters."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                n = module.num_features
                dtype = module.running_mean.dtype
                module.running_mean.copy_(torch.rand(n, generator=generator, dtype=dtype) * 2 - 1)
                module.running_var.copy_(torch.rand(n, generator=generator, dtype=dtype) * 1.5 + 0.5)
                module.weight.copy_(torch.rand(n, generator=generator, dtype=dtype) + 0.5)
                module.bias.copy_(torch.rand(n, generator=generator, dtype=dtype) - 0.5)


def perturb_parameters(model: nn.Module, generator: torch.Generator, scale: float = 0.05) -> None:
    """Move every parameter off its initial value (so collapse is tested away from init)."""
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn(param.shape, generator=generator, dtype=param.dtype) * scale)
