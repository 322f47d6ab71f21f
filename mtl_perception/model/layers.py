"""The compact network's building unit (conv → BN → ReLU) and the geometry of its conv."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class ConvGeometry:
    """Everything needed to rebuild a plain square-kernel conv (groups = 1, dilation = 1)."""

    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int = 1
    bias: bool = False

    @property
    def padding(self) -> int:
        return self.kernel_size // 2

    @classmethod
    def of(cls, conv: nn.Conv2d) -> "ConvGeometry":
        k_h, k_w = conv.kernel_size
        if k_h != k_w or conv.groups != 1 or conv.dilation != (1, 1) or conv.stride[0] != conv.stride[1]:
            raise ValueError(f"only square, ungrouped, undilated convs are supported, got {conv}")
        if conv.padding != (k_h // 2, k_w // 2):
            raise ValueError(f"expected 'same'-style padding {k_h // 2}, got {conv.padding}")
        return cls(conv.in_channels, conv.out_channels, k_h, conv.stride[0], conv.bias is not None)

    def make_conv(self, *, bias: bool | None = None) -> nn.Conv2d:
        return nn.Conv2d(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            bias=self.bias if bias is None else bias,
        )


class ConvUnit(nn.Module):
    """conv → BN → ReLU, the one place a trainable conv lives.

    Over-parameterisation swaps `conv` for a training block; collapsing swaps it back.
    In the deploy form (`fused=True`) BN is folded into the conv, which then has a bias.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        *,
        norm: bool = True,
        activation: bool = True,
        fused: bool = False,
    ) -> None:
        super().__init__()
        self.has_norm = norm
        geometry = ConvGeometry(in_channels, out_channels, kernel_size, stride, bias=fused or not norm)
        self.conv: nn.Module = geometry.make_conv()
        self.bn: nn.Module = nn.BatchNorm2d(out_channels) if norm and not fused else nn.Identity()
        self.act: nn.Module = nn.ReLU(inplace=True) if activation else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.conv(x)))

    @torch.no_grad()
    def set_output_bias(self, value: float) -> None:
        """Give a unit without BN (a head) the constant output offset `value`, whatever its conv is."""
        if self.has_norm:
            raise ValueError("a unit with BN has no output bias of its own (BN's shift sets it)")
        if isinstance(self.conv, nn.Conv2d):
            self.conv.bias.fill_(value)
        else:
            self.conv.set_output_bias(value)  # training blocks own their bias layout


def conv_units(module: nn.Module) -> list[tuple[str, ConvUnit]]:
    """All ConvUnits below `module`, in registration order, with their qualified names."""
    return [(name, unit) for name, unit in module.named_modules() if isinstance(unit, ConvUnit)]


def unit_kernel(unit: ConvUnit) -> tuple[Tensor, Tensor | None]:
    """The unit's conv as one (weight, bias) pair, folding a training block if there is one."""
    conv = unit.conv
    if isinstance(conv, nn.Conv2d):
        return conv.weight, conv.bias
    fold = getattr(conv, "fold", None)
    if fold is None:
        raise TypeError(f"{type(conv).__name__} is neither nn.Conv2d nor a foldable training block")
    return fold()


def is_plain(unit: ConvUnit) -> bool:
    return type(unit.conv) is nn.Conv2d

