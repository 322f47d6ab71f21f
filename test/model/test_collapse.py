"""collapse(overparameterize(net, s)) equals the training form, for every scheme and arch."""
from __future__ import annotations

import copy

import pytest
import torch
from torch.nn import functional as F

from support.model import perturb_parameters, randomise_batchnorm
from mtl_perception.model import (
    DECODERS,
    SCHEMES,
    SVD_INITS,
    ExpandConv,
    MultiTaskNet,
    NetConfig,
    RepVGGConv,
    SVDConv,
    collapse,
    count_parameters,
    overparameterize,
)
from mtl_perception.model.efficientnet import VARIANTS, StageSpec
from mtl_perception.model.layers import ConvGeometry
from mtl_perception.model.transforms import svd_factorize

ARCHS = ("segnet", "resnet", "efficientnet_lite0")


# Lite0's block types (expand, depthwise 3×3 and 5×5 at stride 1 and 2, TF padding, residuals) at a
# fraction of its width, so every scheme × decoder runs in float64 within seconds; the full
# Lite0 collapses in test_full_efficientnet_lite0_collapses_exactly.
TINY_LITE_STAGES = (StageSpec(1, 3, 1, 1, 8), StageSpec(2, 3, 2, 3, 12), StageSpec(1, 5, 2, 3, 16), StageSpec(2, 5, 1, 2, 16))


@pytest.fixture(autouse=True)
def tiny_efficientnet(monkeypatch):
    monkeypatch.setitem(VARIANTS, "efficientnet_lite0", TINY_LITE_STAGES)


def _net(arch: str, dtype: torch.dtype, **overrides) -> MultiTaskNet:
    torch.manual_seed(0)
    config = NetConfig(arch=arch, num_classes=5, base_channels=(8, 12, 16), task_layers=2, **overrides)
    return MultiTaskNet(config).to(dtype)


def _trained_form(arch: str, scheme: str, dtype: torch.dtype, decoder: str = "shared") -> MultiTaskNet:
    generator = torch.Generator().manual_seed(1)
    big = overparameterize(_net(arch, dtype, decoder=decoder), scheme).to(dtype)
    perturb_parameters(big, generator)
    randomise_batchnorm(big, generator)
    return big.eval()


def _max_abs(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


def _max_rel(a: dict, b: dict) -> float:
    return max(((a[k] - b[k]).abs().max() / a[k].abs().max().clamp_min(1e-12)).item() for k in a)


@pytest.mark.parametrize("fuse_bn", [False, True], ids=["bn", "fused"])
@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("arch", ARCHS)
def test_collapse_matches_training_form(arch: str, scheme: str, decoder: str, fuse_bn: bool) -> None:
    # Odd sizes, and even ones (where TensorFlow "same" padding is asymmetric at stride 2).
    size = (35, 47) if fuse_bn else (32, 48)
    x64 = torch.randn(2, 3, *size, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    big64 = _trained_form(arch, scheme, torch.float64, decoder)
    small64 = collapse(big64, fuse_bn=fuse_bn).eval()
    assert all(p.dtype == torch.float64 for p in small64.parameters())
    with torch.no_grad():
        assert _max_abs(big64(x64), small64(x64)) <= 1e-9

    big32 = _trained_form(arch, scheme, torch.float32, decoder)
    small32 = collapse(big32, fuse_bn=fuse_bn).eval()
    with torch.no_grad():
        assert _max_rel(big32(x64.float()), small32(x64.float())) <= 1e-4


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("arch", ARCHS)
def test_collapsed_net_has_compact_structure(arch: str, scheme: str, decoder: str) -> None:
    compact = _net(arch, torch.float32, decoder=decoder)
    small = collapse(overparameterize(compact, scheme))
    assert type(small) is MultiTaskNet
    reference = compact.state_dict()
    collapsed = small.state_dict()
    assert list(collapsed) == list(reference)
    assert all(collapsed[k].shape == reference[k].shape for k in reference)
    assert count_parameters(small) == count_parameters(compact)


@pytest.mark.parametrize("svd_init", SVD_INITS)
@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("scheme", ["svd", "svd_shared", "svd_shared_joint"])
@pytest.mark.parametrize("arch", ARCHS)
def test_svd_schemes_preserve_function_at_init(arch: str, scheme: str, decoder: str, svd_init: str) -> None:
    compact = _net(arch, torch.float64, decoder=decoder)
    randomise_batchnorm(compact, torch.Generator().manual_seed(3))
    compact.eval()
    big = overparameterize(compact, scheme, svd_init=svd_init).eval()
    x = torch.randn(1, 3, 33, 41, dtype=torch.float64)
    with torch.no_grad():
        assert _max_abs(compact(x), big(x)) <= 1e-9


@pytest.mark.parametrize("rank", [None, 4, 40])
def test_balanced_factors_split_singular_values_evenly(rank) -> None:
    weight = torch.randn(6, 5, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    u0, s0, v0 = svd_factorize(weight, rank)
    u, m, v = svd_factorize(weight, rank, balanced=True)
    live = s0 > 0
    assert torch.equal(m, live.double())  # m = 1 on every singular direction, 0 on padding
    # Column r of U and row r of V both carry √s_r: ‖U_r‖ = ‖V_r‖ = √s_r (U0, V0 orthonormal).
    u_norms = u.square().sum((0, 2, 3)).sqrt()
    v_norms = v.square().sum((1, 2, 3)).sqrt()
    torch.testing.assert_close(u_norms[live], s0[live].sqrt(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(v_norms[live], s0[live].sqrt(), rtol=1e-12, atol=1e-12)
    from mtl_perception.model import fold_svd_factors

    torch.testing.assert_close(fold_svd_factors(u, m, v), fold_svd_factors(u0, s0, v0), rtol=0, atol=1e-12)


def test_unknown_svd_init_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown svd_init"):
        overparameterize(_net("segnet", torch.float32), "svd", svd_init="random")


@pytest.mark.parametrize("block", ["svd", "expandnet"])
def test_folded_forward_gives_the_same_gradients(block: str) -> None:
    torch.manual_seed(9)
    conv = ConvGeometry(5, 4, 3, 2, True).make_conv().double()
    unfolded = (SVDConv.from_conv(conv) if block == "svd" else ExpandConv.from_conv(conv).double())
    perturb_parameters(unfolded, torch.Generator().manual_seed(10))
    folded = copy.deepcopy(unfolded)
    folded.folded_forward = True
    x = torch.randn(2, 5, 11, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(11))
    target = torch.randn(2, 4, 6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(12))
    for module in (unfolded, folded):
        ((module(x) - target) ** 2).sum().backward()
    for (name, a), (_, b) in zip(unfolded.named_parameters(), folded.named_parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-10, atol=1e-12, msg=name)


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
    "svd_balanced": lambda conv: SVDConv.from_conv(conv, balanced=True),
    "repvgg": RepVGGConv.from_conv,
    "expandnet": ExpandConv.from_conv,
    "expandnet_folded": lambda conv: _folded(ExpandConv.from_conv(conv)),
}


def _folded(block):
    block.folded_forward = True
    return block


@pytest.mark.parametrize("layout", ["dense", "depthwise", "grouped", "explicit_pad"])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("kernel", [1, 3, 5])
@pytest.mark.parametrize("block", sorted(BLOCKS))
def test_block_fold_equals_block_forward(block: str, kernel: int, stride: int, bias: bool, layout: str) -> None:
    torch.manual_seed(5)
    groups = {"depthwise": 6, "grouped": 2}.get(layout, 1)
    out_channels = 6 if block == "repvgg" or groups > 1 else 5
    explicit_pad = layout == "explicit_pad" and kernel > 1
    conv = ConvGeometry(6, out_channels, kernel, stride, bias, groups, explicit_pad).make_conv().double()
    module = BLOCKS[block](conv).double()
    randomise_batchnorm(module, torch.Generator().manual_seed(6))
    perturb_parameters(module, torch.Generator().manual_seed(7))
    module.eval()
    x = torch.randn(2, 6, 13, 9, dtype=torch.float64)
    weight, folded_bias = module.fold()
    assert weight.shape == conv.weight.shape
    expected = F.conv2d(x, weight, folded_bias, stride=stride, padding=conv.padding, groups=groups)
    with torch.no_grad():
        assert (module(x) - expected).abs().max().item() <= 1e-10


@pytest.mark.parametrize("groups", [1, 3, 6])
def test_shared_svd_stacks_grouped_bases_exactly(groups: int) -> None:
    """Task kernels that differ, in a grouped (depthwise at 6) conv: each task's m selects its own block."""
    from mtl_perception.model.blocks import shared_svd_convs

    convs = [ConvGeometry(6, 6, 3, 1, True, groups).make_conv().double() for _ in range(3)]
    shared = shared_svd_convs(convs)
    assert all(s.basis is shared[0].basis for s in shared)
    assert shared[0].basis.rank == 3 * groups * min(6 // groups * 3, 6 // groups * 3)
    x = torch.randn(2, 6, 9, 11, dtype=torch.float64, generator=torch.Generator().manual_seed(13))
    with torch.no_grad():
        for conv, block in zip(convs, shared):
            assert (block(x) - conv(x)).abs().max().item() <= 1e-10
            torch.testing.assert_close(block.fold()[0], conv.weight, rtol=0, atol=1e-12)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_full_efficientnet_lite0_collapses_exactly(scheme: str, monkeypatch) -> None:
    monkeypatch.undo()  # the real Lite0 stages
    torch.manual_seed(0)
    net = MultiTaskNet(NetConfig(arch="efficientnet_lite0", num_classes=5, base_channels=(8, 12, 16))).double()
    big = overparameterize(net, scheme).double()
    perturb_parameters(big, torch.Generator().manual_seed(1))
    randomise_batchnorm(big, torch.Generator().manual_seed(2))
    big.eval()
    small = collapse(big, fuse_bn=True).eval()
    x = torch.randn(1, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert _max_abs(big(x), small(x)) <= 1e-9
