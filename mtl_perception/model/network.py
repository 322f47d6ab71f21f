"""The compact multitask network: a shared trunk and one small branch per task."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .layers import ConvUnit

TASKS: tuple[str, ...] = ("segmentation", "depth", "normals")
ARCHITECTURES: tuple[str, ...] = ("segnet", "resnet")
MIN_DEPTH_M = 1e-3  # keeps predicted depth strictly positive
BASE_CHANNELS: tuple[int, ...] = (16, 32, 64, 128)  # stage widths at width 1.0 (MTAN's SegNet, halved)


@dataclass(frozen=True)
class NetConfig:
    """Architecture of the compact network; everything a deploy artifact needs to rebuild it."""

    arch: str = "segnet"
    tasks: tuple[str, ...] = TASKS
    num_classes: int = 13
    width: float = 1.0
    base_channels: tuple[int, ...] = BASE_CHANNELS
    task_layers: int = 1
    in_channels: int = 3
    fused_bn: bool = False  # deploy form: BN folded into conv biases
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", tuple(self.tasks))
        object.__setattr__(self, "base_channels", tuple(int(c) for c in self.base_channels))
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"arch must be one of {ARCHITECTURES}, got {self.arch!r}")
        if not self.tasks or len(set(self.tasks)) != len(self.tasks) or not set(self.tasks) <= set(TASKS):
            raise ValueError(f"tasks must be a non-empty, duplicate-free subset of {TASKS}, got {self.tasks}")
        if not 1 <= self.num_classes <= 255:
            raise ValueError(f"num_classes must be in [1, 255] (255 marks unlabelled), got {self.num_classes}")
        if not (self.width > 0 and math.isfinite(self.width)):
            raise ValueError(f"width must be a positive number, got {self.width}")
        if len(self.base_channels) < 2 or min(self.base_channels) < 1:
            raise ValueError(f"base_channels needs >= 2 positive entries, got {self.base_channels}")
        if self.task_layers < 0:
            raise ValueError(f"task_layers must be >= 0, got {self.task_layers}")
        if self.in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {self.in_channels}")

    @property
    def channels(self) -> tuple[int, ...]:
        """Stage widths after the width multiplier, rounded to a multiple of 4 (at least 4)."""
        return tuple(max(4, int(round(c * self.width / 4)) * 4) for c in self.base_channels)

    def output_channels(self, task: str) -> int:
        return {"segmentation": self.num_classes, "depth": 1, "normals": 3}[task]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tasks"], data["base_channels"] = list(self.tasks), list(self.base_channels)
        data["extra"] = dict(self.extra)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "NetConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown NetConfig keys: {sorted(unknown)} (known: {sorted(known)})")
        return cls(**data)


class SegNetTrunk(nn.Module):
    """Compact SegNet (MTAN NYUv2 style): conv stages with max-pool indices, mirrored unpooling."""

    def __init__(self, channels: tuple[int, ...], in_channels: int, *, fused: bool) -> None:
        super().__init__()
        self.encoder = nn.ModuleList()
        previous = in_channels
        for width in channels:
            self.encoder.append(nn.Sequential(ConvUnit(previous, width, fused=fused), ConvUnit(width, width, fused=fused)))
            previous = width
        self.decoder = nn.ModuleList()
        for index in reversed(range(len(channels))):
            width, target = channels[index], channels[max(index - 1, 0)]
            self.decoder.append(nn.Sequential(ConvUnit(width, width, fused=fused), ConvUnit(width, target, fused=fused)))
        self.out_channels = channels[0]

    def forward(self, x: Tensor) -> Tensor:
        pooled = []
        for stage in self.encoder:
            x = stage(x)
            # Plain ints: a traced graph (the torchscript backend) keeps them as constants.
            size = (int(x.shape[-2]), int(x.shape[-1]))
            x, indices = F.max_pool2d(x, 2, 2, return_indices=True)
            pooled.append((indices, size))
        for stage, (indices, size) in zip(self.decoder, reversed(pooled)):
            x = F.max_unpool2d(x, indices, 2, 2, output_size=size)
            x = stage(x)
        return x


class ResidualBlock(nn.Module):
    """Two 3×3 units with an identity or 1×1 projection shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, *, fused: bool) -> None:
        super().__init__()
        self.conv1 = ConvUnit(in_channels, out_channels, 3, stride, fused=fused)
        self.conv2 = ConvUnit(out_channels, out_channels, 3, activation=False, fused=fused)
        needs_projection = stride != 1 or in_channels != out_channels
        self.shortcut = (
            ConvUnit(in_channels, out_channels, 1, stride, activation=False, fused=fused) if needs_projection else nn.Identity()
        )

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class ResNetTrunk(nn.Module):
    """Residual encoder (stride-2 stages) and a decoder that upsamples and adds encoder skips."""

    def __init__(self, channels: tuple[int, ...], in_channels: int, *, fused: bool) -> None:
        super().__init__()
        self.stem = ConvUnit(in_channels, channels[0], 3, fused=fused)
        self.encoder = nn.ModuleList(
            ResidualBlock(channels[max(i - 1, 0)], channels[i], 1 if i == 0 else 2, fused=fused) for i in range(len(channels))
        )
        self.lateral = nn.ModuleList(
            ConvUnit(channels[i], channels[i - 1], 1, fused=fused) for i in reversed(range(1, len(channels)))
        )
        self.refine = nn.ModuleList(ConvUnit(channels[i - 1], channels[i - 1], 3, fused=fused) for i in reversed(range(1, len(channels))))
        self.out_channels = channels[0]

    def forward(self, x: Tensor) -> Tensor:
        skips = []
        x = self.stem(x)
        for block in self.encoder:
            x = block(x)
            skips.append(x)
        for lateral, refine, skip in zip(self.lateral, self.refine, reversed(skips[:-1])):
            x = F.interpolate(lateral(x), size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = refine(x + skip)
        return x


class TaskBranch(nn.Module):
    """A task's own layers: `task_layers` 3×3 units, then a 1×1 output conv."""

    def __init__(self, channels: int, out_channels: int, num_layers: int, *, fused: bool) -> None:
        super().__init__()
        self.layers = nn.Sequential(*(ConvUnit(channels, channels, 3, fused=fused) for _ in range(num_layers)))
        self.head = ConvUnit(channels, out_channels, 1, norm=False, activation=False, fused=fused)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.layers(x))


def unit_vectors(x: Tensor, dim: int = 1, eps: float = 1e-6) -> Tensor:
    """x / max(‖x‖, eps) along `dim`; same as F.normalize, ~50× faster on CPU for NCHW maps."""
    return x * torch.rsqrt((x * x).sum(dim, keepdim=True).clamp_min(eps * eps))


def _activate(task: str, raw: Tensor) -> Tensor:
    if task == "depth":
        return F.softplus(raw) + MIN_DEPTH_M
    if task == "normals":
        return unit_vectors(raw)
    return raw


class MultiTaskNet(nn.Module):
    """Shared trunk + per-task branches; forward returns {task: prediction} per DESIGN §3.

    segmentation: logits B×C×H×W; depth: B×1×H×W metres > 0; normals: B×3×H×W unit vectors.
    """

    def __init__(self, config: NetConfig) -> None:
        super().__init__()
        self.config = config
        trunk_cls = SegNetTrunk if config.arch == "segnet" else ResNetTrunk
        self.trunk = trunk_cls(config.channels, config.in_channels, fused=config.fused_bn)
        width = self.trunk.out_channels
        self.branches = nn.ModuleDict(
            {
                task: TaskBranch(width, config.output_channels(task), config.task_layers, fused=config.fused_bn)
                for task in config.tasks
            }
        )
        self.scheme = "none"  # over-parameterisation scheme of this instance's training form
        self._tie_branch_initialisation()

    def _tie_branch_initialisation(self) -> None:
        # Same-shaped task layers start alike, so shared U·m·V factors can represent them exactly.
        first, *others = self.branches.values()
        for branch in others:
            branch.layers.load_state_dict(first.layers.state_dict())

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return self.forward_branches(self.trunk(x))

    def forward_branches(self, features: Tensor) -> dict[str, Tensor]:
        """Every task's prediction from trunk features (lets a caller run the trunk without a graph)."""
        return {task: _activate(task, branch(features)) for task, branch in self.branches.items()}
