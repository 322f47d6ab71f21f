"""Pure tensor transforms between kernel forms: SVD factors, BN fusion, padding, composition.

None of these functions touch a module's state; they take tensors and return new ones.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


def svd_factorize(weight: Tensor, rank: int | None = None, *, balanced: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """Split a k×k kernel (C_out, C_in, k, k) into U (C_out, r, 1, k), m (r,), V (r, C_in, k, 1).

    With A[(i, y), (o, x)] = W[o, i, y, x] and A = P·diag(S)·Qᵀ, V holds P, U holds Q and m = S,
    so fold_svd_factors(U, m, V) == W whenever r ≥ rank(A). A rank above the full rank
    min(C_in·k, C_out·k) adds random directions with m = 0 (function unchanged); a smaller
    rank truncates (function changes).

    balanced: U·√S and √S·V with m = 1 instead (the same kernel). Deep-linear-network
    training assumes balanced factors; orthonormal U, V with m = S start with small
    effective steps. Padding directions beyond the full rank keep m = 0.
    """
    c_out, c_in, k, k2 = weight.shape
    if k != k2:
        raise ValueError(f"only square kernels are supported, got {k}x{k2}")
    full_rank = min(c_in * k, c_out * k)
    rank = full_rank if rank is None else int(rank)
    if rank < 1:
        raise ValueError(f"rank must be positive, got {rank}")
    matrix = weight.detach().to(torch.float64).permute(1, 2, 0, 3).reshape(c_in * k, c_out * k)
    left, singular, right_t = torch.linalg.svd(matrix, full_matrices=False)
    keep = min(rank, full_rank)
    left, singular, right_t = left[:, :keep], singular[:keep], right_t[:keep]
    if rank > full_rank:
        extra = rank - full_rank
        generator = torch.Generator().manual_seed(rank)
        left = torch.cat([left, torch.randn(c_in * k, extra, generator=generator, dtype=torch.float64) / (c_in * k) ** 0.5], 1)
        right_t = torch.cat([right_t, torch.randn(extra, c_out * k, generator=generator, dtype=torch.float64) / (c_out * k) ** 0.5], 0)
        singular = torch.cat([singular, singular.new_zeros(extra)])
    if balanced:
        root = torch.where(singular > 0, singular.sqrt(), torch.ones_like(singular))
        left, right_t = left * root, right_t * root[:, None]
        singular = (singular > 0).to(singular.dtype)
    v = left.t().reshape(rank, c_in, k, 1)
    u = right_t.reshape(rank, c_out, k).permute(1, 0, 2).reshape(c_out, rank, 1, k)
    dtype = weight.dtype
    return u.to(dtype).contiguous(), singular.to(dtype).contiguous(), v.to(dtype).contiguous()


def fold_svd_factors(u: Tensor, m: Tensor, v: Tensor) -> Tensor:
    """W[o, i, y, x] = Σ_r U[o, r, 0, x] · m[r] · V[r, i, y, 0]."""
    return torch.einsum("orx,r,riy->oiyx", u[:, :, 0, :], m, v[:, :, :, 0])


def compose_expansion(expand: Tensor, core: Tensor, project: Tensor) -> Tensor:
    """Fold 1×1 (C_in→a) · k×k (a→b) · 1×1 (b→C_out) into one k×k kernel (ExpandNet-CL)."""
    return torch.einsum("ob,bayx,ai->oiyx", project[:, :, 0, 0], core, expand[:, :, 0, 0])


def pad_kernel(kernel: Tensor, size: int) -> Tensor:
    """Zero-pad a centred odd k×k kernel to size×size."""
    k = kernel.shape[-1]
    if kernel.shape[-2] != k or k > size or (size - k) % 2:
        raise ValueError(f"cannot centre-pad a {tuple(kernel.shape[-2:])} kernel to {size}x{size}")
    pad = (size - k) // 2
    return nn.functional.pad(kernel, (pad, pad, pad, pad))


def identity_kernel(channels: int, size: int, *, dtype: torch.dtype, device: torch.device | None = None) -> Tensor:
    """The k×k kernel of the identity map on `channels` channels."""
    kernel = torch.zeros(channels, channels, size, size, dtype=dtype, device=device)
    centre = size // 2
    kernel[torch.arange(channels), torch.arange(channels), centre, centre] = 1.0
    return kernel


def fuse_conv_bn(weight: Tensor, bias: Tensor | None, bn: nn.BatchNorm2d) -> tuple[Tensor, Tensor]:
    """Return (W', b') so that conv(x, W', b') == bn(conv(x, W, b)) with BN in eval mode."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("BatchNorm without running statistics cannot be fused")
    dtype = weight.dtype
    std = torch.sqrt(bn.running_var.to(dtype) + bn.eps)
    gamma = bn.weight.to(dtype) if bn.weight is not None else torch.ones_like(std)
    beta = bn.bias.to(dtype) if bn.bias is not None else torch.zeros_like(std)
    scale = gamma / std
    conv_bias = bias if bias is not None else torch.zeros_like(std)
    fused_weight = weight * scale.reshape(-1, 1, 1, 1)
    fused_bias = beta + (conv_bias - bn.running_mean.to(dtype)) * scale
    return fused_weight, fused_bias
