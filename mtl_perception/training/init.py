"""`train --init SOURCE`: start a run from trained weights, keeping the source's function.

Both sources become the compact *unfused* net (conv → BN → ReLU), which overparameterize
turns into any training form; the svd schemes factorise each kernel exactly (at full rank,
`model.rank: null`), so the first forward pass equals the source's in eval mode.

- A training checkpoint (a file): its training form collapsed without fusing BN, which keeps
  BN's affine parameters and running statistics as trained. The preferred source.
- A deploy artifact (a directory): BN is folded into each conv's bias and its statistics are
  gone. Each BN is rebuilt so eval mode is unchanged: running mean μ and variance σ² are
  measured per channel on training images, γ = √(σ² + ε) and β = μ + b cancel them. Then
  train-mode BN (batch statistics ≈ μ, σ²) also starts close to the artifact's function,
  rather than re-normalising every channel to unit variance (what identity BN would do).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from ..model import MultiTaskNet, NetConfig, collapse
from ..model.layers import conv_units

if TYPE_CHECKING:
    from torch.utils.data import Dataset

    from .config import TrainConfig


def compact_from_checkpoint(path: str | Path) -> MultiTaskNet:
    """The checkpoint's training form collapsed to the compact net, BN unfused (eval mode)."""
    from .build import model_from_checkpoint
    from .checkpoint import load_training_checkpoint, weights_error

    state = load_training_checkpoint(path)
    try:
        model = model_from_checkpoint(state)
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise weights_error(path, exc) from exc
    return collapse(model, fuse_bn=False).eval()


@torch.no_grad()
def conv_output_stats(deploy: MultiTaskNet, images: Tensor | None) -> dict[str, tuple[Tensor, Tensor]]:
    """Per unit with BN folded: mean and (biased) variance per channel of conv(x) without its bias."""
    if images is None:
        return {}
    stats: dict[str, tuple[Tensor, Tensor]] = {}
    handles = []
    for name, unit in conv_units(deploy):
        if not unit.has_norm:
            continue

        def record(module: nn.Module, _inputs: object, output: Tensor, name: str = name) -> None:
            y = (output - module.bias.reshape(1, -1, 1, 1)).double()
            stats[name] = (y.mean(dim=(0, 2, 3)), y.var(dim=(0, 2, 3), unbiased=False))

        handles.append(unit.conv.register_forward_hook(record))
    try:
        deploy.eval()(images)
    finally:
        for handle in handles:
            handle.remove()
    return stats


@torch.no_grad()
def unfuse_bn(deploy: MultiTaskNet, images: Tensor | None = None) -> MultiTaskNet:
    """The compact unfused net computing (eval mode) what the BN-fused `deploy` computes.

    images: normalised training images to measure the BN statistics on (None: μ = 0, σ² = 1).
    """
    if not deploy.config.fused_bn:
        raise ValueError("unfuse_bn expects a deploy (BN-fused) network")
    stats = conv_output_stats(deploy, images)
    with torch.random.fork_rng(devices=[]):
        compact = MultiTaskNet(dataclasses.replace(deploy.config, fused_bn=False))
    fused = dict(conv_units(deploy))
    for name, unit in conv_units(compact):
        source = fused[name].conv
        unit.conv.weight.copy_(source.weight)
        if not unit.has_norm:  # heads: conv with bias in both forms
            unit.conv.bias.copy_(source.bias)
            continue
        bn = unit.bn
        mean, var = stats.get(name, (torch.zeros(bn.num_features, dtype=torch.float64), torch.ones(bn.num_features, dtype=torch.float64)))
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
        bn.weight.copy_(torch.sqrt(var + bn.eps))
        bn.bias.copy_(mean + source.bias.double())
    return compact.eval()


def compact_from_artifact(path: str | Path, images: Tensor | None) -> MultiTaskNet:
    from ..runtime import load_artifact

    deploy, _meta = load_artifact(path)
    return unfuse_bn(deploy, images)


def compact_from_source(path: str | Path, images: Tensor | None = None) -> MultiTaskNet:
    """A directory is a deploy artifact, a file a training checkpoint (see the module docstring)."""
    return compact_from_artifact(path, images) if Path(path).is_dir() else compact_from_checkpoint(path)


def check_same_architecture(compact: MultiTaskNet, wanted: NetConfig, source: str | Path) -> None:
    """The config's compact architecture must be the source's (weights cannot be reshaped)."""
    have = dataclasses.replace(compact.config, fused_bn=False)
    if have != wanted:
        raise ValueError(f"--init {source}: its network {have} differs from the config's {wanted}; "
                         "set model.arch/tasks/width/task_layers to the source's")


def initial_compact(source: str | Path, config: TrainConfig, train_set: Dataset, num_classes: int, calibration: int = 16) -> MultiTaskNet:
    """The compact unfused net of an --init source; an artifact's BN statistics come from train frames."""
    from .build import prepare_batch

    samples = [train_set[i] for i in range(min(calibration, len(train_set)))]
    batch = {"image": torch.stack([s["image"] for s in samples])}
    images, _ = prepare_batch(batch, (config.data.height, config.data.width), torch.device("cpu"))
    compact = compact_from_source(source, images)
    check_same_architecture(compact, config.model.net_config(num_classes), source)
    return compact
