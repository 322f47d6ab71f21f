"""`mtl-perception bag-to-dataset`: an RGB-D rosbag2 (colour, aligned depth, camera_info) -> MTAN-layout training data.

Two passes over the bag. The first reads only header stamps (and the CameraInfo messages) and
decides which frames become samples: image and depth paired by stamp, every N-th pair, split
train/val by time blocks. The second decodes just those messages and writes image, depth,
normals from depth and labels (-1 everywhere without a labels topic) plus camera.json.
"""
from __future__ import annotations

import argparse
import struct
import sys
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..data.camera import Camera
from ..data.dataset import write_camera, write_sample
from ..data.normals_from_depth import normals_from_depth
from ..data.renderer import Frame
from ..interop.camera_info import validate_intrinsics
from ..interop.encodings import GT_ENCODINGS, depth_to_meter, mono8_to_labels
from ..interop.image import ImageFormatError
from ..interop.stamps import cdr_stamp_ns
from . import messages as m
from .dataset_output import DatasetOutputError, prepare_output, remove_output, sample_files, write_manifest
from .frame_selection import Pairing, Split, pair_by_stamp, split_by_time
from .io import BagError, BagFormatError, BagReader
from .ownership import OwnershipError, check_output_apart

DEPTH_ENCODINGS = ("16UC1", "32FC1")  # millimetres with 0 invalid; metres with NaN invalid
MAX_EVERY = 1_000_000


@dataclass(frozen=True)
class Topics:
    image: str
    depth: str
    camera_info: str
    labels: str | None = None


@dataclass(frozen=True)
class Selection:
    """What the first pass decided: pairs, split, and the camera."""

    depth: Pairing
    labels: Pairing | None
    split: Split
    skipped_every: int
    camera: tuple[int, int, tuple[float, ...]]  # CameraInfo width, height, K

    def assignment(self) -> dict[int, tuple[str, int]]:
        """image stamp -> (split, sample index), indices in time order within each split."""
        out = {stamp: ("train", i) for i, stamp in enumerate(self.split.train)}
        out.update({stamp: ("val", i) for i, stamp in enumerate(self.split.val)})
        return out


def _stamp(record: Any) -> int:
    """A message's header stamp, read from its CDR bytes without decoding the payload."""
    try:
        return cdr_stamp_ns(record.raw)
    except struct.error:
        raise BagFormatError(f"a {record.msgtype} message on {record.topic} at t={record.timestamp} is truncated") from None


def _intrinsics(record: Any) -> tuple[int, int, tuple[float, ...]]:
    """(width, height, K) of a CameraInfo record, which must be usable."""
    msg = record.msg
    problem = validate_intrinsics(int(msg.width), int(msg.height), list(msg.k), list(msg.p))
    if problem:
        raise BagFormatError(f"camera_info on {record.topic} at t={record.timestamp}: {problem}")
    return int(msg.width), int(msg.height), tuple(float(v) for v in msg.k)


def _scan(bag: BagReader, topics: Topics) -> tuple[dict[str, list[int]], tuple[int, int, tuple[float, ...]]]:
    """One read of the bag: the stamps on every image topic, and the one set of intrinsics."""
    stamped = [t for t in (topics.image, topics.depth, topics.labels) if t]
    stamps: dict[str, list[int]] = {topic: [] for topic in stamped}
    cameras: set[tuple[int, int, tuple[float, ...]]] = set()
    for record in bag.messages([*stamped, topics.camera_info]):
        if record.topic == topics.camera_info:
            cameras.add(_intrinsics(record))
        else:
            stamps[record.topic].append(_stamp(record))
    if not cameras:
        raise BagFormatError(f"{topics.camera_info} holds no CameraInfo message")
    if len(cameras) > 1:
        raise BagFormatError(
            f"the intrinsics on {topics.camera_info} change during the bag ({len(cameras)} different ones); convert each part separately"
        )
    return stamps, cameras.pop()


def select_frames(bag: BagReader, topics: Topics, *, max_dt_ms: float, every: int, val_fraction: float,
                  period_s: float, gap_s: float) -> Selection:
    """First pass: check the topics, pair image and depth by stamp, thin and split the pairs."""
    named = [t for t in (topics.image, topics.depth, topics.camera_info, topics.labels) if t]
    if len(set(named)) < len(named):
        raise ValueError(f"the image, depth, camera_info and labels topics must differ, got {', '.join(named)}")
    bag.require(topics.image, m.CAMERA_IMAGE_TYPES)
    bag.require(topics.depth, (m.IMAGE,))
    bag.require(topics.camera_info, (m.CAMERA_INFO,))
    if topics.labels:
        bag.require(topics.labels, (m.IMAGE,))
    stamps, camera = _scan(bag, topics)
    max_dt_ns = int(round(max_dt_ms * 1e6))
    depth = pair_by_stamp(stamps[topics.image], stamps[topics.depth], max_dt_ns)
    if not depth.pairs:
        raise BagFormatError(
            f"no image on {topics.image} has a depth frame on {topics.depth} within {max_dt_ms:g} ms "
            f"({depth.primary} images, {depth.secondary} depth frames); is --max-dt-ms too small?"
        )
    kept = list(depth.pairs)[::every]
    split = split_by_time(kept, val_fraction, int(period_s * 1e9), int(gap_s * 1e9))
    chosen = split.train + split.val
    if not chosen:
        raise ValueError(f"all {len(kept)} paired frames lie within --split-gap-s {gap_s:g} of a split boundary; lower it")
    labels = pair_by_stamp(chosen, stamps[topics.labels], max_dt_ns) if topics.labels else None
    return Selection(depth, labels, split, len(depth.pairs) - len(kept), camera)


def _camera(info: tuple[int, int, tuple[float, ...]], image_shape: tuple[int, ...]) -> Camera:
    """The dataset's intrinsics; a CameraInfo of another size than the image is refused, not guessed."""
    width, height, k = info
    h, w = int(image_shape[0]), int(image_shape[1])
    if (width or w, height or h) != (w, h):
        raise BagFormatError(f"camera_info is {width}x{height} but the images are {w}x{h}")
    return Camera(fx=k[0], fy=k[4], cx=k[2], cy=k[5], height=h, width=w)


def _decode(part: str, record: Any) -> np.ndarray:
    """One message -> the sample's array: RGB uint8, depth metres (0 invalid) or labels (-1 ignore)."""
    msg = record.msg
    if part == "image":
        return m.decode_rgb(msg, record.msgtype)
    if part == "depth":
        return depth_to_meter(m.decode_array(msg, DEPTH_ENCODINGS))
    return mono8_to_labels(m.decode_array(msg, GT_ENCODINGS["segmentation"]))


def _check_sizes(parts: dict[str, np.ndarray], stamp: int, topics: Topics) -> None:
    size = parts["image"].shape[:2]
    for part, topic in (("depth", topics.depth), ("label", topics.labels)):
        if part in parts and parts[part].shape[:2] != size:
            got = parts[part].shape
            raise BagFormatError(
                f"{part} on {topic} at stamp {stamp} is {got[1]}x{got[0]} but the image is {size[1]}x{size[0]} "
                "(record depth aligned to the colour image)"
            )


def _samples(bag: BagReader, topics: Topics, selection: Selection) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """Second pass: (image stamp, {image, depth[, label]}) for each chosen frame, as soon as its parts are in."""
    chosen = selection.split.train + selection.split.val
    wanted: dict[str, dict[int, int]] = {topics.image: {s: s for s in chosen}}
    wanted[topics.depth] = {selection.depth.pairs[s]: s for s in chosen}
    label_pairs = selection.labels.pairs if selection.labels else {}
    if topics.labels:
        wanted[topics.labels] = {label_pairs[s]: s for s in chosen if s in label_pairs}
    part_of = {topics.image: "image", topics.depth: "depth", topics.labels: "label"}
    pending: dict[int, dict[str, np.ndarray]] = {}
    for record in bag.messages(list(wanted)):
        target = wanted[record.topic].pop(cdr_stamp_ns(record.raw), None)  # pop: a duplicate finds nothing
        if target is None:
            continue
        parts = pending.setdefault(target, {})
        parts[part_of[record.topic]] = _decode(part_of[record.topic], record)
        if {"image", "depth"} <= parts.keys() and ("label" in parts or target not in label_pairs):
            _check_sizes(parts, target, topics)
            yield target, pending.pop(target)
    if pending or any(wanted.values()):
        raise BagError(f"{bag.path} changed while it was read: {len(pending)} frames lost a message between passes")


def _frame(parts: dict[str, np.ndarray], camera: Camera) -> Frame:
    depth = parts["depth"]
    label = parts.get("label")
    return Frame(
        image=parts["image"].astype(np.float32) / np.float32(255.0),
        label=np.full(depth.shape, -1, dtype=np.int64) if label is None else label,
        depth=depth,
        normal=normals_from_depth(depth, camera),
    )


def _counts(selection: Selection, every: int, max_dt_ms: float) -> dict[str, Any]:
    pairing, split = selection.depth, selection.split
    report: dict[str, Any] = {
        "images": pairing.primary, "depth_frames": pairing.secondary, "matched": len(pairing.pairs),
        "unmatched_images": pairing.unmatched_primary, "unmatched_depth": pairing.unmatched_secondary,
        "duplicate_images": pairing.duplicate_primary, "duplicate_depth": pairing.duplicate_secondary,
        "max_dt_ms": max_dt_ms, "every": every, "skipped_every": selection.skipped_every,
        "dropped_at_split_boundaries": split.dropped_at_boundaries, "train": len(split.train), "val": len(split.val),
    }
    if selection.labels is not None:
        report["labels"] = {"messages": selection.labels.secondary, "matched": len(selection.labels.pairs),
                            "samples_without_labels": selection.labels.unmatched_primary,
                            "unused": selection.labels.unmatched_secondary, "duplicates": selection.labels.duplicate_secondary}
    return report


def _check_options(every: int, max_dt_ms: float, period_s: float, gap_s: float) -> None:
    if not 1 <= every <= MAX_EVERY:
        raise ValueError(f"--every must be in 1..{MAX_EVERY}, got {every}")
    for name, value in (("--max-dt-ms", max_dt_ms), ("--split-period-s", period_s), ("--split-gap-s", gap_s)):
        if not (np.isfinite(value) and value >= 0) or (name == "--split-period-s" and value <= 0):
            raise ValueError(f"{name} must be a finite number {'> 0' if name == '--split-period-s' else '>= 0'}, got {value}")


def convert_bag(bag_path: str | Path, out: str | Path, topics: Topics, *, every: int = 1, val_fraction: float = 0.2,
                max_dt_ms: float = 20.0, period_s: float = 30.0, gap_s: float = 0.5, overwrite: bool = False,
                progress: bool = True) -> dict[str, Any]:
    """Convert a bag into an MTAN-layout dataset at `out`; returns the report (also in the manifest)."""
    _check_options(every, max_dt_ms, period_s, gap_s)
    out = Path(out)
    try:
        check_output_apart(bag_path, out)
    except OwnershipError:
        raise DatasetOutputError(f"--out {out} would overwrite or nest in the input bag {bag_path}; choose another path") from None
    with BagReader(bag_path) as bag:
        selection = select_frames(bag, topics, max_dt_ms=max_dt_ms, every=every, val_fraction=val_fraction,
                                  period_s=period_s, gap_s=gap_s)
        report = {"bag": str(bag_path), "storage": bag.storage, "out": str(out), "topics": asdict(topics),
                  **_counts(selection, every, max_dt_ms)}
        created = not out.exists()
        prepare_output(out, overwrite)
        files = sample_files({"train": report["train"], "val": report["val"]})
        write_manifest(out, files, report)
        try:
            report["camera"] = _write_samples(bag, topics, selection, out, progress)
        except BaseException:
            remove_output(out, files, created=created)  # only what this run listed; a partial dataset must not look whole
            raise
    write_manifest(out, files, report)
    return report


def _write_samples(bag: BagReader, topics: Topics, selection: Selection, out: Path, progress: bool) -> dict[str, Any]:
    assignment = selection.assignment()
    camera: Camera | None = None
    bar = _progress_bar(len(assignment)) if progress else nullcontext()
    with bar:
        for stamp, parts in _samples(bag, topics, selection):
            camera = camera or _camera(selection.camera, parts["image"].shape)
            split, index = assignment[stamp]
            write_sample(out / split, index, _frame(parts, camera))
            if progress:
                bar.update(1)
    assert camera is not None, "select_frames guarantees at least one pair"
    write_camera(out, camera)
    return camera.to_dict()


def _progress_bar(total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", desc="bag-to-dataset", file=sys.stderr)


def format_report(report: dict[str, Any]) -> str:
    """A few lines: what was read, what matched, what was dropped and why, what was written."""
    lines = [
        f"{report['bag']} ({report['storage']}): {report['images']} images, {report['depth_frames']} depth frames",
        f"  matched within {report['max_dt_ms']:g} ms: {report['matched']}; unmatched images {report['unmatched_images']}, "
        f"unmatched depth {report['unmatched_depth']}; duplicate stamps dropped: images {report['duplicate_images']}, "
        f"depth {report['duplicate_depth']}",
        f"  dropped: {report['skipped_every']} by --every {report['every']}, "
        f"{report['dropped_at_split_boundaries']} at train/val boundaries",
    ]
    if "labels" in report:
        labels = report["labels"]
        lines.append(f"  labels: {labels['matched']} matched, {labels['samples_without_labels']} samples without (all -1), "
                     f"{labels['unused']} unused")
    lines.append(f"wrote {report['train']} train + {report['val']} val samples to {report['out']}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", help="rosbag2 directory (mcap or sqlite3) or a bare .mcap/.db3 file")
    parser.add_argument("--out", required=True, help="dataset directory to create (MTAN layout + camera.json)")
    parser.add_argument("--image-topic", required=True, help="sensor_msgs/Image or CompressedImage colour topic")
    parser.add_argument("--depth-topic", required=True, help="depth Image aligned to the colour image: 16UC1 mm or 32FC1 m")
    parser.add_argument("--camera-info-topic", required=True, help="CameraInfo of the colour image")
    parser.add_argument("--labels-topic", default=None, help="optional mono8 class-id Image (255 unlabelled)")
    parser.add_argument("--every", type=int, default=1, help="keep every N-th matched frame (default 1)")
    parser.add_argument("--val-fraction", type=float, default=0.2, help="share of time in val blocks (default 0.2)")
    parser.add_argument("--max-dt-ms", type=float, default=20.0, help="largest image-depth stamp offset to pair (default 20)")
    parser.add_argument("--split-period-s", type=float, default=30.0,
                        help="each period's last --val-fraction is val (default 30 s; the whole bag when shorter)")
    parser.add_argument("--split-gap-s", type=float, default=0.5, help="frames this close to a train/val boundary are dropped (default 0.5)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier bag-to-dataset output in --out")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    topics = Topics(args.image_topic, args.depth_topic, args.camera_info_topic, args.labels_topic or None)
    try:
        report = convert_bag(
            args.bag, args.out, topics, every=args.every, val_fraction=args.val_fraction, max_dt_ms=args.max_dt_ms,
            period_s=args.split_period_s, gap_s=args.split_gap_s, overwrite=args.overwrite, progress=not args.no_progress,
        )
    except (BagError, ImageFormatError, ValueError, OSError) as err:
        print(f"bag-to-dataset: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    print(format_report(report))
    return 0
