"""Training-time replacements for a plain conv that fold back exactly into one conv.

Each block keeps the ConvGeometry of the conv it replaced and implements
`fold() -> (weight, bias or None)`, the kernel of the single conv it equals in eval mode.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .layers import ConvGeometry
from .transforms import (
    compose_expansion,
    fold_svd_factors,
    fuse_conv_bn,
    identity_kernel,
    pad_kernel,
    svd_factorize,
)


class SVDBasis(nn.Module):
    """The U (1×k, r→C_out) and V (k×1, C_in→r) factors of a spatial-SVD conv.

    One basis may be referenced by several SVDConv modules (one per task), which then
    share U and V and differ only in their diagonal m.
    """

    def __init__(self, u: Tensor, v: Tensor, geometry: ConvGeometry) -> None:
        super().__init__()
        self.geometry = geometry
        self.u = nn.Parameter(u)
        self.v = nn.Parameter(v)

    @property
    def rank(self) -> int:
        return self.v.shape[0]


class SVDConv(nn.Module):
    """x → V (k×1, stride (s,1)) → ·m → U (1×k, stride (1,s)) [+ bias]; equals one k×k conv."""

    def __init__(self, basis: SVDBasis, m: Tensor, bias: Tensor | None) -> None:
        super().__init__()
        self.basis = basis
        self.geometry = basis.geometry
        self.m = nn.Parameter(m)
        self.bias = nn.Parameter(bias) if bias is not None else None
        # Folding first computes the same function (and gradients) with one conv instead of two.
        self.folded_forward = False

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, rank: int | None = None, *, balanced: bool = False) -> "SVDConv":
        u, m, v = svd_factorize(conv.weight, rank, balanced=balanced)
        bias = conv.bias.detach().clone() if conv.bias is not None else None
        return cls(SVDBasis(u, v, ConvGeometry.of(conv)), m, bias)

    def forward(self, x: Tensor) -> Tensor:
        g = self.geometry
        if self.folded_forward:
            return F.conv2d(x, self.fold()[0], self.bias, stride=g.stride, padding=g.padding)
        hidden = F.conv2d(x, self.basis.v, stride=(g.stride, 1), padding=(g.padding, 0))
        # Scaling U's input channels by m equals scaling the hidden activations, at kernel cost.
        scaled_u = self.basis.u * self.m.reshape(1, -1, 1, 1)
        return F.conv2d(hidden, scaled_u, self.bias, stride=(1, g.stride), padding=(0, g.padding))

    def fold(self) -> tuple[Tensor, Tensor | None]:
        return fold_svd_factors(self.basis.u, self.m, self.basis.v), self.bias

    @torch.no_grad()
    def set_output_bias(self, value: float) -> None:
        self.bias.fill_(value)


def shared_svd_convs(convs: list[nn.Conv2d], rank: int | None = None, *, balanced: bool = False) -> list[SVDConv]:
    """Factorise same-shaped task convs with one shared U, V and one m per task.

    If every kernel is identical (the compact net initialises task branches alike), one SVD
    serves all tasks exactly. Otherwise the per-task bases are stacked and each task's m
    selects its own block, which is still exact, at the sum of the ranks.
    """
    geometry = ConvGeometry.of(convs[0])
    if any(ConvGeometry.of(c) != geometry for c in convs):
        raise ValueError("task-shared factorisation needs convs of identical geometry")
    reference = convs[0].weight
    if all(torch.equal(c.weight, reference) for c in convs):
        u, m, v = svd_factorize(reference, rank, balanced=balanced)
        basis = SVDBasis(u, v, geometry)
        scales = [m.clone() for _ in convs]
    else:
        factors = [svd_factorize(c.weight, rank, balanced=balanced) for c in convs]
        basis = SVDBasis(torch.cat([f[0] for f in factors], 1), torch.cat([f[2] for f in factors], 0), geometry)
        scales = []
        offset = 0
        for _, m, _ in factors:
            block = torch.zeros(basis.rank, dtype=m.dtype)
            block[offset : offset + m.numel()] = m
            scales.append(block)
            offset += m.numel()
    return [
        SVDConv(basis, scale, c.bias.detach().clone() if c.bias is not None else None)
        for c, scale in zip(convs, scales)
    ]


class RepVGGConv(nn.Module):
    """RepVGG branches: k×k conv+BN, 1×1 conv+BN (k > 1) and identity BN (when shapes allow)."""

    def __init__(self, geometry: ConvGeometry) -> None:
        super().__init__()
        self.geometry = geometry
        g = geometry
        self.conv_kxk = nn.Conv2d(g.in_channels, g.out_channels, g.kernel_size, g.stride, g.padding, bias=False)
        self.bn_kxk = nn.BatchNorm2d(g.out_channels)
        if g.kernel_size > 1:
            self.conv_1x1 = nn.Conv2d(g.in_channels, g.out_channels, 1, g.stride, 0, bias=False)
            self.bn_1x1 = nn.BatchNorm2d(g.out_channels)
        else:
            self.conv_1x1, self.bn_1x1 = None, None
        has_identity = g.in_channels == g.out_channels and g.stride == 1
        self.bn_identity = nn.BatchNorm2d(g.out_channels) if has_identity else None

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> "RepVGGConv":
        # Initialised afresh, as in the RepVGG paper (default conv init, BN γ = 1, β = 0).
        return cls(ConvGeometry.of(conv)).to(device=conv.weight.device, dtype=conv.weight.dtype)

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn_kxk(self.conv_kxk(x))
        if self.conv_1x1 is not None:
            out = out + self.bn_1x1(self.conv_1x1(x))
        if self.bn_identity is not None:
            out = out + self.bn_identity(x)
        return out

    @torch.no_grad()
    def set_output_bias(self, value: float) -> None:
        # The folded bias is the sum of the branches' BN shifts: put it all on the k×k branch.
        for bn in (self.bn_kxk, self.bn_1x1, self.bn_identity):
            if bn is not None:
                bn.bias.zero_()
        self.bn_kxk.bias.fill_(value)

    def fold(self) -> tuple[Tensor, Tensor]:
        k = self.geometry.kernel_size
        weight, bias = fuse_conv_bn(self.conv_kxk.weight, None, self.bn_kxk)
        if self.conv_1x1 is not None:
            w1, b1 = fuse_conv_bn(self.conv_1x1.weight, None, self.bn_1x1)
            weight, bias = weight + pad_kernel(w1, k), bias + b1
        if self.bn_identity is not None:
            eye = identity_kernel(self.geometry.in_channels, k, dtype=weight.dtype, device=weight.device)
            wi, bi = fuse_conv_bn(eye, None, self.bn_identity)
            weight, bias = weight + wi, bias + bi
        return weight, bias


class ExpandConv(nn.Module):
    """ExpandNet-CL: 1×1 (C_in→e·C_in) → k×k (e·C_in→e·C_out) → 1×1 (e·C_out→C_out), all linear."""

    def __init__(self, geometry: ConvGeometry, expansion: int = 4) -> None:
        super().__init__()
        if expansion < 1:
            raise ValueError(f"expansion must be >= 1, got {expansion}")
        self.geometry = geometry
        g = geometry
        wide_in, wide_out = g.in_channels * expansion, g.out_channels * expansion
        self.expand = nn.Conv2d(g.in_channels, wide_in, 1, bias=False)
        self.core = nn.Conv2d(wide_in, wide_out, g.kernel_size, g.stride, g.padding, bias=False)
        self.project = nn.Conv2d(wide_out, g.out_channels, 1, bias=g.bias)
        # The three convs are linear, so one folded conv gives the same function and gradients.
        self.folded_forward = False

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, expansion: int = 4) -> "ExpandConv":
        # Initialised afresh with the default conv init, as ExpandNet trains its expanded net.
        return cls(ConvGeometry.of(conv), expansion).to(device=conv.weight.device, dtype=conv.weight.dtype)

    def forward(self, x: Tensor) -> Tensor:
        if self.folded_forward:
            g = self.geometry
            weight, bias = self.fold()
            return F.conv2d(x, weight, bias, stride=g.stride, padding=g.padding)
        return self.project(self.core(self.expand(x)))

    @torch.no_grad()
    def set_output_bias(self, value: float) -> None:
        self.project.bias.fill_(value)

    def fold(self) -> tuple[Tensor, Tensor | None]:
        weight = compose_expansion(self.expand.weight, self.core.weight, self.project.weight)
        return weight, self.project.bias

