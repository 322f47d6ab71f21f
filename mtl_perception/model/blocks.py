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
    """The U (1×k, r→C_out) and V (k×1, C_in→r) factors of a spatial-SVD conv (r per group).

    A grouped conv (depthwise: one group per channel) factorises per group: V and U are
    grouped convs with G·r hidden channels. One basis may be referenced by several SVDConv modules (one per task), which then
    share U and V and differ only in their diagonal m.
    """

    def __init__(self, u: Tensor, v: Tensor, geometry: ConvGeometry) -> None:
        super().__init__()
        self.geometry = geometry
        self.u = nn.Parameter(u)
        self.v = nn.Parameter(v)

    @property
    def rank(self) -> int:
        """Hidden channels between V and U (G·r for a grouped conv)."""
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
        u, m, v = svd_factorize(conv.weight, rank, balanced=balanced, groups=conv.groups)
        bias = conv.bias.detach().clone() if conv.bias is not None else None
        return cls(SVDBasis(u, v, ConvGeometry.of(conv)), m, bias)

    def forward(self, x: Tensor) -> Tensor:
        g = self.geometry
        if self.folded_forward:
            return F.conv2d(x, self.fold()[0], self.bias, stride=g.stride, padding=g.padding, groups=g.groups)
        hidden = F.conv2d(x, self.basis.v, stride=(g.stride, 1), padding=(g.padding, 0), groups=g.groups)
        # Scaling U's input channels by m equals scaling the hidden activations, at kernel cost.
        u = self.basis.u
        scales = self.m.reshape(1, -1, 1, 1) if g.groups == 1 else self.m.reshape(g.groups, 1, -1).expand(-1, u.shape[0] // g.groups, -1).reshape(*u.shape[:2], 1, 1)
        return F.conv2d(hidden, u * scales, self.bias, stride=(1, g.stride), padding=(0, g.padding), groups=g.groups)

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
    reference, groups = convs[0].weight, geometry.groups
    if all(torch.equal(c.weight, reference) for c in convs):
        u, m, v = svd_factorize(reference, rank, balanced=balanced, groups=groups)
        basis = SVDBasis(u, v, geometry)
        scales = [m.clone() for _ in convs]
    else:
        # Stack the per-task bases inside each group; task t's m is zero outside its own block.
        factors = [svd_factorize(c.weight, rank, balanced=balanced, groups=groups) for c in convs]
        v_blocks = [f[2].reshape(groups, -1, *f[2].shape[1:]) for f in factors]
        v = torch.cat(v_blocks, 1).reshape(-1, *factors[0][2].shape[1:])
        basis = SVDBasis(torch.cat([f[0] for f in factors], 1), v, geometry)
        total = sum(block.shape[1] for block in v_blocks)
        scales, offset = [], 0
        for (_, m, _), block in zip(factors, v_blocks):
            scale = torch.zeros(groups, total, dtype=m.dtype)
            scale[:, offset : offset + block.shape[1]] = m.reshape(groups, -1)
            scales.append(scale.reshape(-1))
            offset += block.shape[1]
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
        self.conv_kxk = nn.Conv2d(g.in_channels, g.out_channels, g.kernel_size, g.stride, g.padding, groups=g.groups, bias=False)
        self.bn_kxk = nn.BatchNorm2d(g.out_channels)
        if g.kernel_size > 1:
            self.conv_1x1 = nn.Conv2d(g.in_channels, g.out_channels, 1, g.stride, 0, groups=g.groups, bias=False)
            self.bn_1x1 = nn.BatchNorm2d(g.out_channels)
        else:
            self.conv_1x1, self.bn_1x1 = None, None
        has_identity = g.in_channels == g.out_channels and g.stride == 1 and not g.explicit_pad
        self.bn_identity = nn.BatchNorm2d(g.out_channels) if has_identity else None

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> "RepVGGConv":
        # Initialised afresh, as in the RepVGG paper (default conv init, BN γ = 1, β = 0).
        return cls(ConvGeometry.of(conv)).to(device=conv.weight.device, dtype=conv.weight.dtype)

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn_kxk(self.conv_kxk(x))
        if self.conv_1x1 is not None:
            out = out + self.bn_1x1(self._branch_1x1(x))
        if self.bn_identity is not None:
            out = out + self.bn_identity(x)
        return out

    def _branch_1x1(self, x: Tensor) -> Tensor:
        g = self.geometry
        if not g.explicit_pad:
            return self.conv_1x1(x)
        # x is already padded (asymmetrically): the 1×1 tap sits at the k×k kernel's centre.
        kernel = pad_kernel(self.conv_1x1.weight, g.kernel_size)
        return F.conv2d(x, kernel, stride=g.stride, groups=g.groups)

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
            eye = identity_kernel(self.geometry.in_channels, k, dtype=weight.dtype, device=weight.device, groups=self.geometry.groups)
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
        # A grouped conv expands within each group, so the composition stays grouped.
        self.expand = nn.Conv2d(g.in_channels, wide_in, 1, groups=g.groups, bias=False)
        self.core = nn.Conv2d(wide_in, wide_out, g.kernel_size, g.stride, g.padding, groups=g.groups, bias=False)
        self.project = nn.Conv2d(wide_out, g.out_channels, 1, groups=g.groups, bias=g.bias)
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
            return F.conv2d(x, weight, bias, stride=g.stride, padding=g.padding, groups=g.groups)
        return self.project(self.core(self.expand(x)))

    @torch.no_grad()
    def set_output_bias(self, value: float) -> None:
        self.project.bias.fill_(value)

    def fold(self) -> tuple[Tensor, Tensor | None]:
        weight = compose_expansion(self.expand.weight, self.core.weight, self.project.weight)
        return weight, self.project.bias

