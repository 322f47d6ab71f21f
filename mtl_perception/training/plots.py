"""Training-curve and validation-prediction figures (matplotlib, Agg: no display needed)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch


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


def plot_predictions(images: torch.Tensor, targets: Mapping[str, torch.Tensor], outputs: Mapping[str, torch.Tensor], palette: np.ndarray, path: Path) -> None:
    """Rows: frames. Columns: image, then ground truth and prediction for every task."""
    plt = _pyplot()
    tasks = list(outputs)
    rows, cols = images.shape[0], 1 + 2 * len(tasks)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 1.8 * rows), squeeze=False)
    for r in range(rows):
        panels = [("image", images[r].permute(1, 2, 0).clamp(0, 1).cpu().numpy())]
        for task in tasks:
            gt, pred = targets[task][r].detach().cpu(), outputs[task][r].detach().float().cpu()
            if task == "segmentation":
                panels += [("seg gt", _colour(gt.numpy(), palette)), ("seg pred", _colour(pred.argmax(0).numpy(), palette))]
            elif task == "depth":
                top = float(gt.max()) or 1.0
                panels += [("depth gt", gt[0].numpy() / top), ("depth pred", pred[0].numpy() / top)]
            else:
                panels += [("normals gt", (gt.permute(1, 2, 0).numpy() + 1) / 2), ("normals pred", (pred.permute(1, 2, 0).numpy() + 1) / 2)]
        for c, (title, panel) in enumerate(panels):
            axes[r, c].imshow(np.clip(panel, 0, 1), cmap="viridis" if panel.ndim == 2 else None)
            axes[r, c].axis("off")
            if r == 0:
                axes[r, c].set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _colour(labels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    out = np.zeros((*labels.shape, 3), dtype=np.float32)
    valid = (labels >= 0) & (labels < len(palette))
    out[valid] = palette[labels[valid]] / 255.0
    return out


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
