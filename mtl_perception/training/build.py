"""Build the network a run trains: from a training config or from a checkpoint; and its inputs.

Export and eval import this module, not the training loop.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
from torch import Tensor
from torch.nn import functional as F
from torch.utils.data import Dataset

from ..model import MultiTaskNet, NetConfig, overparameterize, set_folded_forward
from ..model.network import MIN_DEPTH_M
from ..model.pretrained import load_pretrained_encoder
from ..runtime.artifact import IMAGENET_MEAN, IMAGENET_STD
from .config import ModelConfig


def mean_depth(dataset: Dataset, samples: int = 64) -> float | None:
    """Mean valid depth over the first samples of a dataset (None when it has no depth)."""
    total, count = 0.0, 0
    for i in range(min(samples, len(dataset))):
        depth = dataset[i].get("depth")
        if depth is None:
            return None
        valid = depth[depth > 0]
        total, count = total + float(valid.sum()), count + valid.numel()
    return total / count if count else None


def build_training_model(config: NetConfig, scheme: str, *, rank: int | None, expansion: int, folded_forward: bool, depth_init: float | None = None, svd_init: str = "svd",
                         compact: MultiTaskNet | None = None) -> MultiTaskNet:
    """The compact net (fresh, or `compact`: trained weights, see init.py), then its training form for `scheme`.

    depth_init: start the depth head at this depth (its bias through softplus⁻¹), the usual
    bias-to-the-data-mean init. Without it depth starts ~0.7 m and the first hundreds of
    steps only move that bias; every scheme gets the same init, so comparisons stay fair.
    """
    model = overparameterize(compact if compact is not None else MultiTaskNet(config), scheme, rank=rank, expansion=expansion, svd_init=svd_init)
    if depth_init is not None and "depth" in config.tasks:
        # Set on the training form: repvgg/expandnet re-initialise their blocks, dropping a compact bias.
        model.branches["depth"].head.set_output_bias(math.log(math.expm1(max(depth_init - MIN_DEPTH_M, 1e-2))))
    with torch.no_grad():  # SVD factors can be strided views; DDP's gradient buckets want dense params
        for param in model.parameters():
            if not param.is_contiguous():
                param.data = param.data.contiguous()
    set_folded_forward(model, folded_forward)
    return model


def model_from_config(model: ModelConfig, num_classes: int, *, depth_init: float | None = None, compact: MultiTaskNet | None = None) -> MultiTaskNet:
    """The training form a ModelConfig describes: from `compact`'s weights when given (then pass no
    depth_init), else fresh, its encoder from ImageNet weights when `model.pretrained`."""
    if compact is None and model.pretrained:
        compact = MultiTaskNet(model.net_config(num_classes))
        load_pretrained_encoder(compact.trunk.encoder, model.arch)
    return build_training_model(
        model.net_config(num_classes), model.scheme, rank=model.rank, expansion=model.expansion,
        folded_forward=model.folded_forward, depth_init=depth_init, svd_init=model.svd_init, compact=compact,
    )


def model_from_checkpoint(state: Mapping[str, Any]) -> MultiTaskNet:
    """Rebuild the training form a checkpoint was saved from and load its weights (eval mode)."""
    with torch.random.fork_rng(devices=[]):  # rebuilding must not move anyone's RNG
        model = build_training_model(
            NetConfig.from_dict(state["net"]), state["scheme"], rank=state["rank"], expansion=state["expansion"], folded_forward=False,
            svd_init=state.get("svd_init", "svd"),
        )
    model.load_state_dict(state["model"])
    return model.eval()


def normalize_images(images: Tensor) -> Tensor:
    """[0, 1] RGB → the deploy artifact's normalisation, so training and runtime see the same inputs."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=images.dtype, device=images.device).reshape(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=images.dtype, device=images.device).reshape(1, 3, 1, 1)
    return (images - mean) / std


def prepare_batch(batch: Mapping[str, Tensor], size: tuple[int, int], device: torch.device, memory_format: torch.memory_format = torch.contiguous_format) -> tuple[Tensor, dict[str, Tensor]]:
    """Move a dataset batch to `device` at the network size; labels resize by nearest neighbour."""
    images = batch["image"].to(device, non_blocking=True).float().contiguous(memory_format=memory_format)
    targets = {k: batch[k].to(device, non_blocking=True) for k in ("segmentation", "depth", "normals") if k in batch}
    if tuple(images.shape[-2:]) != tuple(size):
        images = F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)
        for key, value in targets.items():
            as_float = value.unsqueeze(1).float() if key == "segmentation" else value
            resized = F.interpolate(as_float, size=size, mode="nearest-exact")
            targets[key] = resized[:, 0].long() if key == "segmentation" else resized
    return normalize_images(images), targets
