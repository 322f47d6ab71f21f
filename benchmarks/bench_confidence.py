"""Calibration line of a model's segmentation confidence: accuracy per confidence decile on rendered frames.

    python benchmarks/bench_confidence.py [--model DIR] [--frames 100 --seed 1 --out benchmarks/results/confidence/calibration.json]

Frames are render_dataset_frame(seed, i) at the model's input size; seed 1 is a dataset the bundled
model (trained and selected on seed 0) never saw. Prints a markdown table: per decile the pixels,
the mean confidence and the accuracy (a calibrated model has the two equal), and the overall
mean confidence beside the pixel accuracy.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from mtl_perception.data import Camera, render_dataset_frame
from mtl_perception.metrics import confidence_calibration
from mtl_perception.runtime import default_model_path, load_engine


def confidence_and_correctness(model: Path, frames: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Every labelled pixel's confidence and whether its predicted label is right."""
    engine = load_engine(model, device="cpu", backend="torch_channels_last")
    camera = Camera.default(*engine.input_size)
    confidence, correct = [], []
    for index in range(frames):
        frame = render_dataset_frame(seed, index, camera)
        rgb = np.clip(np.rint(frame.image * 255.0), 0, 255).astype(np.uint8)
        pred = engine.predict(rgb)
        labelled = frame.label >= 0
        confidence.append(pred.confidence[labelled])
        correct.append(pred.segmentation[labelled] == frame.label[labelled])
    return np.concatenate(confidence), np.concatenate(correct)


def table(rows: list[dict[str, float]], confidence: np.ndarray, correct: np.ndarray) -> str:
    lines = ["| confidence | pixels | mean confidence | accuracy |", "|---|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['lo']:.1f}–{row['hi']:.1f} | {row['pixels']} | {row['confidence']:.3f} | {row['accuracy']:.3f} |")
    lines.append(f"| all | {confidence.size} | {confidence.mean():.3f} | {correct.mean():.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="deploy artifact (default: the bundled model)")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="write the rows as JSON here")
    args = parser.parse_args(argv)
    confidence, correct = confidence_and_correctness(args.model or default_model_path(), args.frames, args.seed)
    rows = confidence_calibration(confidence, correct)
    print(table(rows, confidence, correct))
    if args.out:
        summary = {"mean_confidence": float(confidence.mean()), "pixel_accuracy": float(correct.mean())}
        args.out.write_text(json.dumps({"rows": rows, **summary, "frames": args.frames, "seed": args.seed}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
