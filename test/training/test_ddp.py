"""DDP: two gloo processes on CPU produce the gradients of one process on the concatenated batch.

BN runs in eval mode here: in train mode each process normalises with its own half-batch
statistics (that is what plain DDP does, without SyncBatchNorm), so the two set-ups compute
different functions and their gradients legitimately differ. With running statistics the
forward is per-sample, the per-rank mean losses average to the global mean (equal halves,
every pixel valid) and DDP's gradient averaging must reproduce the single-process gradient.
"""
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel

from mtl_perception.model import MultiTaskNet, NetConfig, overparameterize
from mtl_perception.training.distributed import average_gradients
from mtl_perception.training.losses import task_losses
from mtl_perception.training.weighting import UncertaintyWeighting

WORLD = 2


def _setup():
    torch.manual_seed(0)
    model = overparameterize(MultiTaskNet(NetConfig(width=0.25, num_classes=5)), "svd_shared").eval()
    weighting = UncertaintyWeighting(model.config.tasks)
    with torch.no_grad():
        weighting.log_vars.copy_(torch.tensor([0.1, -0.2, 0.3]))
    generator = torch.Generator().manual_seed(1)
    batch = 4
    images = torch.randn(batch, 3, 32, 48, generator=generator)
    targets = {
        "segmentation": torch.randint(0, 5, (batch, 32, 48), generator=generator),
        "depth": torch.rand(batch, 1, 32, 48, generator=generator) * 3 + 0.5,
        "normals": F.normalize(torch.randn(batch, 3, 32, 48, generator=generator), dim=1),
    }
    return model, weighting, images, targets


def _gradients(model, weighting):
    grads = {f"model.{n}": p.grad.detach().clone() for n, p in model.named_parameters()}
    grads.update({f"weighting.{n}": p.grad.detach().clone() for n, p in weighting.named_parameters()})
    return grads


def _worker(rank, port, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        model, weighting, images, targets = _setup()
        ddp = DistributedDataParallel(model, find_unused_parameters=False)
        half = slice(rank * 2, rank * 2 + 2)
        loss = weighting(task_losses(ddp(images[half]), {k: v[half] for k, v in targets.items()}))
        loss.backward()
        average_gradients(weighting.parameters())  # the trainer's path for params outside DDP
        torch.save(_gradients(model, weighting), os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(120)
def test_two_gloo_ranks_match_one_process(tmp_path):
    model, weighting, images, targets = _setup()
    weighting(task_losses(model(images), targets)).backward()
    expected = _gradients(model, weighting)

    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    for rank in range(WORLD):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert got.keys() == expected.keys()
        for name, grad in expected.items():
            assert grad.abs().max() > 0 or name.endswith("bias"), name
            torch.testing.assert_close(got[name], grad, rtol=1e-4, atol=1e-6, msg=lambda m: f"{name} (rank {rank}): {m}")
