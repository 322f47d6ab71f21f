"""A top-down decoder for multi-scale encoder features: bilinear upsampling and lateral skips.

Bilinear upsampling rather than SegNet's max-unpooling, whose sparse maps leave a checkerboard.
"""
from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from .layers import ConvUnit


class FPNDecoder(nn.Module):
    """From the coarsest map up: 1×1 to the finer width, bilinear up, add the finer map's 1×1 lateral, 3×3 refine.

    encoder_channels: the encoder's maps, finest first. widths: the decoder's width at each of
    those levels, finest first (a shorter tuple repeats its last width for the coarser levels).
    Output: the finest level's width, at the finest map's resolution.
    """

    def __init__(self, encoder_channels: tuple[int, ...], widths: tuple[int, ...], *, fused: bool) -> None:
        super().__init__()
        levels = len(encoder_channels)
        width = [widths[min(i, len(widths) - 1)] for i in range(levels)]
        self.top = ConvUnit(encoder_channels[-1], width[-1], 1, fused=fused)
        finer = list(reversed(range(levels - 1)))  # the levels the top-down path visits, coarse to fine
        self.reduce = nn.ModuleList(ConvUnit(width[i + 1], width[i], 1, fused=fused) for i in finer)
        self.lateral = nn.ModuleList(ConvUnit(encoder_channels[i], width[i], 1, fused=fused) for i in finer)
        self.refine = nn.ModuleList(ConvUnit(width[i], width[i], 3, fused=fused) for i in finer)
        self.out_channels = width[0]

    def forward(self, features: list[Tensor]) -> Tensor:
        x = self.top(features[-1])
        for reduce, lateral, refine, skip in zip(self.reduce, self.lateral, self.refine, reversed(features[:-1])):
            x = F.interpolate(reduce(x), size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = refine(x + lateral(skip))
        return x
