"""EfficientNet-Lite encoders (Tan & Le, 2019; the Lite variant: ReLU6, no squeeze-excitation).

Written so every conv is a ConvUnit, which the over-parameterisation schemes can factorise
and collapse like any other; pretrained weights are loaded elsewhere (model/pretrained.py).
Convs pad as TensorFlow's "same" does, which the published ImageNet weights expect.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .layers import ConvUnit

BN_EPS = 1e-3  # the TensorFlow reference's batch-norm epsilon, which the weights were trained with
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
IMAGENET_CLASSES = 1000


@dataclass(frozen=True)
class StageSpec:
    """One stage of mobile inverted bottlenecks: `repeats` blocks, the first with `stride`."""

    repeats: int
    kernel_size: int
    stride: int
    expand_ratio: int
    out_channels: int


# EfficientNet-B0's stages, which Lite0 keeps (width and depth multipliers 1.0).
LITE0_STAGES: tuple[StageSpec, ...] = (
    StageSpec(1, 3, 1, 1, 16),
    StageSpec(2, 3, 2, 6, 24),
    StageSpec(2, 5, 2, 6, 40),
    StageSpec(3, 3, 2, 6, 80),
    StageSpec(3, 5, 1, 6, 112),
    StageSpec(4, 5, 2, 6, 192),
    StageSpec(1, 3, 1, 6, 320),
)
VARIANTS: dict[str, tuple[StageSpec, ...]] = {"efficientnet_lite0": LITE0_STAGES}


class MBConv(nn.Module):
    """1×1 expand → k×k depthwise → 1×1 project (linear), with an identity shortcut where shapes allow."""

    def __init__(self, in_channels: int, out_channels: int, spec: StageSpec, stride: int, *, fused: bool) -> None:
        super().__init__()
        hidden = in_channels * spec.expand_ratio
        common = {"bn_eps": BN_EPS, "fused": fused}
        self.expand = ConvUnit(in_channels, hidden, 1, activation="relu6", **common) if spec.expand_ratio != 1 else nn.Identity()
        self.depthwise = ConvUnit(hidden, hidden, spec.kernel_size, stride, groups=hidden, activation="relu6", tf_same=True, **common)
        self.project = ConvUnit(hidden, out_channels, 1, activation=None, **common)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: Tensor) -> Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


class EfficientNetLiteEncoder(nn.Module):
    """Stem and MBConv stages; forward returns the last map at each stride (2, 4, 8, 16, 32)."""

    def __init__(self, variant: str = "efficientnet_lite0", in_channels: int = 3, *, fused: bool = False) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; known: {sorted(VARIANTS)}")
        stages = VARIANTS[variant]
        self.stem = ConvUnit(in_channels, STEM_CHANNELS, 3, 2, activation="relu6", tf_same=True, bn_eps=BN_EPS, fused=fused)
        blocks, taps, channels, previous = [], [], [], STEM_CHANNELS
        for index, spec in enumerate(stages):
            for repeat in range(spec.repeats):
                blocks.append(MBConv(previous, spec.out_channels, spec, spec.stride if repeat == 0 else 1, fused=fused))
                previous = spec.out_channels
            next_stride = stages[index + 1].stride if index + 1 < len(stages) else 2
            if next_stride > 1:  # the last block before the resolution halves is a feature tap
                taps.append(len(blocks) - 1)
                channels.append(previous)
        self.blocks = nn.ModuleList(blocks)
        self.taps = tuple(taps)
        self.feature_channels: tuple[int, ...] = tuple(channels)

    def forward(self, x: Tensor) -> list[Tensor]:
        features = []
        x = self.stem(x)
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index in self.taps:
                features.append(x)
        return features


class EfficientNetLiteClassifier(nn.Module):
    """The ImageNet classifier around the encoder (1×1 head, pooling, linear): checks pretrained weights."""

    def __init__(self, variant: str = "efficientnet_lite0") -> None:
        super().__init__()
        self.encoder = EfficientNetLiteEncoder(variant)
        last = self.encoder.feature_channels[-1]
        self.head = ConvUnit(last, HEAD_CHANNELS, 1, activation="relu6", bn_eps=BN_EPS)
        self.fc = nn.Linear(HEAD_CHANNELS, IMAGENET_CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        """Logits over the 1,000 ImageNet classes."""
        pooled = torch.flatten(nn.functional.adaptive_avg_pool2d(self.head(self.encoder(x)[-1]), 1), 1)
        return self.fc(pooled)
