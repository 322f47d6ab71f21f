"""Build the over-parameterised training form of a compact net, and collapse it back exactly."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from .blocks import ExpandConv, RepVGGConv, SVDBasis, SVDConv, shared_svd_convs
from .layers import ConvUnit, conv_units, is_plain, unit_kernel
from .network import MultiTaskNet
from .transforms import fuse_conv_bn

SCHEMES: tuple[str, ...] = ("none", "svd", "svd_shared", "svd_shared_joint", "repvgg", "expandnet")
SVD_INITS: tuple[str, ...] = ("svd", "balanced")  # m = singular values, or √S folded into U and V with m = 1
TASK_SHARED_SCHEMES = frozenset({"svd_shared", "svd_shared_joint"})
ALTERNATING_SCHEMES = frozenset({"svd_shared"})


def overparameterize(net: MultiTaskNet, scheme: str = "svd_shared", *, rank: int | None = None, expansion: int = 4, svd_init: str = "svd") -> MultiTaskNet:
    """Return the training form of a compact `net` for `scheme`; `net` itself is not modified.

    svd schemes start from the SVD of each compact kernel, so the function is unchanged
    (`svd_init` picks how the singular values are split between U, m and V);
    repvgg and expandnet start afresh as in their papers.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; choose one of {SCHEMES}")
    if svd_init not in SVD_INITS:
        raise ValueError(f"unknown svd_init {svd_init!r}; choose one of {SVD_INITS}")
    balanced = svd_init == "balanced"
    if net.config.fused_bn:
        raise ValueError("cannot over-parameterise a deploy (BN-fused) network; start from the compact form")
    units = conv_units(net)
    if not all(is_plain(unit) for _, unit in units):
        raise ValueError(f"net is already over-parameterised (scheme {net.scheme!r}); pass the compact form")
    model = copy.deepcopy(net)
    model.scheme = scheme
    if scheme == "none":
        return model
    handled: set[int] = set()
    if scheme in TASK_SHARED_SCHEMES:
        for group in task_shared_units(model):
            for unit, conv in zip(group, shared_svd_convs([unit.conv for unit in group], rank, balanced=balanced)):
                unit.conv = conv
                handled.add(id(unit))
    for _, unit in conv_units(model):
        if id(unit) in handled:
            continue
        if scheme in ("svd", *TASK_SHARED_SCHEMES):
            unit.conv = SVDConv.from_conv(unit.conv, rank, balanced=balanced)
        elif scheme == "repvgg":
            unit.conv = RepVGGConv.from_conv(unit.conv)
        else:
            unit.conv = ExpandConv.from_conv(unit.conv, expansion)
    return model


def task_shared_units(model: MultiTaskNet) -> list[list[ConvUnit]]:
    """The units that share U, V across tasks: each branch's units but its output head, matched by name.

    Branches have the same shapes apart from the head (per-task decoders included), so the
    same name is the same geometry in every task; heads differ in channels and stay per task.
    """
    named = [dict(conv_units(branch)) for branch in model.branches.values()]
    shared_names = [name for name in named[0] if not name.startswith("head")]
    return [[units[name] for units in named] for name in shared_names]


def collapse(model: MultiTaskNet, fuse_bn: bool = False) -> MultiTaskNet:
    """Fold every training block into one plain conv; returns a new plain MultiTaskNet.

    With fuse_bn=False the result has exactly the compact net's state_dict keys and shapes
    (a fold's bias is absorbed into the following BN's running mean). With fuse_bn=True BN
    is folded too (the deploy form). Folding happens in float64, then casts back.
    """
    reference = next(model.parameters())
    config = replace(model.config, fused_bn=model.config.fused_bn or fuse_bn)
    with torch.random.fork_rng(devices=[]):  # building the result must not disturb training RNG
        compact = MultiTaskNet(config).to(device=reference.device, dtype=reference.dtype)
    target_units = dict(conv_units(compact))
    source = copy.deepcopy(model).to(torch.float64)  # never fold the caller's training form in place
    with torch.no_grad():
        for name, unit in conv_units(source):
            target = target_units.pop(name)
            weight, bias = unit_kernel(unit)
            bn = unit.bn if isinstance(unit.bn, nn.BatchNorm2d) else None
            if bn is not None and isinstance(target.bn, nn.BatchNorm2d):
                target.bn.load_state_dict(bn.state_dict())
                if bias is not None:  # BN(y + b) with mean μ equals BN(y) with mean μ − b
                    target.bn.running_mean.sub_(bias.to(target.bn.running_mean.dtype))
                bias = None
            elif bn is not None:
                weight, bias = fuse_conv_bn(weight, bias, bn)
            target.conv.weight.copy_(weight)
            if target.conv.bias is not None:
                target.conv.bias.copy_(bias if bias is not None else torch.zeros_like(target.conv.bias))
            elif bias is not None:
                raise RuntimeError(f"{name}: folded bias has nowhere to go")
    if target_units:
        raise RuntimeError(f"collapse left units unset: {sorted(target_units)}")
    compact.train(model.training)
    return compact


def set_folded_forward(model: nn.Module, enabled: bool) -> None:
    """Run SVD and ExpandNet convs as one folded conv (same function and gradients, fewer FLOPs)."""
    for module in model.modules():
        if isinstance(module, (SVDConv, ExpandConv)):
            module.folded_forward = enabled


@dataclass
class ParameterPartition:
    """Parameters by role, for the alternating schedule of DESIGN §1.

    shared: trunk and task-shared U, V. task_scales[t]: task t's diagonal m of task-shared
    layers. task_private[t]: everything else that only task t uses (its BN, heads, biases).
    """

    shared: list[nn.Parameter] = field(default_factory=list)
    task_scales: dict[str, list[nn.Parameter]] = field(default_factory=dict)
    task_private: dict[str, list[nn.Parameter]] = field(default_factory=dict)


def partition_parameters(model: MultiTaskNet) -> ParameterPartition:
    """Split a (possibly over-parameterised) net's parameters into shared and per-task sets."""
    owners: dict[int, set[str]] = {}
    for task, branch in model.branches.items():
        for module in branch.modules():
            if isinstance(module, SVDBasis):
                owners.setdefault(id(module), set()).add(task)
    shared_bases = {basis_id for basis_id, tasks in owners.items() if len(tasks) > 1}
    partition = ParameterPartition()
    assigned: set[int] = set()
    for task, branch in model.branches.items():
        scales, private = partition.task_scales.setdefault(task, []), partition.task_private.setdefault(task, [])
        for module in branch.modules():
            if isinstance(module, SVDBasis) and id(module) in shared_bases:
                continue
            for name, param in module.named_parameters(recurse=False):
                is_scale = isinstance(module, SVDConv) and name == "m" and id(module.basis) in shared_bases
                (scales if is_scale else private).append(param)
                assigned.add(id(param))
    partition.shared = [p for p in model.parameters() if id(p) not in assigned]
    return partition
