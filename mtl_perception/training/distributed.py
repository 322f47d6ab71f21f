"""torchrun integration: process group from the environment, rank-aware helpers, reductions."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable

import torch
import torch.distributed as dist

from ..runtime import resolve_device


@dataclass(frozen=True)
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_spec: str = "auto") -> DistContext:
    """Single process unless torchrun set WORLD_SIZE > 1; then gloo on CPU, nccl on CUDA."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_spec)
    if world_size > 1:
        if device.type == "cuda":
            device = torch.device("cuda", local_rank)  # one GPU per local process
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistContext(rank, world_size, local_rank, device)


def shutdown_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum across ranks in place (no-op when not distributed)."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def average_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """All-reduce-mean grads of parameters living outside the DDP module (e.g. loss log-variances)."""
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return
    world = dist.get_world_size()
    for param in parameters:
        if param.grad is None:
            param.grad = torch.zeros_like(param)
        dist.all_reduce(param.grad, op=dist.ReduceOp.SUM)
        param.grad.div_(world)

