"""`mtl-perception eval MODEL --data ROOT [--baselines] [--json PATH]`: metrics on a split beside trivial priors.

The table goes to stdout; a JSON report is written only where `--json` says (nothing lands in the
current directory unasked).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Mapping

import torch
from torch.utils.data import DataLoader


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="artifact directory or training checkpoint (.pt)")
    parser.add_argument("--data", required=True, help="dataset root (MTAN layout)")
    parser.add_argument("--split", default="val")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--baselines", action="store_true", help="also score per-pixel priors fitted on a training split")
    parser.add_argument("--prior-data", default=None, help="dataset root whose train split fits the priors (default: --data)")
    parser.add_argument("--json", default=None, metavar="PATH",
                        help="also write the metrics as JSON to PATH (default: none; the table is printed either way)")


def load_for_eval(path: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """(model in eval mode, info with tasks, num_classes, input size) from an artifact or a checkpoint."""
    path = Path(path)
    if path.is_dir():
        from ..runtime import load_artifact

        net, meta = load_artifact(path)
        return net, {"tasks": meta.tasks, "num_classes": meta.net.num_classes, "size": (meta.input_height, meta.input_width),
                     "class_names": list(meta.class_names), "kind": "artifact"}
    from .build import model_from_checkpoint
    from .checkpoint import load_training_checkpoint, weights_error

    state = load_training_checkpoint(path)
    try:
        model = model_from_checkpoint(state)
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise weights_error(path, exc) from exc
    return model, {"tasks": model.config.tasks, "num_classes": model.config.num_classes, "size": tuple(state["input_size"]),
                   "class_names": list(state["class_names"]), "kind": f"checkpoint ({state['scheme']})"}


def evaluate(model_path: str | Path, data_root: str | Path, *, split: str = "val", batch_size: int = 8, device: str = "auto",
             prior_root: str | Path | None = None) -> dict[str, Any]:
    """{"model": metrics, "priors": metrics or absent, "class_names": [...]}; metrics include per-class IoU."""
    from ..data import MTANDataset
    from ..runtime import resolve_device
    from .validation import run_validation

    model, info = load_for_eval(model_path)
    target = resolve_device(device)
    loader = DataLoader(MTANDataset(str(data_root), split), batch_size=batch_size)
    metrics, _ = run_validation(model.to(target), loader, tasks=info["tasks"], num_classes=info["num_classes"], size=info["size"], device=target, per_class=True)
    result: dict[str, Any] = {"model": metrics, "class_names": info["class_names"]}
    if prior_root is not None:
        from .priors import PixelPriors, evaluate_priors

        train = DataLoader(MTANDataset(str(prior_root), "train"), batch_size=batch_size)
        priors = PixelPriors.fit(train, info["num_classes"], info["size"])
        result["priors"] = evaluate_priors(priors, loader, tasks=info["tasks"], num_classes=info["num_classes"], size=info["size"])
    return result


def _cell(value: float) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def format_table(result: Mapping[str, Any]) -> str:
    """Scalar metrics (model, and priors when scored), then per-class IoU."""
    priors = result.get("priors")
    head = "| task | metric | model |" + (" priors |" if priors else "")
    lines = [head, "|---|---|---|" + ("---|" if priors else "")]
    for task, values in result["model"].items():
        for name, value in values.items():
            if isinstance(value, list):
                continue
            row = f"| {task} | {name} | {_cell(value)} |"
            lines.append(row + (f" {_cell(priors[task][name])} |" if priors else ""))
    iou = result["model"].get("segmentation", {}).get("per_class_iou")
    if iou is not None:
        lines += ["", "| class | IoU model |" + (" IoU priors |" if priors else ""), "|---|---|" + ("---|" if priors else "")]
        prior_iou = priors["segmentation"]["per_class_iou"] if priors else None
        for i, name in enumerate(result["class_names"][: len(iou)]):
            lines.append(f"| {name} | {_cell(iou[i])} |" + (f" {_cell(prior_iou[i])} |" if priors else ""))
    return "\n".join(lines)


def _nan_to_none(value: Any) -> Any:
    """JSON has no NaN (per-class IoU of a class never seen is NaN): write null instead."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value


def run(args: argparse.Namespace) -> int:
    prior_root = (args.prior_data or args.data) if args.baselines else None
    try:
        result = evaluate(args.model, args.data, split=args.split, batch_size=args.batch_size, device=args.device, prior_root=prior_root)
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"mtl-perception eval: {exc}", file=sys.stderr)
        return 2
    print(format_table(result))
    if not args.json:
        return 0
    out = Path(args.json)
    try:
        document = {"model": str(args.model), "data": str(args.data), "split": args.split, "metrics": result["model"],
                    "priors": result.get("priors"), "prior_data": None if prior_root is None else str(prior_root), "class_names": result["class_names"]}
        out.write_text(json.dumps(_nan_to_none(document), indent=2) + "\n")
    except OSError as exc:
        print(f"mtl-perception eval: cannot write {out}: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0
