"""Pure kernel transforms against hand-worked values and float64 algebra."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from mtl_perception.model import count_macs, fold_svd_factors, fuse_conv_bn, pad_kernel, svd_factorize
from mtl_perception.model import MultiTaskNet, NetConfig
from mtl_perception.model.transforms import compose_expansion


def test_fold_svd_factors_hand_example() -> None:
    # Rank one, one channel each way: W = m · v ⊗ u (outer product of column and row).
    u = torch.tensor([[[[1.0, 2.0, 3.0]]]])  # (C_out=1, r=1, 1, k=3)
    v = torch.tensor([[[[1.0], [0.0], [-1.0]]]])  # (r=1, C_in=1, k=3, 1)
    m = torch.tensor([2.0])
    expected = 2.0 * torch.tensor([[1.0], [0.0], [-1.0]]) @ torch.tensor([[1.0, 2.0, 3.0]])
    assert torch.equal(fold_svd_factors(u, m, v)[0, 0], expected)


def test_svd_factorize_full_rank_reconstructs_and_truncation_is_optimal() -> None:
    weight = torch.randn(5, 4, 3, 3, dtype=torch.float64)
    u, m, v = svd_factorize(weight)
    assert m.shape == (12,)
    assert torch.allclose(fold_svd_factors(u, m, v), weight, atol=1e-12)
    # Rank-2 truncation error equals the tail singular values (Eckart–Young).
    u2, m2, v2 = svd_factorize(weight, rank=2)
    residual = (fold_svd_factors(u2, m2, v2) - weight).pow(2).sum().sqrt()
    assert torch.isclose(residual, m[2:].pow(2).sum().sqrt(), atol=1e-10)
    # Extra rank beyond full adds zero-scaled directions: function unchanged.
    u3, m3, v3 = svd_factorize(weight, rank=15)
    assert torch.allclose(fold_svd_factors(u3, m3, v3), weight, atol=1e-12) and bool((m3[12:] == 0).all())


def test_factorised_convs_equal_the_kernel_conv_with_stride_and_padding() -> None:
    weight = torch.randn(3, 2, 3, 3, dtype=torch.float64)
    u, m, v = svd_factorize(weight)
    x = torch.randn(1, 2, 9, 8, dtype=torch.float64)
    sequential = F.conv2d(F.conv2d(x, v, stride=(2, 1), padding=(1, 0)) * m.reshape(1, -1, 1, 1), u, stride=(1, 2), padding=(0, 1))
    assert torch.allclose(sequential, F.conv2d(x, weight, stride=2, padding=1), atol=1e-12)


def test_fuse_conv_bn_matches_eval_bn() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, padding=1, bias=True).double()
    bn = nn.BatchNorm2d(4).double()
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-1, 1)
    bn.eval()
    weight, bias = fuse_conv_bn(conv.weight, conv.bias, bn)
    x = torch.randn(2, 3, 7, 5, dtype=torch.float64)
    assert torch.allclose(F.conv2d(x, weight, bias, padding=1), bn(conv(x)), atol=1e-12)


def test_pad_kernel_centres() -> None:
    kernel = torch.arange(4.0).reshape(2, 2, 1, 1)
    padded = pad_kernel(kernel, 3)
    assert padded.shape == (2, 2, 3, 3)
    assert torch.equal(padded[:, :, 1, 1], kernel[:, :, 0, 0]) and padded.abs().sum() == kernel.abs().sum()


def test_compose_expansion_equals_three_convs() -> None:
    expand, core, project = torch.randn(8, 2, 1, 1), torch.randn(12, 8, 3, 3), torch.randn(3, 12, 1, 1)
    x = torch.randn(1, 2, 6, 6)
    chained = F.conv2d(F.conv2d(F.conv2d(x, expand), core, padding=1), project)
    assert torch.allclose(F.conv2d(x, compose_expansion(expand, core, project), padding=1), chained, atol=1e-4)


def test_count_macs_hand_computed_for_a_single_unit() -> None:
    net = MultiTaskNet(NetConfig(arch="segnet", tasks=("depth",), base_channels=(4, 4), task_layers=0))
    h, w = 16, 16
    # Encoder 3→4, 4→4 at 16², 4→4 ×2 at 8²; decoder 4→4 ×2 at 8², 4→4 ×2 at 16²; head 4→1 (1×1) at 16².
    expected = (16 * 16 * 4 * 9 * 3) + (16 * 16 * 4 * 9 * 4) + 2 * (8 * 8 * 4 * 9 * 4) + 2 * (8 * 8 * 4 * 9 * 4) + 2 * (16 * 16 * 4 * 9 * 4) + 16 * 16 * 4
    assert count_macs(net, h, w) == expected


def test_unit_vectors_equals_f_normalize() -> None:
    from mtl_perception.model.network import unit_vectors

    x = torch.randn(2, 3, 7, 5, dtype=torch.float64)
    x[0, :, 0, 0] = 0.0  # zero vector stays zero, as with F.normalize
    assert torch.allclose(unit_vectors(x), F.normalize(x, dim=1, eps=1e-6), atol=1e-12)
