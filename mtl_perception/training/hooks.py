"""Per-epoch work around the training loop: checkpoints, CSV, TensorBoard, console, final plots.

A hook sees the trainer and the epoch's record after each epoch (`after_epoch`) and once at
the end (`after_train`); the loop itself stays free of logging. All hooks run on rank 0 only.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import torch
from torch.nn import functional as F

from .checkpoint import save_checkpoint

if TYPE_CHECKING:
    from .trainer import Trainer


class Hook:
    def after_epoch(self, trainer: "Trainer", record: Mapping[str, Any]) -> None:
        """Called on rank 0 after each epoch's record is in trainer.history."""

    def after_train(self, trainer: "Trainer") -> None:
        """Called on rank 0 once, when the last epoch has run."""


class CheckpointHook(Hook):
    """last.pt every epoch; best.pt when the val loss improved (atomic writes)."""

    def after_epoch(self, trainer: "Trainer", record: Mapping[str, Any]) -> None:
        state = trainer.state()
        save_checkpoint(state, trainer.out_dir / "last.pt")
        if record.get("improved"):
            save_checkpoint(state, trainer.out_dir / "best.pt")


class CSVHook(Hook):
    def after_epoch(self, trainer: "Trainer", record: Mapping[str, Any]) -> None:
        write_csv(trainer.history, trainer.out_dir / "metrics.csv")


class TensorBoardHook(Hook):
    def __init__(self, log_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(log_dir))

    def after_epoch(self, trainer: "Trainer", record: Mapping[str, Any]) -> None:
        epoch = record["epoch"]
        for task, value in record["train"].items():
            self.writer.add_scalar(f"train/{task}", value, epoch)
        for task, value in record.get("val_loss", {}).items():
            self.writer.add_scalar(f"val_loss/{task}", value, epoch)
        for task, metrics in record.get("val", {}).items():
            for name, value in metrics.items():
                self.writer.add_scalar(f"val/{task}/{name}", value, epoch)
        for label, result in record.get("val_datasets", {}).items():
            for task, metrics in result["val"].items():
                for name, value in metrics.items():
                    self.writer.add_scalar(f"val@{label}/{task}/{name}", value, epoch)
        self.writer.flush()

    def after_train(self, trainer: "Trainer") -> None:
        self.writer.close()


class PrintHook(Hook):
    def after_epoch(self, trainer: "Trainer", record: Mapping[str, Any]) -> None:
        summary = " ".join(f"{t[:3]}={v:.4f}" for t, v in record["train"].items())
        val = ""
        if "val" in record:
            val = " | val " + " ".join(f"{t[:3]}:{k}={v:.4f}" for t, m in record["val"].items() for k, v in list(m.items())[:2])
        best = " *best" if record.get("improved") else ""
        print(f"epoch {record['epoch']}/{trainer.config.epochs} train {summary}{val} ({record['seconds']:.1f}s){best}", flush=True)


class PlotsHook(Hook):
    """curves.png and val_predictions.png (four val frames) when training ends."""

    def after_train(self, trainer: "Trainer") -> None:
        from .build import prepare_batch
        from .plots import plot_curves, plot_predictions

        plot_curves(trainer.history, trainer.out_dir / "curves.png")
        batch = next(iter(trainer.val_loader))
        images, targets = prepare_batch(batch, trainer.size, trainer.device, trainer.memory_format)
        with torch.no_grad():
            trainer.model.eval()
            outputs = trainer.model(images[:4])
            trainer.model.train()
        raw = batch["image"][:4]
        if tuple(raw.shape[-2:]) != trainer.size:
            raw = F.interpolate(raw.float(), size=trainer.size, mode="bilinear", align_corners=False)
        plot_predictions(raw, {k: v[:4] for k, v in targets.items()}, outputs, trainer.palette, trainer.out_dir / "val_predictions.png")


def default_hooks(out_dir: Path, *, tensorboard: bool, plots: bool) -> list[Hook]:
    hooks: list[Hook] = [CheckpointHook(), CSVHook()]
    if tensorboard:
        hooks.append(TensorBoardHook(out_dir / "tensorboard"))
    hooks.append(PrintHook())
    if plots:
        hooks.append(PlotsHook())
    return hooks


def write_csv(history: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Flatten the history into one CSV row per epoch (rewritten whole, so resume stays consistent)."""
    rows = []
    for record in history:
        row: dict[str, Any] = {"epoch": record["epoch"], "lr": record["lr"], "seconds": round(record["seconds"], 3)}
        row.update({f"train_{t}": v for t, v in record["train"].items()})
        row.update({f"weight_{t}": v for t, v in record["weights"].items()})
        row.update({f"val_loss_{t}": v for t, v in record.get("val_loss", {}).items()})
        row.update({f"val_{t}_{k}": v for t, m in record.get("val", {}).items() for k, v in m.items()})
        for label, result in record.get("val_datasets", {}).items():  # data.roots only
            row.update({f"val@{label}_loss_{t}": v for t, v in result["val_loss"].items()})
            row.update({f"val@{label}_{t}_{k}": v for t, m in result["val"].items() for k, v in m.items()})
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
