"""Training speed per scheme and the factorised form's effective step, measured in one run.

    .venv/bin/python benchmarks/bench_training.py --out benchmarks/results/training/training.json

Throughput: images/s of a full training step (forward, backward, optimizer) per scheme at
72×96 and 120×160, and the achieved FLOP/s over this run's measured fp32 matmul rate.
FLOPs per image = 3 × 2 × the compact net's MACs (forward + two backward products), so
every scheme is charged for the network it deploys, not for its training form's overhead.

Effective step: from one compact init, each training form takes the same Adam steps on the
same batches; the relative change of every collapsed kernel, ‖ΔW‖/‖W‖, is averaged and
divided by `none`'s. Below 1 the factorised form learns slower per step than the plain net.

Targets (issue 11): `none` ≥ 35 % of the matmul rate at 120×160; svd_shared ≤ 1.25× none's
time per image. Reported, not asserted.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import compare, hardware, print_table, write_json  # noqa: E402

from mtl_perception.model import MultiTaskNet, NetConfig, collapse, count_macs  # noqa: E402
from mtl_perception.model.layers import conv_units  # noqa: E402
from mtl_perception.training.config import TrainConfig  # noqa: E402
from mtl_perception.training.losses import task_losses  # noqa: E402
from mtl_perception.training.schedule import PhaseSchedule  # noqa: E402
from mtl_perception.training.build import build_training_model  # noqa: E402
from mtl_perception.training.optim import build_optimizers  # noqa: E402
from mtl_perception.training.weighting import build_weighting  # noqa: E402

SCHEMES = ("none", "svd", "svd_shared", "svd_shared_joint", "repvgg", "expandnet")
SIZES = ((72, 96), (120, 160))


def matmul_rate(n: int = 2048, trials: int = 5) -> float:
    """fp32 FLOP/s of an n×n matmul on this machine, now (median of trials)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    timing = compare({"matmul": lambda: a @ b}, warmup=2, trials=trials)["matmul"]
    return 2 * n**3 / (timing.median_ms / 1e3)


def synthetic_batch(batch: int, size: tuple[int, int], classes: int, seed: int = 0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(batch, 3, *size, generator=g).contiguous(memory_format=torch.channels_last)
    normals = torch.nn.functional.normalize(torch.randn(batch, 3, *size, generator=g), dim=1)
    targets = {
        "segmentation": torch.randint(0, classes, (batch, *size), generator=g),
        "depth": torch.rand(batch, 1, *size, generator=g) * 5 + 0.5,
        "normals": normals,
    }
    return images, targets


class StepRunner:
    """One training form with its phase optimizers; `step()` runs the schedule's next batch."""

    def __init__(self, net_config: NetConfig, scheme: str, train: TrainConfig, *, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.model = build_training_model(net_config, scheme, rank=None, expansion=4, folded_forward=True, svd_init=train.model.svd_init)
        self.model = self.model.to(memory_format=torch.channels_last).train()
        weighting = build_weighting("equal", net_config.tasks)
        sc = train.schedule
        self.schedule = PhaseSchedule.for_scheme(scheme, unit=sc.unit, phase_a=sc.phase_a, phase_b=sc.phase_b, mode=sc.mode)
        self.optimizers = build_optimizers(self.model, weighting, self.schedule, train)
        self.batches = 0

    def step(self, images: torch.Tensor, targets: dict[str, torch.Tensor]) -> None:
        for phase in self.schedule.phases_for(self.batches, 0):
            if phase == "B":
                with torch.no_grad():
                    features = self.model.trunk(images)
                outputs = self.model.forward_branches(features)
            else:
                outputs = self.model(images)
            self.model.zero_grad(set_to_none=True)
            sum(task_losses(outputs, targets).values()).backward()
            self.optimizers[phase].step()
        self.batches += 1


def throughput(net_config: NetConfig, train: TrainConfig, size: tuple[int, int], batch: int, trials: int, rate: float) -> list[list[object]]:
    images, targets = synthetic_batch(batch, size, net_config.num_classes)
    runners = {scheme: StepRunner(net_config, scheme, train) for scheme in SCHEMES}
    timings = compare({s: (lambda r=r: r.step(images, targets)) for s, r in runners.items()}, warmup=2, trials=trials)
    flops_per_image = 6 * count_macs(MultiTaskNet(net_config), *size)
    base = timings["none"].median_ms
    rows = []
    for scheme, t in timings.items():
        achieved = flops_per_image * batch / (t.median_ms / 1e3)
        rows.append([f"{size[0]}x{size[1]}", scheme, batch / (t.median_ms / 1e3), t.median_ms / base, achieved / 1e9, achieved / rate])
    return rows


def kernels(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    folded = collapse(model)
    return {name: unit.conv.weight.detach().double().clone() for name, unit in conv_units(folded)}


def effective_step(net_config: NetConfig, train: TrainConfig, scheme: str, steps: int, size: tuple[int, int]) -> float:
    """Mean relative change of the collapsed kernels after `steps` Adam steps (same init and data)."""
    runner = StepRunner(net_config, scheme, train, seed=0)
    before = kernels(runner.model)
    for i in range(steps):
        runner.step(*synthetic_batch(4, size, net_config.num_classes, seed=i))
    after = kernels(runner.model)
    return sum(float((after[k] - before[k]).norm() / before[k].norm()) for k in before) / len(before)


EFFECTIVE_STEP_VARIANTS = {  # label: (scheme, svd_init, schedule mode, factor lr multiplier)
    "none": ("none", "svd", "blocks", 1.0),
    "svd_shared, svd init, blocks 2:1": ("svd_shared", "svd", "blocks", 1.0),
    "svd_shared_joint, svd init": ("svd_shared_joint", "svd", "blocks", 1.0),
    "svd_shared_joint, balanced": ("svd_shared_joint", "balanced", "blocks", 1.0),
    "svd_shared_joint, balanced, factor lr x2": ("svd_shared_joint", "balanced", "blocks", 2.0),
    "svd_shared, balanced, interleaved": ("svd_shared", "balanced", "interleaved", 1.0),
}


def effective_steps(net_config: NetConfig, steps: int, size: tuple[int, int]) -> list[list[object]]:
    rows, reference = [], None
    for label, (scheme, svd_init, mode, factor_lr) in EFFECTIVE_STEP_VARIANTS.items():
        train = TrainConfig()
        train.optim.lr, train.optim.factor_lr_factor = 2e-3, factor_lr
        train.model.svd_init, train.schedule.mode = svd_init, mode
        change = effective_step(net_config, train, scheme, steps, size)
        reference = change if reference is None else reference
        rows.append([label, change, change / reference])
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=float, default=0.5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5, help="Adam steps for the effective-step diagnostic")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    net_config = NetConfig(num_classes=10, width=args.width)
    started = time.perf_counter()
    rate = matmul_rate()
    rows = []
    for size in SIZES:
        rows += throughput(net_config, TrainConfig(), size, args.batch, args.trials, rate)  # the default recipe per scheme
    header = ["size", "scheme", "images/s", "time/image vs none", "achieved GFLOP/s", "of matmul rate"]
    print(f"matmul rate: {rate / 1e9:.1f} GFLOP/s (2048² fp32, this run)")
    print_table("Training throughput (batch %d, width %g, channels_last)" % (args.batch, args.width), header, rows)
    steps = effective_steps(net_config, args.steps, SIZES[0])
    print_table(f"Effective step after {args.steps} Adam steps (lr 2e-3): relative kernel change", ["form", "‖ΔW‖/‖W‖", "vs none"], steps)
    write_json(args.out, {"hardware": hardware(), "matmul_gflops": rate / 1e9, "throughput": {"header": header, "rows": rows},
                          "effective_step": {"header": ["form", "rel_change", "vs_none"], "rows": steps}, "seconds": time.perf_counter() - started})
    return 0


if __name__ == "__main__":
    sys.exit(main())
