"""`mtl-perception eval ARTIFACT_OR_CHECKPOINT --data ROOT`: metrics table on a split, plus JSON."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="artifact directory or training checkpoint (.pt)")
    parser.add_argument("--data", required=True, help="dataset root (MTAN layout)")
    parser.add_argument("--split", default="val")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", default=None, help="where to write the metrics JSON (default: print only + ./eval_<split>.json)")


def load_for_eval(path: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """(model in eval mode, info with tasks, num_classes, input size) from an artifact or a checkpoint."""
    path = Path(path)
    if path.is_dir():
        from ..runtime import load_artifact

        net, meta = load_artifact(path)
        return net, {"tasks": meta.tasks, "num_classes": meta.net.num_classes, "size": (meta.input_height, meta.input_width), "kind": "artifact"}
    from .checkpoint import load_checkpoint
    from .build import model_from_checkpoint

    state = load_checkpoint(path)
    model = model_from_checkpoint(state)
    return model, {"tasks": model.config.tasks, "num_classes": model.config.num_classes, "size": tuple(state["input_size"]), "kind": f"checkpoint ({state['scheme']})"}


def evaluate(model_path: str | Path, data_root: str | Path, *, split: str = "val", batch_size: int = 8, device: str = "auto") -> dict[str, dict[str, float]]:
    from ..data import MTANDataset
    from ..runtime import resolve_device
    from .validation import run_validation

    model, info = load_for_eval(model_path)
    target = resolve_device(device)
    loader = DataLoader(MTANDataset(str(data_root), split), batch_size=batch_size)
    metrics, _ = run_validation(model.to(target), loader, tasks=info["tasks"], num_classes=info["num_classes"], size=info["size"], device=target)
    return metrics


def format_table(metrics: dict[str, dict[str, float]]) -> str:
    lines = ["| task | metric | value |", "|---|---|---|"]
    for task, values in metrics.items():
        lines += [f"| {task} | {name} | {value:.4f} |" for name, value in values.items()]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        metrics = evaluate(args.model, args.data, split=args.split, batch_size=args.batch_size, device=args.device)
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"mtl-perception eval: {exc}", file=sys.stderr)
        return 2
    print(format_table(metrics))
    out = Path(args.json or f"eval_{args.split}.json")
    out.write_text(json.dumps({"model": str(args.model), "data": str(args.data), "split": args.split, "metrics": metrics}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0
