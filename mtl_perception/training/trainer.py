"""The training loop: build → (resume) → for each epoch: train steps, validate, checkpoint, log.

Read top to bottom like nanoGPT's train.py; helpers above `Trainer` do one thing each.
"""
from __future__ import annotations

import csv
import math
import random
import sys
import time
import warnings
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset
from tqdm import tqdm

from ..model.network import MIN_DEPTH_M
from ..model import MultiTaskNet, NetConfig, SVDBasis, SVDConv, overparameterize, partition_parameters, set_folded_forward
from ..runtime.artifact import IMAGENET_MEAN, IMAGENET_STD
from .checkpoint import capture_rng, load_checkpoint, restore_rng, save_checkpoint
from .config import ModelConfig, TrainConfig, config_from_dict
from .distributed import DistContext, all_reduce_sum, average_gradients, init_distributed
from .losses import task_losses
from .schedule import JOINT, PHASE_A, PHASE_B, PhaseSchedule
from .weighting import LossWeighting, build_weighting

# ----------------------------------------------------------------------------- building blocks


def net_config(model: ModelConfig, num_classes: int) -> NetConfig:
    return NetConfig(arch=model.arch, tasks=tuple(model.tasks), num_classes=num_classes, width=model.width, task_layers=model.task_layers)


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


def _set_output_bias(conv: nn.Module, value: float) -> None:
    """Give a head conv (plain or any training block) a constant output offset `value`."""
    from ..model import ExpandConv, RepVGGConv

    with torch.no_grad():
        if isinstance(conv, RepVGGConv):
            conv.bn_kxk.bias.fill_(value)  # a 1×1 head has only the conv+BN branch
        elif isinstance(conv, ExpandConv):
            conv.project.bias.fill_(value)
        else:
            conv.bias.fill_(value)


def build_training_model(config: NetConfig, scheme: str, *, rank: int | None, expansion: int, folded_forward: bool, depth_init: float | None = None, svd_init: str = "svd") -> MultiTaskNet:
    """The compact net, then its over-parameterised training form for `scheme`.

    depth_init: start the depth head at this depth (its bias through softplus⁻¹), the usual
    bias-to-the-data-mean init. Without it depth starts ~0.7 m and the first hundreds of
    steps only move that bias; every scheme gets the same init, so comparisons stay fair.
    """
    model = overparameterize(MultiTaskNet(config), scheme, rank=rank, expansion=expansion, svd_init=svd_init)
    if depth_init is not None and "depth" in config.tasks:
        # Set on the training form: repvgg/expandnet re-initialise their blocks, dropping a compact bias.
        _set_output_bias(model.branches["depth"].head.conv, math.log(math.expm1(max(depth_init - MIN_DEPTH_M, 1e-2))))
    with torch.no_grad():  # SVD factors can be strided views; DDP's gradient buckets want dense params
        for param in model.parameters():
            if not param.is_contiguous():
                param.data = param.data.contiguous()
    set_folded_forward(model, folded_forward)
    return model


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


def limit(dataset: Dataset, count: int) -> Dataset:
    return Subset(dataset, range(min(count, len(dataset)))) if count > 0 else dataset


def load_split(root: str, split: str, *, count: int, in_memory: bool, augment: bool = False, seed: int | None = None) -> Dataset:
    """A split of an MTAN dataset, its first `count` samples (0: all), optionally held in memory."""
    from ..data import InMemoryDataset, MTANDataset

    source = MTANDataset(root, split, augment=augment, seed=seed)
    if not in_memory:
        return limit(source, count)
    return InMemoryDataset(source, limit=count, progress=True)


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


def svd_factors(model: nn.Module) -> set[int]:
    """ids of every SVD factor parameter (U, V and m) in a training form."""
    ids = set()
    for module in model.modules():
        if isinstance(module, SVDBasis):
            ids.update((id(module.u), id(module.v)))
        elif isinstance(module, SVDConv):
            ids.add(id(module.m))
    return ids


def param_groups(params: Sequence[nn.Parameter], factors: set[int], config: TrainConfig, lr_scale: float = 1.0) -> list[dict[str, Any]]:
    """Plain parameters at the base rate; SVD factors at factor_lr_factor and their own decay."""
    o = config.optim
    plain = [p for p in params if id(p) not in factors]
    factor = [p for p in params if id(p) in factors]
    groups = [{"params": plain, "lr": o.lr * lr_scale}] if plain else []
    if factor:
        decay = o.weight_decay if o.factor_weight_decay is None else o.factor_weight_decay
        groups.append({"params": factor, "lr": o.lr * lr_scale * o.factor_lr_factor, "weight_decay": decay})
    return groups


def build_optimizers(model: MultiTaskNet, weighting: LossWeighting, schedule: PhaseSchedule, config: TrainConfig) -> dict[str, torch.optim.Optimizer]:
    """One optimizer per phase. requires_grad never changes; a phase simply steps only its own set."""
    extra = list(weighting.parameters())  # uncertainty log-variances weight the joint/phase-A loss
    factors = svd_factors(model)
    if not schedule.alternating:
        return {JOINT: build_optimizer(param_groups(list(model.parameters()) + extra, factors, config), config)}
    part = partition_parameters(model)
    scales = [p for t in model.config.tasks for p in part.task_scales[t]]
    private = [p for t in model.config.tasks for p in part.task_private[t]]
    phase_b_groups = param_groups(private, factors, config) + param_groups(scales, factors, config, config.optim.scale_lr_factor)
    phase_a_params = part.shared + (private if config.schedule.private_in_phase_a else []) + extra
    return {
        PHASE_A: build_optimizer(param_groups(phase_a_params, factors, config), config),
        PHASE_B: build_optimizer(phase_b_groups, config),
    }


# ----------------------------------------------------------------------------- evaluation


def _reduce_meter(meter: Any) -> None:
    """Sum a meter's tensor state over ranks (meters keep sums/counts, so a sum is exact)."""
    if hasattr(meter, "all_reduce_"):
        meter.all_reduce_()
        return
    for value in getattr(meter, "state_tensors", dict)().values():
        all_reduce_sum(value)


@torch.no_grad()
def run_validation(model: nn.Module, loader: DataLoader, *, tasks: Sequence[str], num_classes: int, size: tuple[int, int], device: torch.device, memory_format: torch.memory_format = torch.contiguous_format) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Metrics per task over the whole loader (all ranks) and the mean loss per task."""
    from ..metrics import make_meters

    meters = make_meters(tasks, num_classes)
    loss_sums = torch.zeros(len(tasks) + 1, dtype=torch.float64)
    was_training = model.training
    model.eval()
    for batch in loader:
        images, targets = prepare_batch(batch, size, device, memory_format)
        outputs = model(images)
        for i, (task, value) in enumerate(task_losses(outputs, targets).items()):
            loss_sums[i] += float(value) * images.shape[0]
        loss_sums[-1] += images.shape[0]
        for task in tasks:
            meters[task].update(outputs[task].float().cpu(), targets[task].cpu())
    model.train(was_training)
    all_reduce_sum(loss_sums)
    for meter in meters.values():
        _reduce_meter(meter)
    # Scalars only (segmentation also reports a per-class list, kept out of logs and tables).
    metrics = {task: {k: float(v) for k, v in meters[task].compute().items() if isinstance(v, (int, float))} for task in tasks}
    losses = {task: float(loss_sums[i] / max(loss_sums[-1], 1)) for i, task in enumerate(tasks)}
    return metrics, losses


# ----------------------------------------------------------------------------- the trainer


class Trainer:
    """Owns model, data, optimizers and logs for one run directory."""

    def __init__(self, config: TrainConfig, out_dir: str | Path, *, resume: bool = False, ctx: DistContext | None = None, command: Sequence[str] | None = None) -> None:
        from ..data import CLASS_NAMES, PALETTE

        self.config = config
        self.ctx = ctx or init_distributed(config.device)
        self.device = self.ctx.device
        self.out_dir = Path(out_dir)
        self.command = list(command if command is not None else sys.argv)
        if config.threads > 0:
            torch.set_num_threads(config.threads)
        self.tasks = tuple(config.model.tasks)
        self.size = (config.data.height, config.data.width)
        self.class_names, self.palette = tuple(CLASS_NAMES), np.asarray(PALETTE)

        # Seed everything before anything random is built; resume overwrites these states later.
        torch.manual_seed(config.seed)
        np.random.seed(config.seed)
        random.seed(config.seed)

        # Data: a DistributedSampler even on one process, so shuffling is a function of (seed, epoch).
        d = config.data
        self.train_set = load_split(d.root, "train", count=d.train_limit, in_memory=d.in_memory, augment=d.augment, seed=config.seed)
        self.val_set = load_split(d.root, "val", count=d.val_limit, in_memory=d.in_memory)
        self.train_sampler = DistributedSampler(self.train_set, num_replicas=self.ctx.world_size, rank=self.ctx.rank, shuffle=True, seed=config.seed)
        val_sampler = DistributedSampler(self.val_set, num_replicas=self.ctx.world_size, rank=self.ctx.rank, shuffle=False)
        per_rank = len(self.train_sampler)
        self.train_loader = DataLoader(self.train_set, config.batch_size, sampler=self.train_sampler, num_workers=config.data.num_workers, drop_last=per_rank >= 2 * config.batch_size)
        self.val_loader = DataLoader(self.val_set, config.batch_size, sampler=val_sampler, num_workers=config.data.num_workers)

        # Model: compact net → training form for the scheme; optional DDP wrapper for the forward.
        self.net_config = net_config(config.model, len(self.class_names))
        m = config.model
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.model = build_training_model(
            self.net_config, m.scheme, rank=m.rank, expansion=m.expansion, folded_forward=m.folded_forward,
            depth_init=mean_depth(self.train_set) if "depth" in self.tasks else None, svd_init=m.svd_init,
        ).to(self.device, memory_format=self.memory_format)
        self.forward_model: nn.Module = self.model
        if self.ctx.enabled:
            # Every parameter gets a gradient in every phase (requires_grad is fixed), so no unused-parameter scan.
            self.forward_model = DistributedDataParallel(self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None, find_unused_parameters=False)
        self.weighting = build_weighting(config.loss.weighting, self.tasks, dwa_temperature=config.loss.dwa_temperature).to(self.device)
        sc = config.schedule
        self.schedule = PhaseSchedule.for_scheme(m.scheme, unit=sc.unit, phase_a=sc.phase_a, phase_b=sc.phase_b, mode=sc.mode)
        self.optimizers = build_optimizers(self.model, self.weighting, self.schedule, config)
        self.schedulers = {phase: build_scheduler(opt, config) for phase, opt in self.optimizers.items()}
        self.use_amp = config.amp and self.device.type == "cuda"  # AMP on CUDA only
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)

        self.epoch, self.step, self.batches = 0, 0, 0  # optimizer steps and batches (interleaved: 2 steps a batch)
        self.history: list[dict[str, Any]] = []
        self.best_score, self.best_epoch = math.inf, -1
        self.last_val: dict[str, dict[str, float]] | None = None
        if resume:
            self._resume(self.out_dir / "last.pt")
        self.writer = None
        if self.ctx.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "config.yaml").write_text(_yaml_dump(config.to_dict()))
            if config.tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(self.out_dir / "tensorboard"))

    # ------------------------------------------------------------------ state

    def state(self) -> dict[str, Any]:
        return {
            "net": self.net_config.to_dict(),
            "scheme": self.config.model.scheme,
            "rank": self.config.model.rank,
            "expansion": self.config.model.expansion,
            "svd_init": self.config.model.svd_init,
            "config": self.config.to_dict(),
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "weighting": {k: v.detach().cpu() for k, v in self.weighting.state_dict().items()},
            "optimizers": {p: o.state_dict() for p, o in self.optimizers.items()},
            "schedulers": {p: s.state_dict() for p, s in self.schedulers.items()},
            "scaler": self.scaler.state_dict(),
            "rng": capture_rng(),
            "epoch": self.epoch,  # the next epoch to run
            "step": self.step,
            "batches": self.batches,
            "history": self.history,
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "val_metrics": self.last_val,
            "class_names": list(self.class_names),
            "palette": self.palette.tolist(),
            "input_size": list(self.size),
            "command": self.command,
        }

    def _resume(self, path: Path) -> None:
        state = load_checkpoint(path)
        saved = config_from_dict(state["config"])
        if saved.model != self.config.model:
            raise ValueError(f"{path}: checkpoint model config {saved.model} differs from the requested {self.config.model}")
        self.model.load_state_dict(state["model"])
        self.weighting.load_state_dict(state["weighting"])
        for phase, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][phase])
            self.schedulers[phase].load_state_dict(state["schedulers"][phase])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.batches = int(state.get("batches", self.step))
        self.history = list(state["history"])
        self.best_score, self.best_epoch = float(state["best_score"]), int(state["best_epoch"])
        self.last_val = state["val_metrics"]
        restore_rng(state["rng"])

    # ------------------------------------------------------------------ one optimizer step

    def train_batch(self, batch: Mapping[str, Tensor], phases: Sequence[str]) -> dict[str, float]:
        """Step each phase in turn on one batch; returns the first phase's task losses."""
        images, targets = prepare_batch(batch, self.size, self.device, self.memory_format)
        results = [self._step(images, targets, phase) for phase in phases]
        return results[0]

    def train_step(self, batch: Mapping[str, Tensor], phase: str) -> dict[str, float]:
        return self.train_batch(batch, (phase,))

    def _forward(self, images: Tensor, phase: str) -> dict[str, Tensor]:
        if phase != PHASE_B:
            return self.forward_model(images)
        # Phase B moves nothing in the trunk, so its backward pass would be wasted work (DESIGN §1).
        with torch.no_grad():
            features = self.model.trunk(images)
        return self.model.forward_branches(features)

    def _step(self, images: Tensor, targets: Mapping[str, Tensor], phase: str) -> dict[str, float]:
        autocast = torch.autocast("cuda", dtype=torch.float16) if self.use_amp else nullcontext()
        with autocast:
            outputs = self._forward(images, phase)
            losses = task_losses(outputs, targets)
        # Phase B: each task's m and private parameters only influence that task's output, so
        # the gradient of the plain sum w.r.t. them is exactly the gradient of the task's own loss.
        loss = sum(losses.values()) if phase == PHASE_B else self.weighting(losses)
        optimizer = self.optimizers[phase]
        # Every parameter receives a gradient each step; clear all, step only this phase's set.
        self.model.zero_grad(set_to_none=True)
        self.weighting.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        average_gradients(self.weighting.parameters())
        if phase == PHASE_B and self.ctx.enabled:  # phase B bypasses DDP's forward, so reduce here
            average_gradients([p for group in optimizer.param_groups for p in group["params"]])
        if self.config.optim.grad_clip > 0:
            self.scaler.unscale_(optimizer)
            params = [p for group in optimizer.param_groups for p in group["params"]]
            nn.utils.clip_grad_norm_(params, self.config.optim.grad_clip)
        self.scaler.step(optimizer)
        self.scaler.update()
        self.step += 1
        return {task: float(value.detach()) for task, value in losses.items()}

    # ------------------------------------------------------------------ the loop

    def fit(self, stop_after_epoch: int | None = None) -> list[dict[str, Any]]:
        """Train to config.epochs (or stop after `stop_after_epoch`, as a crash would); returns history."""
        cfg = self.config
        while self.epoch < cfg.epochs:
            epoch = self.epoch
            started = time.perf_counter()
            self.train_sampler.set_epoch(epoch)
            base = self.train_set.dataset if isinstance(self.train_set, Subset) else self.train_set
            if hasattr(base, "set_epoch"):
                base.set_epoch(epoch)  # seeded augmentation varies per epoch, reproducibly
            self.weighting.begin_epoch([h["train"] for h in self.history])
            self.model.train()
            sums = torch.zeros(len(self.tasks) + 1, dtype=torch.float64)
            phase_steps = {p: 0 for p in self.schedule.phases}
            bar = tqdm(self.train_loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not self.ctx.is_main, leave=False, dynamic_ncols=True, mininterval=1.0)
            for batch in bar:
                phases = self.schedule.phases_for(self.batches, epoch)
                losses = self.train_batch(batch, phases)
                self.batches += 1
                for phase in phases:
                    phase_steps[phase] += 1
                for i, task in enumerate(self.tasks):
                    sums[i] += losses[task]
                sums[-1] += 1
                bar.set_postfix({"ph": "".join(phases), **{t[:3]: f"{v:.3f}" for t, v in losses.items()}})
                if self.writer is not None and self.step % 10 == 0:
                    for task, value in losses.items():
                        self.writer.add_scalar(f"train_step/{task}", value, self.step)
            with warnings.catch_warnings():
                # A phase whose optimizer has not stepped yet (short epochs) still advances its schedule.
                warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step", category=UserWarning)
                for scheduler in self.schedulers.values():
                    scheduler.step()
            all_reduce_sum(sums)
            record: dict[str, Any] = {
                "epoch": epoch + 1,
                "train": {t: float(sums[i] / max(sums[-1], 1)) for i, t in enumerate(self.tasks)},
                "weights": self.weighting.weights(),
                "phase_steps": phase_steps,
                "lr": float(next(iter(self.optimizers.values())).param_groups[0]["lr"]),
            }
            if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs:
                metrics, val_losses = self.evaluate(self.val_loader)
                record["val"], record["val_loss"] = metrics, val_losses
                self.last_val = metrics
            record["seconds"] = time.perf_counter() - started
            self.history.append(record)
            self.epoch = epoch + 1
            self._end_of_epoch(record)
            if stop_after_epoch is not None and self.epoch >= stop_after_epoch:
                return self.history
        if self.ctx.is_main and cfg.plots:
            self._final_plots()
        if self.writer is not None:
            self.writer.close()
        return self.history

    def evaluate(self, loader: DataLoader) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
        """Metrics and mean losses per task of the current model over `loader`."""
        return run_validation(self.model, loader, tasks=self.tasks, num_classes=self.net_config.num_classes, size=self.size, device=self.device, memory_format=self.memory_format)

    def _end_of_epoch(self, record: dict[str, Any]) -> None:
        # Best on the val loss (equal-weighted sum over tasks): one scalar, never the test split.
        improved = "val_loss" in record and sum(record["val_loss"].values()) < self.best_score
        if improved:
            self.best_score, self.best_epoch = sum(record["val_loss"].values()), record["epoch"]
        if not self.ctx.is_main:
            return
        state = self.state()
        save_checkpoint(state, self.out_dir / "last.pt")
        if improved:
            save_checkpoint(state, self.out_dir / "best.pt")
        write_csv(self.history, self.out_dir / "metrics.csv")
        if self.writer is not None:
            for task, value in record["train"].items():
                self.writer.add_scalar(f"train/{task}", value, record["epoch"])
            for task, value in record.get("val_loss", {}).items():
                self.writer.add_scalar(f"val_loss/{task}", value, record["epoch"])
            for task, metrics in record.get("val", {}).items():
                for name, value in metrics.items():
                    self.writer.add_scalar(f"val/{task}/{name}", value, record["epoch"])
            self.writer.flush()
        summary = " ".join(f"{t[:3]}={v:.4f}" for t, v in record["train"].items())
        val = ""
        if "val" in record:
            val = " | val " + " ".join(f"{t[:3]}:{k}={v:.4f}" for t, m in record["val"].items() for k, v in list(m.items())[:2])
        print(f"epoch {record['epoch']}/{self.config.epochs} train {summary}{val} ({record['seconds']:.1f}s){' *best' if improved else ''}", flush=True)

    def _final_plots(self) -> None:
        from .plots import plot_curves, plot_predictions

        plot_curves(self.history, self.out_dir / "curves.png")
        batch = next(iter(self.val_loader))
        images, targets = prepare_batch(batch, self.size, self.device, self.memory_format)
        with torch.no_grad():
            self.model.eval()
            outputs = self.model(images[:4])
            self.model.train()
        raw = batch["image"][:4]
        if tuple(raw.shape[-2:]) != self.size:
            raw = F.interpolate(raw.float(), size=self.size, mode="bilinear", align_corners=False)
        plot_predictions(raw, {k: v[:4] for k, v in targets.items()}, outputs, self.palette, self.out_dir / "val_predictions.png")


def write_csv(history: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Flatten the history into one CSV row per epoch (rewritten whole, so resume stays consistent)."""
    rows = []
    for record in history:
        row: dict[str, Any] = {"epoch": record["epoch"], "lr": record["lr"], "seconds": round(record["seconds"], 3)}
        row.update({f"train_{t}": v for t, v in record["train"].items()})
        row.update({f"weight_{t}": v for t, v in record["weights"].items()})
        row.update({f"val_loss_{t}": v for t, v in record.get("val_loss", {}).items()})
        row.update({f"val_{t}_{k}": v for t, m in record.get("val", {}).items() for k, v in m.items()})
        rows.append(row)
    fields: list[str] = []
    for row in rows:
        fields += [k for k in row if k not in fields]
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def _yaml_dump(data: Mapping[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(dict(data), sort_keys=False)
