"""The compact network's building unit (conv → BN → ReLU) and the geometry of its conv."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class ConvGeometry:
    """Everything needed to rebuild a plain square-kernel conv (dilation 1).

    explicit_pad: the conv itself pads nothing; its ConvUnit pads the input first
    (TensorFlow's "same" padding, asymmetric at stride 2, which pretrained TF weights expect).
    """

    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int = 1
    bias: bool = False
    groups: int = 1
    explicit_pad: bool = False

    @property
    def padding(self) -> int:
        return 0 if self.explicit_pad else self.kernel_size // 2

    @classmethod
    def of(cls, conv: nn.Conv2d) -> "ConvGeometry":
        k_h, k_w = conv.kernel_size
        if k_h != k_w or conv.dilation != (1, 1) or conv.stride[0] != conv.stride[1]:
            raise ValueError(f"only square, undilated convs are supported, got {conv}")
        if conv.padding not in ((k_h // 2, k_w // 2), (0, 0)):
            raise ValueError(f"expected 'same'-style padding {k_h // 2} (or 0 with an explicit pad), got {conv.padding}")
        explicit = conv.padding == (0, 0) and k_h > 1
        return cls(conv.in_channels, conv.out_channels, k_h, conv.stride[0], conv.bias is not None, conv.groups, explicit)

    def make_conv(self, *, bias: bool | None = None) -> nn.Conv2d:
        return nn.Conv2d(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            groups=self.groups,
            bias=self.bias if bias is None else bias,
        )


def same_padding(size: int, kernel_size: int, stride: int) -> tuple[int, int]:
    """TensorFlow "same" padding (before, after) along one axis of `size` pixels."""
    total = max((-(-size // stride) - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


class SamePad(nn.Module):
    """Zero-pads the input as TensorFlow's "same" convolution does for this kernel and stride."""

    def __init__(self, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, x: Tensor) -> Tensor:
        # Plain ints from the shape: a traced graph keeps them as constants of its input size.
        top, bottom = same_padding(int(x.shape[-2]), self.kernel_size, self.stride)
        left, right = same_padding(int(x.shape[-1]), self.kernel_size, self.stride)
        return nn.functional.pad(x, (left, right, top, bottom))


ACTIVATIONS = ("relu", "relu6")


class ConvUnit(nn.Module):
    """[pad →] conv → BN → activation, the one place a trainable conv lives.

    Over-parameterisation swaps `conv` for a training block; collapsing swaps it back.
    In the deploy form (`fused=True`) BN is folded into the conv, which then has a bias.
    tf_same: TensorFlow "same" padding (an explicit pad at stride > 1; symmetric otherwise).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        *,
        groups: int = 1,
        norm: bool = True,
        activation: str | None = "relu",
        tf_same: bool = False,
        bn_eps: float = 1e-5,
        fused: bool = False,
    ) -> None:
        super().__init__()
        if activation is not None and activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS} or None, got {activation!r}")
        self.has_norm = norm
        explicit_pad = tf_same and stride > 1 and kernel_size > 1
        geometry = ConvGeometry(in_channels, out_channels, kernel_size, stride, fused or not norm, groups, explicit_pad)
        self.pad: nn.Module = SamePad(kernel_size, stride) if explicit_pad else nn.Identity()
        self.conv: nn.Module = geometry.make_conv()
        self.bn: nn.Module = nn.BatchNorm2d(out_channels, eps=bn_eps) if norm and not fused else nn.Identity()
        self.act: nn.Module = {"relu": nn.ReLU(inplace=True), "relu6": nn.ReLU6(inplace=True)}.get(activation, nn.Identity())

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.conv(self.pad(x))))

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

