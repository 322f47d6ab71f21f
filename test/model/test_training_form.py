"""Gradients reach every training-form parameter, and parameter roles follow DESIGN §1."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from mtl_perception.model import DECODERS, SCHEMES, TASKS, MultiTaskNet, NetConfig, overparameterize, partition_parameters
from mtl_perception.model.overparam import task_shared_units

ARCH_DECODERS = [(arch, decoder) for arch in ("segnet", "resnet", "efficientnet_lite0") for decoder in DECODERS]


def _net(arch: str, tasks=TASKS, decoder: str = "shared") -> MultiTaskNet:
    torch.manual_seed(0)
    return MultiTaskNet(NetConfig(arch=arch, tasks=tasks, num_classes=4, base_channels=(8, 12, 16), task_layers=2, decoder=decoder))


def _task_losses(outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # Targets chosen so no loss is flat at init; any differentiable loss will do here.
    losses = {}
    if "segmentation" in outputs:
        logits = outputs["segmentation"]
        target = torch.arange(logits.shape[-1]).remainder(logits.shape[1]).expand(logits.shape[0], logits.shape[2], -1)
        losses["segmentation"] = F.cross_entropy(logits, target)
    if "depth" in outputs:
        losses["depth"] = (outputs["depth"] - 2.0).abs().mean()
    if "normals" in outputs:
        target = torch.tensor([0.3, -0.5, -0.8]).reshape(1, 3, 1, 1)
        losses["normals"] = (1 - (outputs["normals"] * target).sum(1)).mean()
    return losses


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize(("arch", "decoder"), ARCH_DECODERS)
def test_every_parameter_receives_gradient(arch: str, decoder: str, scheme: str) -> None:
    model = overparameterize(_net(arch, decoder=decoder), scheme).train()
    x = torch.randn(2, 3, 32, 40, generator=torch.Generator().manual_seed(1))
    sum(_task_losses(model(x)).values()).backward()
    starved = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not starved, f"no gradient reaches {starved}"


@pytest.mark.parametrize(("arch", "decoder"), ARCH_DECODERS)
def test_task_scale_gets_gradient_from_own_task_only(arch: str, decoder: str) -> None:
    model = overparameterize(_net(arch, decoder=decoder), "svd_shared").train()
    partition = partition_parameters(model)
    x = torch.randn(2, 3, 32, 40, generator=torch.Generator().manual_seed(2))
    for task in TASKS:
        model.zero_grad(set_to_none=True)
        _task_losses(model(x))[task].backward()
        for other, scales in partition.task_scales.items():
            assert scales, "every task must own a diagonal m per task-shared layer"
            for m in scales:
                if other == task:
                    assert m.grad is not None and m.grad.abs().sum() > 0
                else:
                    assert m.grad is None or torch.count_nonzero(m.grad) == 0


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("scheme", SCHEMES)
def test_partition_covers_every_parameter_once(scheme: str, decoder: str) -> None:
    model = overparameterize(_net("segnet", decoder=decoder), scheme)
    partition = partition_parameters(model)
    groups = [partition.shared] + list(partition.task_scales.values()) + list(partition.task_private.values())
    ids = [id(p) for group in groups for p in group]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in model.parameters()}
    shared_bases = {id(branch.layers[0].conv.basis.u) for branch in model.branches.values()} if "shared" in scheme else set()
    assert shared_bases <= {id(p) for p in partition.shared}
    if "shared" not in scheme:
        assert all(not scales for scales in partition.task_scales.values())


@pytest.mark.parametrize("tasks", [("segmentation",), ("depth",), ("normals",), ("depth", "normals")])
def test_any_task_subset_builds_and_predicts(tasks) -> None:
    net = _net("resnet", tasks).eval()
    with torch.no_grad():
        out = net(torch.randn(1, 3, 33, 45))
    assert tuple(out) == tasks
    if "depth" in out:
        assert out["depth"].shape == (1, 1, 33, 45) and bool((out["depth"] > 0).all())
    if "normals" in out:
        assert torch.allclose(out["normals"].norm(dim=1), torch.ones(1, 33, 45), atol=1e-5)
    if "segmentation" in out:
        assert out["segmentation"].shape == (1, 4, 33, 45)


def test_netconfig_validation_and_roundtrip() -> None:
    config = NetConfig(arch="resnet", tasks=("depth",), num_classes=7, width=0.5)
    assert NetConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="arch"):
        NetConfig(arch="vgg")
    with pytest.raises(ValueError, match="tasks"):
        NetConfig(tasks=("depth", "depth"))
    with pytest.raises(ValueError, match="num_classes"):
        NetConfig(num_classes=256)
    with pytest.raises(ValueError, match="unknown NetConfig keys"):
        NetConfig.from_dict({"arch": "segnet", "colour": "red"})


@pytest.mark.parametrize("arch", ["segnet", "resnet", "efficientnet_lite0"])
def test_per_task_decoders_share_factors_in_every_decoder_layer(arch: str) -> None:
    """svd_shared on per-task decoders: every decoder and task layer of every task shares one U, V."""
    compact = _net(arch, decoder="per_task")
    assert compact.trunk.decoder is None and all(b.decoder is not None for b in compact.branches.values())
    model = overparameterize(compact, "svd_shared")
    groups = task_shared_units(model)
    decoder_units = sum(1 for name, _ in model.branches["depth"].named_modules() if name.startswith("decoder.") and name.endswith(".conv"))
    assert len(groups) == decoder_units + 2  # + the two task layers; heads stay per task
    partition = partition_parameters(model)
    shared = {id(p) for p in partition.shared}
    for group in groups:
        convs = [unit.conv for unit in group]
        assert all(c.basis is convs[0].basis for c in convs)
        assert {id(convs[0].basis.u), id(convs[0].basis.v)} <= shared
        assert len({id(c.m) for c in convs}) == len(TASKS)
    scales = sum(len(v) for v in partition.task_scales.values())
    assert scales == len(TASKS) * len(groups)
