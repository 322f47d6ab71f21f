"""The training loop: each epoch, train steps by phase, validate, then the hooks (checkpoint, logs).

Read `Trainer.fit` top to bottom like nanoGPT's train.py. `Trainer.from_config` builds every
part from a TrainConfig (detectron2's build_* style); the constructor takes them ready-made.
"""
from __future__ import annotations

import math
import random
import sys
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, Subset
from tqdm import tqdm

from ..model import MultiTaskNet
from .build import mean_depth, model_from_config, prepare_batch
from .checkpoint import capture_rng, load_checkpoint, restore_rng
from .config import DataConfig, TrainConfig, config_from_dict
from .distributed import DistContext, all_reduce_sum, average_gradients, init_distributed
from .hooks import Hook, default_hooks
from .init import initial_compact
from .losses import task_losses
from .optim import build_optimizers, build_scheduler
from .schedule import PHASE_B, PhaseSchedule
from .validation import run_validation
from .weighting import LossWeighting, build_weighting

# ----------------------------------------------------------------------------- data


def limit(dataset: Dataset, count: int) -> Dataset:
    return Subset(dataset, range(min(count, len(dataset)))) if count > 0 else dataset


def load_split(root: str, split: str, *, count: int, in_memory: bool, augment: bool | str = False, seed: int | None = None) -> Dataset:
    """A split of an MTAN dataset, its first `count` samples (0: all), optionally held in memory.

    augment: False, True (the "basic" preset) or a preset name (data.transforms.AUGMENT_PRESETS).
    """
    from ..data import InMemoryDataset, MTANDataset

    source = MTANDataset(root, split, augment=augment, seed=seed)
    if not in_memory:
        return limit(source, count)
    return InMemoryDataset(source, limit=count, progress=True)


def train_augmentation(data: DataConfig) -> bool | str:
    """What MTANDataset's `augment` takes for this config: off, or the named preset."""
    return data.augment_preset if data.augment else False


@dataclass
class TrainingData:
    train_set: Dataset
    val_set: Dataset
    train_sampler: Sampler[int]  # has set_epoch: DistributedSampler or WeightedMixtureSampler
    train_loader: DataLoader
    val_loader: DataLoader
    # data.roots only: one val loader per dataset, by label (the single-root record stays as it was)
    val_loaders: dict[str, DataLoader] = field(default_factory=dict)


def build_data(config: TrainConfig, ctx: DistContext) -> TrainingData:
    """Loaders with a DistributedSampler even on one process, so shuffling is a function of (seed, epoch)."""
    d = config.data
    if d.roots:
        return build_mixture_data(config, ctx)
    train_set = load_split(d.root, "train", count=d.train_limit, in_memory=d.in_memory, augment=train_augmentation(d), seed=config.seed)
    val_set = load_split(d.root, "val", count=d.val_limit, in_memory=d.in_memory)
    sampler = DistributedSampler(train_set, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=config.seed)
    train_loader = DataLoader(train_set, config.batch_size, sampler=sampler, num_workers=d.num_workers, drop_last=len(sampler) >= 2 * config.batch_size)
    return TrainingData(train_set, val_set, sampler, train_loader, val_loader(val_set, config, ctx))


def val_loader(val_set: Dataset, config: TrainConfig, ctx: DistContext) -> DataLoader:
    sampler = DistributedSampler(val_set, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=False)
    return DataLoader(val_set, config.batch_size, sampler=sampler, num_workers=config.data.num_workers)


def build_mixture_data(config: TrainConfig, ctx: DistContext) -> TrainingData:
    """data.roots: train on the weighted mixture; validate on all val sets together and on each."""
    from ..data.mixture import DatasetMixture, WeightedMixtureSampler

    d, size = config.data, (config.data.height, config.data.width)
    trains = [load_split(r.root, "train", count=d.train_limit, in_memory=d.in_memory, augment=train_augmentation(d), seed=config.seed) for r in d.roots]
    vals = {r.label: DatasetMixture([load_split(r.root, "val", count=d.val_limit, in_memory=d.in_memory)], size) for r in d.roots}
    train_set = DatasetMixture(trains, size)
    sampler = WeightedMixtureSampler(train_set.sizes, [r.weight for r in d.roots], seed=config.seed, num_replicas=ctx.world_size, rank=ctx.rank)
    train_loader = DataLoader(train_set, config.batch_size, sampler=sampler, num_workers=d.num_workers, drop_last=len(sampler) >= 2 * config.batch_size)
    val_set = DatasetMixture([v.datasets[0] for v in vals.values()], size)
    return TrainingData(train_set, val_set, sampler, train_loader, val_loader(val_set, config, ctx),
                        {label: val_loader(v, config, ctx) for label, v in vals.items()})


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


# ----------------------------------------------------------------------------- the trainer


class Trainer:
    """Owns one run: model, data, phase optimizers, state and hooks, for one run directory."""

    def __init__(self, config: TrainConfig, out_dir: str | Path, *, model: MultiTaskNet, data: TrainingData, weighting: LossWeighting,
                 schedule: PhaseSchedule, optimizers: Mapping[str, torch.optim.Optimizer], ctx: DistContext, hooks: Sequence[Hook] = (),
                 class_names: Sequence[str], palette: np.ndarray, command: Sequence[str] | None = None) -> None:
        self.config, self.ctx, self.device = config, ctx, ctx.device
        self.out_dir = Path(out_dir)
        self.command = list(command if command is not None else sys.argv)
        self.tasks = tuple(config.model.tasks)
        self.size = (config.data.height, config.data.width)
        self.class_names, self.palette = tuple(class_names), np.asarray(palette)
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.model = model
        self.net_config = model.config
        self.train_set, self.val_set = data.train_set, data.val_set
        self.train_sampler, self.train_loader, self.val_loader = data.train_sampler, data.train_loader, data.val_loader
        self.val_loaders = dict(data.val_loaders)
        self.forward_model: nn.Module = model
        if ctx.enabled:
            # Every parameter gets a gradient in phases A and joint (requires_grad is fixed), so no unused-parameter scan.
            self.forward_model = DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None, find_unused_parameters=False)
        self.weighting, self.schedule = weighting, schedule
        self.optimizers = dict(optimizers)
        self.schedulers = {phase: build_scheduler(opt, config) for phase, opt in self.optimizers.items()}
        self.use_amp = config.amp and self.device.type == "cuda"  # AMP on CUDA only
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.hooks = list(hooks)
        self.epoch, self.step, self.batches = 0, 0, 0  # optimizer steps and batches (interleaved: 2 steps a batch)
        self.history: list[dict[str, Any]] = []
        self.best_score, self.best_epoch = math.inf, -1
        self.last_val: dict[str, dict[str, float]] | None = None
        self.init_source: str | None = None  # --init: the weights this run started from

    @classmethod
    def from_config(cls, config: TrainConfig, out_dir: str | Path, *, resume: bool = False, ctx: DistContext | None = None, command: Sequence[str] | None = None,
                    init: str | Path | None = None) -> "Trainer":
        """Build every part from `config` (seeded first), then resume from out_dir/last.pt if asked.

        init: a checkpoint or deploy artifact whose weights the model starts from (see init.py).
        """
        from ..data import CLASS_NAMES, PALETTE

        ctx = ctx or init_distributed(config.device)
        if config.threads > 0:
            torch.set_num_threads(config.threads)
        seed_everything(config.seed)  # before anything random is built; resume overwrites the RNG states later
        data = build_data(config, ctx)
        compact = initial_compact(init, config, data.train_set, len(CLASS_NAMES)) if init is not None else None
        depth_init = mean_depth(data.train_set) if "depth" in config.model.tasks and compact is None else None
        memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        model = model_from_config(config.model, len(CLASS_NAMES), depth_init=depth_init, compact=compact).to(ctx.device, memory_format=memory_format)
        weighting = build_weighting(config.loss.weighting, config.model.tasks, dwa_temperature=config.loss.dwa_temperature).to(ctx.device)
        sc = config.schedule
        schedule = PhaseSchedule.for_scheme(config.model.scheme, unit=sc.unit, phase_a=sc.phase_a, phase_b=sc.phase_b, mode=sc.mode)
        hooks = default_hooks(Path(out_dir), tensorboard=config.tensorboard, plots=config.plots) if ctx.is_main else []
        trainer = cls(config, out_dir, model=model, data=data, weighting=weighting, schedule=schedule,
                      optimizers=build_optimizers(model, weighting, schedule, config), ctx=ctx, hooks=hooks,
                      class_names=CLASS_NAMES, palette=PALETTE, command=command)
        trainer.init_source = None if init is None else str(init)
        if resume:
            trainer.resume(Path(out_dir) / "last.pt")
        return trainer

    # ------------------------------------------------------------------ state

    def state(self) -> dict[str, Any]:
        m = self.config.model
        return {
            "net": self.net_config.to_dict(), "scheme": m.scheme, "rank": m.rank, "expansion": m.expansion, "svd_init": m.svd_init,
            "config": self.config.to_dict(),
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "weighting": {k: v.detach().cpu() for k, v in self.weighting.state_dict().items()},
            "optimizers": {p: o.state_dict() for p, o in self.optimizers.items()},
            "schedulers": {p: s.state_dict() for p, s in self.schedulers.items()},
            "scaler": self.scaler.state_dict(),
            "rng": capture_rng(),
            "epoch": self.epoch,  # the next epoch to run
            "step": self.step, "batches": self.batches,
            "history": self.history, "best_score": self.best_score, "best_epoch": self.best_epoch, "val_metrics": self.last_val,
            "class_names": list(self.class_names), "palette": self.palette.tolist(), "input_size": list(self.size),
            "command": self.command, "init": self.init_source,
        }

    def resume(self, path: Path) -> None:
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

    # ------------------------------------------------------------------ one batch

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
        return self.model.forward_branches(features, tuple(images.shape[-2:]))

    def _step(self, images: Tensor, targets: Mapping[str, Tensor], phase: str) -> dict[str, float]:
        autocast = torch.autocast("cuda", dtype=torch.float16) if self.use_amp else nullcontext()
        with autocast:
            outputs = self._forward(images, phase)
            losses = task_losses(outputs, targets, depth_si_weight=self.config.loss.depth_si_weight)
        # Phase B: each task's m and private parameters only influence that task's output, so
        # the gradient of the plain sum w.r.t. them is exactly the gradient of the task's own loss.
        loss = sum(losses.values()) if phase == PHASE_B else self.weighting(losses)
        optimizer = self.optimizers[phase]
        params = [p for group in optimizer.param_groups for p in group["params"]]
        # Every parameter of the graph receives a gradient; clear all, step only this phase's set.
        self.model.zero_grad(set_to_none=True)
        self.weighting.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        average_gradients(self.weighting.parameters())
        if phase == PHASE_B and self.ctx.enabled:  # phase B bypasses DDP's forward, so reduce here
            average_gradients(params)
        if self.config.optim.grad_clip > 0:
            self.scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(params, self.config.optim.grad_clip)
        self.scaler.step(optimizer)
        self.scaler.update()
        self.step += 1
        return {task: float(value.detach()) for task, value in losses.items()}

    # ------------------------------------------------------------------ the loop

    def fit(self, stop_after_epoch: int | None = None) -> list[dict[str, Any]]:
        """Train to config.epochs (or stop after `stop_after_epoch`, as a crash would); returns history."""
        self._write_run_config()
        while self.epoch < self.config.epochs:
            started = time.perf_counter()
            record = self.train_epoch()
            if (self.epoch + 1) % self.config.eval_every == 0 or self.epoch + 1 == self.config.epochs:
                record["val"], record["val_loss"] = self.evaluate(self.val_loader)
                self.last_val = record["val"]
                if self.val_loaders:  # data.roots: the same metrics on each dataset alone
                    record["val_datasets"] = self.evaluate_datasets()
            record["seconds"] = time.perf_counter() - started
            record["improved"] = self._update_best(record)
            self.history.append(record)
            self.epoch += 1
            for hook in self.hooks:
                hook.after_epoch(self, record)
            if stop_after_epoch is not None and self.epoch >= stop_after_epoch:
                return self.history
        for hook in self.hooks:
            hook.after_train(self)
        return self.history

    def train_epoch(self) -> dict[str, Any]:
        """One pass over the training set; the epoch's record without validation."""
        epoch = self.epoch
        self.train_sampler.set_epoch(epoch)
        base = self.train_set.dataset if isinstance(self.train_set, Subset) else self.train_set
        if hasattr(base, "set_epoch"):
            base.set_epoch(epoch)  # seeded augmentation varies per epoch, reproducibly
        self.weighting.begin_epoch([h["train"] for h in self.history])
        self.model.train()
        if self.config.optim.freeze_bn:
            freeze_batchnorm_statistics(self.model)
        sums = torch.zeros(len(self.tasks) + 1, dtype=torch.float64)
        phase_steps = {p: 0 for p in self.schedule.phases}
        bar = tqdm(self.train_loader, desc=f"epoch {epoch + 1}/{self.config.epochs}", disable=not self.ctx.is_main, leave=False, dynamic_ncols=True, mininterval=1.0)
        for batch in bar:
            phases = self.schedule.phases_for(self.batches, epoch)
            losses = self.train_batch(batch, phases)
            self.batches += 1
            for phase in phases:
                phase_steps[phase] += 1
            sums += torch.tensor([*(losses[t] for t in self.tasks), 1.0], dtype=torch.float64)
            bar.set_postfix({"ph": "".join(phases), **{t[:3]: f"{v:.3f}" for t, v in losses.items()}})
        with warnings.catch_warnings():
            # A phase whose optimizer has not stepped yet (short epochs) still advances its schedule.
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step", category=UserWarning)
            for scheduler in self.schedulers.values():
                scheduler.step()
        all_reduce_sum(sums)
        return {
            "epoch": epoch + 1,
            "train": {t: float(sums[i] / max(sums[-1], 1)) for i, t in enumerate(self.tasks)},
            "weights": self.weighting.weights(),
            "phase_steps": phase_steps,
            "lr": float(next(iter(self.optimizers.values())).param_groups[0]["lr"]),
        }

    def evaluate(self, loader: DataLoader) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
        """Metrics and mean losses per task of the current model over `loader`."""
        return run_validation(self.model, loader, tasks=self.tasks, num_classes=self.net_config.num_classes, size=self.size,
                              device=self.device, memory_format=self.memory_format, depth_si_weight=self.config.loss.depth_si_weight)

    def evaluate_datasets(self) -> dict[str, dict[str, Any]]:
        """{label: {"val": metrics, "val_loss": losses}} for each dataset of data.roots."""
        results = {}
        for label, loader in self.val_loaders.items():
            metrics, losses = self.evaluate(loader)
            results[label] = {"val": metrics, "val_loss": losses}
        return results

    def _update_best(self, record: Mapping[str, Any]) -> bool:
        # Best on the val loss (equal-weighted sum over tasks): one scalar, never the test split.
        if "val_loss" not in record or sum(record["val_loss"].values()) >= self.best_score:
            return False
        self.best_score, self.best_epoch = sum(record["val_loss"].values()), record["epoch"]
        return True

    def _write_run_config(self) -> None:
        if self.ctx.is_main:
            import yaml

            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "config.yaml").write_text(yaml.safe_dump(self.config.to_dict(), sort_keys=False))


def freeze_batchnorm_statistics(model: nn.Module) -> None:
    """Put every BatchNorm in eval mode: it normalises with, and no longer updates, its running statistics."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
