"""Training-curve and validation-prediction figures (matplotlib, Agg: no display needed)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from .. import colors


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(history: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Train and val loss per task over epochs, one panel per task."""
    plt = _pyplot()
    tasks = list(history[0]["train"])
    fig, axes = plt.subplots(1, len(tasks), figsize=(4 * len(tasks), 3), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        epochs = [h["epoch"] for h in history]
        ax.plot(epochs, [h["train"][task] for h in history], label="train")
        val = [(h["epoch"], h["val_loss"][task]) for h in history if "val_loss" in h]
        if val:
            ax.plot(*zip(*val), marker="o", label="val")
        ax.set_title(task)
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def prediction_panels(image: torch.Tensor, targets: Mapping[str, torch.Tensor], outputs: Mapping[str, torch.Tensor],
                      lut: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """One frame's (title, RGB) panels: the image, then ground truth and prediction per task, through `colors`."""
    panels = [("image", image.permute(1, 2, 0).clamp(0, 1).cpu().numpy())]
    for task in outputs:
        gt, pred = targets[task].detach().cpu(), outputs[task].detach().float().cpu()
        if task == "segmentation":
            views = (colors.colorize_labels(gt.numpy(), lut), colors.colorize_labels(pred.argmax(0).numpy(), lut))
        elif task == "depth":
            top = float(gt.max()) or 1.0  # one scale for both, from the ground truth
            views = (colors.colorize_depth(gt[0].numpy(), 0.0, top), colors.colorize_depth(pred[0].numpy(), 0.0, top))
        else:
            views = (colors.colorize_normals(gt.permute(1, 2, 0).numpy()), colors.colorize_normals(pred.permute(1, 2, 0).numpy()))
        short = "seg" if task == "segmentation" else task
        panels += [(f"{short} gt", views[0]), (f"{short} pred", views[1])]
    return panels


def plot_predictions(images: torch.Tensor, targets: Mapping[str, torch.Tensor], outputs: Mapping[str, torch.Tensor], palette: np.ndarray, path: Path) -> None:
    """Rows: frames. Columns: image, then ground truth and prediction for every task."""
    plt = _pyplot()
    lut = colors.palette_lut(palette)
    rows, cols = images.shape[0], 1 + 2 * len(outputs)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 1.8 * rows), squeeze=False)
    for r in range(rows):
        frame_targets = {task: targets[task][r] for task in outputs}
        frame_outputs = {task: outputs[task][r] for task in outputs}
        for c, (title, panel) in enumerate(prediction_panels(images[r], frame_targets, frame_outputs, lut)):
            axes[r, c].imshow(panel)
            axes[r, c].axis("off")
            if r == 0:
                axes[r, c].set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_delta_bars(rows: Sequence[tuple[str, float, float]], path: Path, title: str) -> None:
    """Bar chart of Δ_MTL (mean ± std) per scheme."""
    plt = _pyplot()
    names = [r[0] for r in rows]
    means = [r[1] for r in rows]
    stds = [r[2] for r in rows]
    fig, ax = plt.subplots(figsize=(1.2 * len(rows) + 2, 3.5))
    colours = ["tab:green" if m >= 0 else "tab:red" for m in means]
    ax.bar(names, means, yerr=stds, color=colours, capsize=4)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel("Δ_MTL vs single-task (%)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_val_loss_curves(curves: Mapping[str, Sequence[Sequence[float]]], path: Path, title: str) -> None:
    """Val loss (sum over tasks) per epoch, one line per seed: shows whether a row has converged."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for seed, points in curves.items():
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3, label=f"seed {seed}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("val loss (sum over tasks)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
