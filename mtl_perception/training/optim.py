"""Optimisation: parameter groups by role (plain, SVD factor, encoder) and one optimizer per phase."""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from ..model import MultiTaskNet, SVDBasis, SVDConv, partition_parameters
from .config import TrainConfig
from .schedule import JOINT, PHASE_A, PHASE_B, PhaseSchedule
from .weighting import LossWeighting


def svd_factors(model: nn.Module) -> set[int]:
    """ids of every SVD factor parameter (U, V and m) in a training form."""
    ids = set()
    for module in model.modules():
        if isinstance(module, SVDBasis):
            ids.update((id(module.u), id(module.v)))
        elif isinstance(module, SVDConv):
            ids.add(id(module.m))
    return ids


def encoder_parameters(model: MultiTaskNet, config: TrainConfig) -> set[int]:
    """ids of the encoder's parameters when they get their own learning rate (else none: one group fewer)."""
    if config.model.encoder_lr_factor == 1.0:
        return set()
    return {id(p) for p in model.trunk.encoder.parameters()}


def param_groups(params: Sequence[nn.Parameter], factors: set[int], config: TrainConfig, lr_scale: float = 1.0,
                 encoder: set[int] = frozenset()) -> list[dict[str, Any]]:
    """Plain parameters at the base rate; SVD factors at factor_lr_factor and their own decay;
    the encoder's (when `encoder` names them) at encoder_lr_factor on top."""
    o = config.optim
    decay = o.weight_decay if o.factor_weight_decay is None else o.factor_weight_decay
    groups = []
    for is_factor in (False, True):
        for in_encoder in (False, True):
            chosen = [p for p in params if (id(p) in factors) == is_factor and (id(p) in encoder) == in_encoder]
            if not chosen:
                continue
            lr = o.lr * lr_scale * (o.factor_lr_factor if is_factor else 1.0) * (config.model.encoder_lr_factor if in_encoder else 1.0)
            groups.append({"params": chosen, "lr": lr, **({"weight_decay": decay} if is_factor else {})})
    return groups


def build_optimizer(params: Sequence[Any], config: TrainConfig) -> torch.optim.Optimizer:
    o = config.optim
    if o.name == "sgd":
        return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
    cls = torch.optim.AdamW if o.name == "adamw" else torch.optim.Adam
    return cls(params, lr=o.lr, weight_decay=o.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig) -> torch.optim.lr_scheduler.LRScheduler:
    o = config.optim
    if o.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if o.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=o.step_size, gamma=o.gamma)
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


def build_optimizers(model: MultiTaskNet, weighting: LossWeighting, schedule: PhaseSchedule, config: TrainConfig) -> dict[str, torch.optim.Optimizer]:
    """One optimizer per phase. requires_grad never changes; a phase simply steps only its own set."""
    extra = list(weighting.parameters())  # uncertainty log-variances weight the joint/phase-A loss
    factors, encoder = svd_factors(model), encoder_parameters(model, config)
    if not schedule.alternating:
        return {JOINT: build_optimizer(param_groups(list(model.parameters()) + extra, factors, config, encoder=encoder), config)}
    part = partition_parameters(model)
    scales = [p for t in model.config.tasks for p in part.task_scales[t]]
    private = [p for t in model.config.tasks for p in part.task_private[t]]
    phase_b_groups = param_groups(private, factors, config) + param_groups(scales, factors, config, config.optim.scale_lr_factor)
    phase_a_params = part.shared + (private if config.schedule.private_in_phase_a else []) + extra
    return {
        PHASE_A: build_optimizer(param_groups(phase_a_params, factors, config, encoder=encoder), config),
        PHASE_B: build_optimizer(phase_b_groups, config),
    }
