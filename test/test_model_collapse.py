"""collapse(overparameterize(net, s)) equals the training form, for every scheme and arch."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from helpers import perturb_parameters, randomise_batchnorm
from mtl_perception.model import (
    SCHEMES,
    ExpandConv,
    MultiTaskNet,
    NetConfig,
    RepVGGConv,
    SVDConv,
    collapse,
    count_parameters,
    overparameterize,
)
from mtl_perception.model.layers import ConvGeometry

ARCHS = ("segnet", "resnet")


def _net(arch: str, dtype: torch.dtype, **overrides) -> MultiTaskNet:
    torch.manual_seed(0)
    config = NetConfig(arch=arch, num_classes=5, base_channels=(8, 12, 16), task_layers=2, **overrides)
    return MultiTaskNet(config).to(dtype)


def _trained_form(arch: str, scheme: str, dtype: torch.dtype) -> MultiTaskNet:
    generator = torch.Generator().manual_seed(1)
    big = overparameterize(_net(arch, dtype), scheme).to(dtype)
    perturb_parameters(big, generator)
    randomise_batchnorm(big, generator)
    return big.eval()


def _max_abs(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


def _max_rel(a: dict, b: dict) -> float:
    return max(((a[k] - b[k]).abs().max() / a[k].abs().max().clamp_min(1e-12)).item() for k in a)


@pytest.mark.parametrize("fuse_bn", [False, True], ids=["bn", "fused"])
@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("arch", ARCHS)
def test_collapse_matches_training_form(arch: str, scheme: str, fuse_bn: bool) -> None:
    x64 = torch.randn(2, 3, 35, 47, dtype=torch.float64, generator=torch.Generator().manual_seed(2))  # odd sizes
    big64 = _trained_form(arch, scheme, torch.float64)
    small64 = collapse(big64, fuse_bn=fuse_bn).eval()
    assert all(p.dtype == torch.float64 for p in small64.parameters())
    with torch.no_grad():
        assert _max_abs(big64(x64), small64(x64)) <= 1e-9

    big32 = _trained_form(arch, scheme, torch.float32)
    small32 = collapse(big32, fuse_bn=fuse_bn).eval()
    with torch.no_grad():
        assert _max_rel(big32(x64.float()), small32(x64.float())) <= 1e-4


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("arch", ARCHS)
def test_collapsed_net_has_compact_structure(arch: str, scheme: str) -> None:
    compact = _net(arch, torch.float32)
    small = collapse(overparameterize(compact, scheme))
    assert type(small) is MultiTaskNet
    reference = compact.state_dict()
    collapsed = small.state_dict()
    assert list(collapsed) == list(reference)
    assert all(collapsed[k].shape == reference[k].shape for k in reference)
    assert count_parameters(small) == count_parameters(compact)


@pytest.mark.parametrize("scheme", ["svd", "svd_shared", "svd_shared_joint"])
@pytest.mark.parametrize("arch", ARCHS)
def test_svd_schemes_preserve_function_at_init(arch: str, scheme: str) -> None:
    compact = _net(arch, torch.float64)
    randomise_batchnorm(compact, torch.Generator().manual_seed(3))
    compact.eval()
    big = overparameterize(compact, scheme).eval()
    x = torch.randn(1, 3, 33, 41, dtype=torch.float64)
    with torch.no_grad():
        assert _max_abs(compact(x), big(x)) <= 1e-9


def test_shared_svd_is_exact_when_task_kernels_differ() -> None:
    compact = _net("segnet", torch.float64)
    perturb_parameters(compact, torch.Generator().manual_seed(4))  # task branches no longer alike
    compact.eval()
    big = overparameterize(compact, "svd_shared").eval()
    convs = [branch.layers[0].conv for branch in big.branches.values()]
    assert all(c.basis is convs[0].basis for c in convs)
    x = torch.randn(1, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        assert _max_abs(compact(x), big(x)) <= 1e-9


def test_overparameterize_does_not_modify_input() -> None:
    compact = _net("resnet", torch.float32)
    before = {k: v.clone() for k, v in compact.state_dict().items()}
    big = overparameterize(compact, "svd_shared")
    collapse(big)
    after = compact.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(type(u.conv) is torch.nn.Conv2d for u in compact.modules() if hasattr(u, "conv"))


def test_collapse_does_not_modify_training_form() -> None:
    big = _trained_form("segnet", "repvgg", torch.float32)
    before = {k: v.clone() for k, v in big.state_dict().items()}
    collapse(big, fuse_bn=True)
    assert all(torch.equal(before[k], v) for k, v in big.state_dict().items())


def test_unknown_scheme_and_double_overparameterisation_are_refused() -> None:
    compact = _net("segnet", torch.float32)
    with pytest.raises(ValueError, match="unknown scheme"):
        overparameterize(compact, "lora")
    with pytest.raises(ValueError, match="already over-parameterised"):
        overparameterize(overparameterize(compact, "svd"), "svd")
    with pytest.raises(ValueError, match="deploy"):
        overparameterize(collapse(compact, fuse_bn=True), "svd")


BLOCKS = {
    "svd": lambda conv: SVDConv.from_conv(conv),
    "svd_folded": lambda conv: _folded(SVDConv.from_conv(conv)),
    "repvgg": RepVGGConv.from_conv,
    "expandnet": ExpandConv.from_conv,
}


def _folded(block: SVDConv) -> SVDConv:
    block.folded_forward = True
    return block


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("kernel", [1, 3])
@pytest.mark.parametrize("block", sorted(BLOCKS))
def test_block_fold_equals_block_forward(block: str, kernel: int, stride: int, bias: bool) -> None:
    torch.manual_seed(5)
    conv = ConvGeometry(6, 6 if block == "repvgg" else 5, kernel, stride, bias).make_conv().double()
    module = BLOCKS[block](conv).double()
    randomise_batchnorm(module, torch.Generator().manual_seed(6))
    perturb_parameters(module, torch.Generator().manual_seed(7))
    module.eval()
    x = torch.randn(2, 6, 13, 9, dtype=torch.float64)
    weight, folded_bias = module.fold()
    expected = F.conv2d(x, weight, folded_bias, stride=stride, padding=kernel // 2)
    with torch.no_grad():
        assert (module(x) - expected).abs().max().item() <= 1e-10
