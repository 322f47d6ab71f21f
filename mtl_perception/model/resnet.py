"""Residual encoder (stride-2 stages) and a decoder that upsamples and adds the encoder's skips."""
from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from .layers import ConvUnit


class ResidualBlock(nn.Module):
    """Two 3×3 units with an identity or 1×1 projection shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, *, fused: bool) -> None:
        super().__init__()
        self.conv1 = ConvUnit(in_channels, out_channels, 3, stride, fused=fused)
        self.conv2 = ConvUnit(out_channels, out_channels, 3, activation=None, fused=fused)
        needs_projection = stride != 1 or in_channels != out_channels
        self.shortcut = (
            ConvUnit(in_channels, out_channels, 1, stride, activation=None, fused=fused) if needs_projection else nn.Identity()
        )

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class ResNetEncoder(nn.Module):
    """A 3×3 stem, then one residual block per stage (stride 2 after the first); returns every stage."""

    def __init__(self, channels: tuple[int, ...], in_channels: int, *, fused: bool) -> None:
        super().__init__()
        self.stem = ConvUnit(in_channels, channels[0], 3, fused=fused)
        self.blocks = nn.ModuleList(
            ResidualBlock(channels[max(i - 1, 0)], channels[i], 1 if i == 0 else 2, fused=fused) for i in range(len(channels))
        )

    def forward(self, x: Tensor) -> list[Tensor]:
        skips = []
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
            skips.append(x)
        return skips


class ResNetDecoder(nn.Module):
    """From the deepest stage up: 1×1 to the finer width, bilinear ×2, add the skip, 3×3 refine."""

    def __init__(self, channels: tuple[int, ...], *, fused: bool) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(ConvUnit(channels[i], channels[i - 1], 1, fused=fused) for i in reversed(range(1, len(channels))))
        self.refine = nn.ModuleList(ConvUnit(channels[i - 1], channels[i - 1], 3, fused=fused) for i in reversed(range(1, len(channels))))
        self.out_channels = channels[0]

    def forward(self, skips: list[Tensor]) -> Tensor:
        x = skips[-1]
        for lateral, refine, skip in zip(self.lateral, self.refine, reversed(skips[:-1])):
            x = F.interpolate(lateral(x), size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = refine(x + skip)
        return x
