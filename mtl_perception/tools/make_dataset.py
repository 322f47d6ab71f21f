"""`mtl-perception make-dataset`: render a synthetic dataset in the MTAN layout.

Train frame i is ``render_dataset_frame(seed, i, style=style)``; val frame i is
``render_dataset_frame(seed, VAL_INDEX_OFFSET + i, style=style)``, so the splits never share
a scene and the val set does not change when --train does. ``--style`` names a render style
(``data.style.RENDER_STYLES``): "classic" (the default) or "randomized" (domain randomisation).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

from ..data.camera import Camera
from ..data.dataset import MODALITIES, write_camera, write_sample
from ..data.style import RENDER_STYLES
from ..data.trajectory import render_dataset_frame
from .dataset_preview import save_preview

VAL_INDEX_OFFSET = 1_000_000_000
MAX_SIDE = 4096  # pixels per image side: beyond it one frame's float arrays alone exceed gigabytes
PREVIEW_FILE = "preview.png"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="dataset root to create")
    parser.add_argument("--train", type=int, default=800, help="training frames (default 800)")
    parser.add_argument("--val", type=int, default=200, help="validation frames (default 200)")
    parser.add_argument("--height", type=int, default=144, help="image height in pixels (default 144)")
    parser.add_argument("--width", type=int, default=192, help="image width in pixels (default 192)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    parser.add_argument("--style", choices=sorted(RENDER_STYLES), default="classic",
                        help="render style: classic, or randomized for transfer to real cameras (default classic)")
    parser.add_argument("--preview", type=int, default=4, metavar="N", help="frames in preview.png (default 4, 0 = none)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing dataset in --out")


def _existing_samples(out: Path) -> list[Path]:
    return [out / split / name for split in ("train", "val") for name, _ in MODALITIES if any((out / split / name).glob("*.npy"))]


def run(args: argparse.Namespace) -> int:
    if args.train < 0 or args.val < 0 or args.train >= VAL_INDEX_OFFSET:
        print(f"make-dataset: need 0 <= --train < {VAL_INDEX_OFFSET} and --val >= 0", file=sys.stderr)
        return 2
    if not (8 <= args.height <= MAX_SIDE and 8 <= args.width <= MAX_SIDE) or args.seed < 0:
        print(f"make-dataset: need --height and --width in 8..{MAX_SIDE} (got {args.height}x{args.width}) and --seed >= 0", file=sys.stderr)
        return 2
    out: Path = args.out
    existing = _existing_samples(out)
    if existing and not args.overwrite:
        print(f"make-dataset: {existing[0]} already holds samples; pass --overwrite to replace them", file=sys.stderr)
        return 2
    for d in existing:  # stale files from a larger earlier run would otherwise survive
        for f in d.glob("*.npy"):
            f.unlink()

    style = getattr(args, "style", "classic")  # callers building a Namespace by hand may omit it
    camera = Camera.default(args.height, args.width)
    out.mkdir(parents=True, exist_ok=True)
    write_camera(out, camera)
    jobs = [("train", i, i) for i in range(args.train)] + [("val", i, VAL_INDEX_OFFSET + i) for i in range(args.val)]
    for split in ("train", "val"):
        for name, _ in MODALITIES:
            (out / split / name).mkdir(parents=True, exist_ok=True)

    preview = []
    start = time.perf_counter()
    for split, i, index in tqdm(jobs, desc="make-dataset", unit="frame", dynamic_ncols=True):
        frame = render_dataset_frame(args.seed, index, camera, style=style)
        write_sample(out / split, i, frame)
        if len(preview) < args.preview:
            preview.append(frame)
    if preview:
        save_preview(out / PREVIEW_FILE, preview)
    seconds = time.perf_counter() - start
    kind = "" if style == "classic" else f"{style} "
    print(f"wrote {args.train} train + {args.val} val {kind}frames ({args.height}x{args.width}) to {out} in {seconds:.1f} s")
    return 0
