"""`mtl-perception export CKPT --out DIR [--onnx]`: collapse, fuse BN, write the deploy artifact, verify."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="RUN_DIR/best.pt or RUN_DIR/last.pt")
    parser.add_argument("--out", required=True, help="artifact directory to write")
    parser.add_argument("--name", default=None, help="artifact name (default: the run directory's name)")
    parser.add_argument("--data", default=None, help="dataset root for the check frames (default: the run's data.root)")
    parser.add_argument("--frames", type=int, default=4, help="validation frames to compare training form vs artifact")
    parser.add_argument("--onnx", action="store_true", help="also write model.onnx and check it with onnxruntime")


class _TupleOutputs(nn.Module):
    """ONNX wants positional outputs; keep the task order of the artifact."""

    def __init__(self, net: nn.Module, tasks: tuple[str, ...]) -> None:
        super().__init__()
        self.net, self.tasks = net, tasks

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.net(x)
        return tuple(out[t] for t in self.tasks)


MAX_CHECK_FRAMES = 1000


def check_frame_count(frames: Any) -> None:
    """--frames: how many frames compare the training form with the artifact, 1..MAX_CHECK_FRAMES."""
    if not isinstance(frames, int) or isinstance(frames, bool) or not 1 <= frames <= MAX_CHECK_FRAMES:
        raise ValueError(f"--frames must be an integer in 1..{MAX_CHECK_FRAMES} (frames checked against the training form), got {frames!r}")


def check_frames(state: dict[str, Any], data_root: str | None, count: int) -> np.ndarray:
    """uint8 H×W×3 frames from the val split (random frames when no dataset is at hand)."""
    height, width = state["input_size"]
    if data_root and Path(data_root).is_dir():
        from ..data import MTANDataset

        dataset = MTANDataset(data_root, "val")
        frames = [dataset[i]["image"] for i in range(min(count, len(dataset)))]
        frames = [torch.nn.functional.interpolate(f[None], size=(height, width), mode="bilinear", align_corners=False)[0] for f in frames]
        return np.stack([(f.permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8) for f in frames])
    print(f"note: no dataset at {data_root!r}; checking on random frames", file=sys.stderr)
    return np.random.default_rng(0).integers(0, 256, size=(count, height, width, 3), dtype=np.uint8)


def export_checkpoint(checkpoint: str | Path, out: str | Path, *, name: str | None = None, data_root: str | None = None, frames: int = 4, onnx: bool = False, command: list[str] | None = None) -> dict[str, float]:
    """Write the artifact; returns the max |training form − artifact| per task over the check frames."""
    from ..model import collapse
    from ..runtime import Engine, load_artifact, save_artifact
    from .checkpoint import load_training_checkpoint, weights_error
    from .build import model_from_checkpoint, normalize_images

    check_frame_count(frames)
    state = load_training_checkpoint(checkpoint)
    try:
        model = model_from_checkpoint(state)
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise weights_error(checkpoint, exc) from exc
    deploy = collapse(model, fuse_bn=True).eval()
    config = state["config"]
    training = {
        "command": command or sys.argv,
        "checkpoint": str(checkpoint),
        "scheme": state["scheme"],
        "epochs_trained": state["epoch"],
        "best_epoch": state["best_epoch"],
        "seed": config["seed"],
        "config": config,
        "train_command": state.get("command"),
        "val_metrics": state.get("val_metrics"),
        "metrics_split": "val (held out from training)",
    }
    out = Path(out)
    save_artifact(
        deploy, out,
        class_names=state["class_names"], palette=state["palette"], input_size=tuple(state["input_size"]),
        name=name or Path(checkpoint).resolve().parent.name, training=training,
    )
    # Verify: the same uint8 frames through the training form (float64-free, as trained) and the artifact's engine.
    net, meta = load_artifact(out)
    engine = Engine(net, meta, device="cpu")
    rgb = check_frames(state, data_root or config["data"]["root"], frames)
    differences = {task: 0.0 for task in meta.tasks}
    with torch.no_grad():
        for frame in rgb:
            x = normalize_images(torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255.0)
            reference = model(x)
            served = engine.forward(frame)
            for task in meta.tasks:
                differences[task] = max(differences[task], float((reference[task] - served[task]).abs().max()))
    print("max |training form - artifact| over %d frames: %s" % (len(rgb), ", ".join(f"{t}={d:.2e}" for t, d in differences.items())))
    if onnx:
        export_onnx(deploy, meta.tasks, tuple(state["input_size"]), out / "model.onnx", reference_input=normalize_images(torch.from_numpy(rgb[0]).permute(2, 0, 1)[None].float() / 255.0))
    return differences


def export_onnx(net: nn.Module, tasks: tuple[str, ...], size: tuple[int, int], path: Path, *, reference_input: torch.Tensor) -> float:
    """Write model.onnx (input 'image' N×3×H×W normalised; one output per task) and check it."""
    import onnxruntime

    wrapper = _TupleOutputs(net.eval(), tuple(tasks))
    # The torch.export-based exporter: the legacy tracer cannot trace max_unpool2d's output_size.
    torch.onnx.export(wrapper, (reference_input,), str(path), input_names=["image"], output_names=list(tasks), dynamo=True, verbose=False, external_data=False)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {"image": reference_input.numpy()})
    with torch.no_grad():
        expected = wrapper(reference_input)
    difference = max(float(np.abs(o - e.numpy()).max()) for o, e in zip(outputs, expected))
    print(f"wrote {path}; max |onnxruntime - torch| = {difference:.2e}")
    return difference


def run(args: argparse.Namespace) -> int:
    from .checkpoint import CheckpointError

    try:
        check_frame_count(args.frames)  # before the checkpoint is read or anything written
        command = ["mtl-perception", "export", *sys.argv[2:]] if sys.argv[1:2] == ["export"] else sys.argv
        export_checkpoint(args.checkpoint, args.out, name=args.name, data_root=args.data, frames=args.frames, onnx=args.onnx, command=command)
    except (CheckpointError, ValueError) as exc:
        print(f"mtl-perception export: {exc}", file=sys.stderr)
        return 2
    print(f"artifact written to {args.out}")
    return 0
