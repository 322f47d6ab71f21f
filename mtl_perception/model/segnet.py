"""Compact SegNet (MTAN NYUv2 style): conv stages with max-pool indices and a mirrored unpooling decoder."""
from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from .layers import ConvUnit

# What the encoder hands the decoder: the deepest map, and per stage its pool indices and size.
SegNetFeatures = tuple[Tensor, list[tuple[Tensor, tuple[int, int]]]]


class SegNetEncoder(nn.ModuleList):
    """Two 3×3 units per stage, each stage max-pooled by 2 (indices kept for unpooling)."""

    def __init__(self, channels: tuple[int, ...], in_channels: int, *, fused: bool) -> None:
        stages, previous = [], in_channels
        for width in channels:
            stages.append(nn.Sequential(ConvUnit(previous, width, fused=fused), ConvUnit(width, width, fused=fused)))
            previous = width
        super().__init__(stages)

    def forward(self, x: Tensor) -> SegNetFeatures:
        pooled = []
        for stage in self:
            x = stage(x)
            # Plain ints: a traced graph (the torchscript backend) keeps them as constants.
            size = (int(x.shape[-2]), int(x.shape[-1]))
            x, indices = F.max_pool2d(x, 2, 2, return_indices=True)
            pooled.append((indices, size))
        return x, pooled


class SegNetDecoder(nn.ModuleList):
    """Mirror of the encoder: unpool with its indices, then two 3×3 units per stage."""

    def __init__(self, channels: tuple[int, ...], *, fused: bool) -> None:
        stages = []
        for index in reversed(range(len(channels))):
            width, target = channels[index], channels[max(index - 1, 0)]
            stages.append(nn.Sequential(ConvUnit(width, width, fused=fused), ConvUnit(width, target, fused=fused)))
        super().__init__(stages)
        self.out_channels = channels[0]

    def forward(self, features: SegNetFeatures) -> Tensor:
        x, pooled = features
        for stage, (indices, size) in zip(self, reversed(pooled)):
            x = F.max_unpool2d(x, indices, 2, 2, output_size=size)
            x = stage(x)
        return x
