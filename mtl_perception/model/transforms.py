"""Pure tensor transforms between kernel forms: SVD factors, BN fusion, padding, composition.

None of these functions touch a module's state; they take tensors and return new ones.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


def svd_factorize(weight: Tensor, rank: int | None = None, *, balanced: bool = False, groups: int = 1) -> tuple[Tensor, Tensor, Tensor]:
    """Split a k×k kernel (C_out, C_in/G, k, k) into U (C_out, r, 1, k), m (G·r,), V (G·r, C_in/G, k, 1).

    Per group g, with A[(i, y), (o, x)] = W[o, i, y, x] and A = P·diag(S)·Qᵀ, V holds P, U holds Q
    and m = S, so fold_svd_factors(U, m, V) == W whenever r ≥ rank(A). `rank` is per group; a
    rank above the full rank min(C_in/G·k, C_out/G·k) adds random directions with m = 0
    (function unchanged); a smaller rank truncates (function changes). Depthwise convs
    (G = C) factorise per channel, rank ≤ k each.

    balanced: U·√S and √S·V with m = 1 instead (the same kernel). Deep-linear-network
    training assumes balanced factors; orthonormal U, V with m = S start with small
    effective steps. Padding directions beyond the full rank keep m = 0.
    """
    c_out, c_in, k, k2 = weight.shape  # c_in: input channels per group
    if k != k2:
        raise ValueError(f"only square kernels are supported, got {k}x{k2}")
    if groups < 1 or c_out % groups:
        raise ValueError(f"groups must divide the {c_out} output channels, got {groups}")
    c_group = c_out // groups
    full_rank = min(c_in * k, c_group * k)
    rank = full_rank if rank is None else int(rank)
    if rank < 1:
        raise ValueError(f"rank must be positive, got {rank}")
    matrix = weight.detach().to(torch.float64).reshape(groups, c_group, c_in, k, k).permute(0, 2, 3, 1, 4)
    left, singular, right_t = torch.linalg.svd(matrix.reshape(groups, c_in * k, c_group * k), full_matrices=False)
    keep = min(rank, full_rank)
    left, singular, right_t = left[..., :keep], singular[..., :keep], right_t[:, :keep]
    if rank > full_rank:
        left, singular, right_t = _pad_rank(left, singular, right_t, rank)
    if balanced:
        root = torch.where(singular > 0, singular.sqrt(), torch.ones_like(singular))
        left, right_t = left * root[:, None, :], right_t * root[:, :, None]
        singular = (singular > 0).to(singular.dtype)
    v = left.transpose(1, 2).reshape(groups * rank, c_in, k, 1)
    u = right_t.reshape(groups, rank, c_group, k).permute(0, 2, 1, 3).reshape(c_out, rank, 1, k)
    dtype = weight.dtype
    return u.to(dtype).contiguous(), singular.reshape(-1).to(dtype).contiguous(), v.to(dtype).contiguous()


def _pad_rank(left: Tensor, singular: Tensor, right_t: Tensor, rank: int) -> tuple[Tensor, Tensor, Tensor]:
    """Extend each group's factors to `rank` with seeded random directions whose m is 0."""
    groups, rows, keep = left.shape
    cols, extra = right_t.shape[-1], rank - keep
    generator = torch.Generator().manual_seed(rank)
    lefts, rights = [], []
    for g in range(groups):
        lefts.append(torch.cat([left[g], torch.randn(rows, extra, generator=generator, dtype=torch.float64) / rows**0.5], 1))
        rights.append(torch.cat([right_t[g], torch.randn(extra, cols, generator=generator, dtype=torch.float64) / cols**0.5], 0))
    return torch.stack(lefts), torch.cat([singular, singular.new_zeros(groups, extra)], 1), torch.stack(rights)


def factor_groups(u: Tensor, v: Tensor) -> int:
    """The conv groups of SVD factors: V stacks G blocks of U's per-group rank."""
    return v.shape[0] // u.shape[1]


def fold_svd_factors(u: Tensor, m: Tensor, v: Tensor) -> Tensor:
    """W[o, i, y, x] = Σ_r U[o, r, 0, x] · m[g·r_g + r] · V[g·r_g + r, i, y, 0], g the group of o."""
    groups = factor_groups(u, v)
    c_out, rank, _, k = u.shape
    u_g = u[:, :, 0, :].reshape(groups, c_out // groups, rank, k)
    v_g = v[:, :, :, 0].reshape(groups, rank, v.shape[1], k)
    return torch.einsum("gorx,gr,griy->goiyx", u_g, m.reshape(groups, rank), v_g).reshape(c_out, v.shape[1], k, k)


def compose_expansion(expand: Tensor, core: Tensor, project: Tensor) -> Tensor:
    """Fold 1×1 (C_in→a) · k×k (a→b) · 1×1 (b→C_out) into one k×k kernel (ExpandNet-CL), per group."""
    groups = expand.shape[0] // core.shape[1]
    e = expand[:, :, 0, 0].reshape(groups, -1, expand.shape[1])
    c = core.reshape(groups, -1, *core.shape[1:])
    p = project[:, :, 0, 0].reshape(groups, -1, project.shape[1])
    kernel = torch.einsum("gob,gbayx,gai->goiyx", p, c, e)
    return kernel.reshape(project.shape[0], expand.shape[1], *core.shape[-2:])


def pad_kernel(kernel: Tensor, size: int) -> Tensor:
    """Zero-pad a centred odd k×k kernel to size×size."""
    k = kernel.shape[-1]
    if kernel.shape[-2] != k or k > size or (size - k) % 2:
        raise ValueError(f"cannot centre-pad a {tuple(kernel.shape[-2:])} kernel to {size}x{size}")
    pad = (size - k) // 2
    return nn.functional.pad(kernel, (pad, pad, pad, pad))


def identity_kernel(channels: int, size: int, *, dtype: torch.dtype, device: torch.device | None = None, groups: int = 1) -> Tensor:
    """The k×k kernel (C, C/G, k, k) of the identity map on `channels` channels in `groups` groups."""
    per_group = channels // groups
    kernel = torch.zeros(channels, per_group, size, size, dtype=dtype, device=device)
    centre = size // 2
    outputs = torch.arange(channels)
    kernel[outputs, outputs % per_group, centre, centre] = 1.0
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
