"""`mtl-perception make-bag`: render a smooth camera trajectory into a rosbag2 with ground truth.

Topics (all stamped identically per frame, one frame_id):
  /camera/image_raw          sensor_msgs/Image (rgb8|bgr8) or CompressedImage with --compressed
  /camera/camera_info        sensor_msgs/CameraInfo
  /ground_truth/segmentation Image mono8, 255 = unlabelled
  /ground_truth/depth        Image 32FC1 metres along optical z, NaN invalid
                             (or 16UC1 millimetres, 0 invalid, with --depth-encoding 16UC1)
  /ground_truth/normals      Image 32FC3 unit vectors (optical frame), all-zero invalid
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from ..interop.encodings import depth_to_16uc1, depth_to_32fc1, labels_to_mono8
from ..interop.image import float_to_rgb8
from ..interop.topics import DEFAULT_GT_TOPICS, DEFAULT_IMAGE_TOPIC, camera_info_beside
from . import messages as m
from .io import STORAGES, BagError, BagWriter

IMAGE_TOPIC = DEFAULT_IMAGE_TOPIC
CAMERA_INFO_TOPIC = camera_info_beside(IMAGE_TOPIC)
GT_TOPICS = dict(DEFAULT_GT_TOPICS)
FRAME_ID = "camera_optical_frame"
DEFAULT_START_NS = 1_700_000_000 * 1_000_000_000
TOOL = "make-bag"  # recorded in the bag's metadata; --overwrite replaces only bags it names
MAX_SIDE = 4096  # pixels per image side: a robot camera, not a memory bomb
MAX_FRAMES = 1_000_000
MAX_FPS = 1000.0
DEPTH_ENCODINGS = ("32FC1", "16UC1")  # metres with NaN invalid (REP 118); millimetres with 0 invalid


def depth_image(depth: np.ndarray, encoding: str) -> np.ndarray:
    """Renderer depth (metres, 0 invalid) as the payload of a `encoding` depth Image."""
    return depth_to_16uc1(depth) if encoding == "16UC1" else depth_to_32fc1(depth)


def frame_stamp(index: int, fps: float, start_ns: int = DEFAULT_START_NS) -> int:
    return int(start_ns + round(index * 1e9 / fps))


def write_bag(
    out: str | Path,
    *,
    frames: int,
    fps: float = 15.0,
    height: int = 240,
    width: int = 320,
    seed: int = 0,
    storage: str = "mcap",
    encoding: str = "rgb8",
    compressed: str | None = None,
    depth_encoding: str = "32FC1",
    pad: int = 0,
    frame_id: str = FRAME_ID,
    start_ns: int = DEFAULT_START_NS,
    overwrite: bool = False,
    progress: bool = False,
) -> dict[str, int]:
    """Render `frames` frames and write them; returns message counts per topic.

    compressed: None (raw Image) or 'png'/'jpeg'. pad: extra bytes per image row (step > width·3),
    to exercise readers. The bag is closed properly even if rendering fails part way.
    """
    from ..data import Camera, render_sequence

    if not 0 < frames <= MAX_FRAMES:
        raise ValueError(f"--frames must be in 1..{MAX_FRAMES}, got {frames}")
    if not (math.isfinite(fps) and 0 < fps <= MAX_FPS):
        raise ValueError(f"--fps must be a finite number in (0, {MAX_FPS:g}], got {fps}")
    if not (16 <= height <= MAX_SIDE and 16 <= width <= MAX_SIDE):
        raise ValueError(f"--height and --width must be in 16..{MAX_SIDE}, got {height}x{width}")
    if encoding not in ("rgb8", "bgr8"):
        raise ValueError(f"--encoding must be rgb8 or bgr8, got {encoding!r}")
    if depth_encoding not in DEPTH_ENCODINGS:
        raise ValueError(f"--depth-encoding must be one of {', '.join(DEPTH_ENCODINGS)}, got {depth_encoding!r}")
    camera = Camera.default(height, width)
    image_type = m.COMPRESSED_IMAGE if compressed else m.IMAGE
    with BagWriter(out, storage, overwrite=overwrite, tool=TOOL) as bag:
        bag.add_topic(IMAGE_TOPIC, image_type)
        bag.add_topic(CAMERA_INFO_TOPIC, m.CAMERA_INFO)
        for topic in GT_TOPICS.values():
            bag.add_topic(topic, m.IMAGE)
        sequence = render_sequence(seed, frames, camera, fps=fps)
        if progress:
            from tqdm import tqdm

            sequence = tqdm(sequence, total=frames, unit="frame", desc="make-bag", file=sys.stderr)
        for index, frame in enumerate(sequence):
            stamp = frame_stamp(index, fps, start_ns)
            rgb = float_to_rgb8(frame.image)
            if compressed:
                image = m.compressed_image_msg(rgb, compressed, stamp, frame_id)
            else:
                pixels = rgb if encoding == "rgb8" else np.ascontiguousarray(rgb[:, :, ::-1])
                image = m.image_msg(pixels, encoding, stamp, frame_id, pad=pad)
            bag.write(IMAGE_TOPIC, stamp, image)
            bag.write(CAMERA_INFO_TOPIC, stamp, m.camera_info_msg(camera, stamp, frame_id))
            label = np.asarray(frame.label)
            bag.write(GT_TOPICS["segmentation"], stamp, m.image_msg(labels_to_mono8(label), "mono8", stamp, frame_id))
            depth = np.asarray(frame.depth, dtype=np.float32).reshape(height, width)
            depth_msg = m.image_msg(depth_image(depth, depth_encoding), depth_encoding, stamp, frame_id)
            bag.write(GT_TOPICS["depth"], stamp, depth_msg)
            normals = np.asarray(frame.normal, dtype=np.float32).reshape(height, width, 3)
            bag.write(GT_TOPICS["normals"], stamp, m.image_msg(normals, "32FC3", stamp, frame_id))
        return dict(bag.counts)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output bag directory (must not exist unless --overwrite)")
    parser.add_argument("--frames", type=int, default=60, help="number of frames (default 60)")
    parser.add_argument("--fps", type=float, default=15.0, help="frame rate of the trajectory and stamps (default 15)")
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--seed", type=int, default=0, help="scene and trajectory seed")
    parser.add_argument("--storage", choices=STORAGES, default="mcap")
    parser.add_argument("--encoding", choices=("rgb8", "bgr8"), default="rgb8", help="raw Image encoding")
    parser.add_argument(
        "--compressed", nargs="?", const="png", choices=("png", "jpeg"), default=None,
        help="write sensor_msgs/CompressedImage (png, lossless, by default; or jpeg)",
    )
    parser.add_argument(
        "--depth-encoding", choices=DEPTH_ENCODINGS, default="32FC1",
        help="depth topic encoding: 32FC1 metres, NaN invalid (default), or 16UC1 millimetres, 0 invalid (RealSense-style)",
    )
    parser.add_argument("--frame-id", default=FRAME_ID)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing bag that an earlier make-bag wrote")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    try:
        counts = write_bag(
            args.out, frames=args.frames, fps=args.fps, height=args.height, width=args.width, seed=args.seed,
            storage=args.storage, encoding=args.encoding, compressed=args.compressed, frame_id=args.frame_id,
            depth_encoding=args.depth_encoding,
            overwrite=args.overwrite, progress=not args.no_progress,
        )
    except (BagError, ValueError) as err:
        print(f"make-bag: error: {err}", file=sys.stderr)
        return 2
    total = sum(counts.values())
    print(f"wrote {args.out} ({args.storage}): {total} messages")
    for topic, count in counts.items():
        print(f"  {topic}: {count}")
    return 0
