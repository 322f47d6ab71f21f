"""`mtl-perception eval-rgbd DIR [DIR ...]`: scores a deploy artifact on folders of real RGB + depth frames."""
from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.camera import Camera
from . import rgbd_metrics as rm
from .rgbd_folders import PNG_DEPTH_SCALE, RgbdFolderError, list_pairs, read_depth, read_rgb
from .rgbd_panel import PanelRow, panel_image, panel_indices, write_panel

DEFAULT_FOCAL = 525.0


@dataclass(frozen=True)
class Options:
    depth_scale: float | None
    fx: float | None
    fy: float | None
    cx: float | None
    cy: float | None
    min_depth: float
    max_depth: float

    def camera(self, height: int, width: int) -> Camera:
        """The intrinsics for a frame of this size: the flags given, defaults for the rest."""
        fx = self.fx if self.fx is not None else (self.fy if self.fy is not None else DEFAULT_FOCAL)
        fy = self.fy if self.fy is not None else fx
        cx = self.cx if self.cx is not None else (width - 1) / 2.0
        cy = self.cy if self.cy is not None else (height - 1) / 2.0
        return Camera(fx=fx, fy=fy, cx=cx, cy=cy, height=height, width=width)

    def defaulted_intrinsics(self) -> list[str]:
        return [name for name in ("fx", "fy", "cx", "cy") if getattr(self, name) is None]


def evaluate_folder(
    folder: str | Path, engine: Any, options: Options, *, limit: int | None = None, panel_rows: int = 0, progress: bool = False
) -> tuple[dict[str, Any], list[PanelRow]]:
    """Score every pair of `folder`; returns (the folder's report section, the panel rows kept).

    Every frame is scored as in ../shared/real_frames/README.md (tools/rgbd_metrics.py), then the figures
    are averaged over frames, each beside the constant baseline (docs/evaluation.md).
    """
    pairs, unpaired = list_pairs(folder)
    pairs = pairs[:limit] if limit else pairs
    keep = panel_indices(len(pairs), panel_rows)
    per_frame: list[dict[str, Any]] = []
    rows: list[PanelRow] = []
    sizes: set[tuple[int, int]] = set()
    bar = _progress_bar(len(pairs), Path(folder).name) if progress else nullcontext()
    with bar:
        for index, pair in enumerate(pairs):
            rgb, depth = read_rgb(pair.rgb), read_depth(pair.depth, options.depth_scale)
            if rgb.shape[:2] != depth.shape:
                raise RgbdFolderError(
                    f"{Path(folder)}: frame {pair.stem}: rgb is {rgb.shape[1]}x{rgb.shape[0]} but depth is {depth.shape[1]}x{depth.shape[0]}"
                )
            sizes.add(depth.shape)
            prediction = engine.predict(rgb, confidence=False)
            depth_ok = rm.valid_depth(depth, options.min_depth, options.max_depth)
            normals = rm.sensor_normals(depth, options.camera(*depth.shape), depth_ok)
            scores = {
                "frame": pair.stem,
                "sensor_valid_fraction": float(depth_ok.mean()),
                "depth": None if prediction.depth is None else rm.score_depth(prediction.depth, depth, depth_ok),
                "normals": None if prediction.normals is None else rm.score_normals(prediction.normals, normals),
            }
            per_frame.append(scores)
            if index in keep:
                rows.append(PanelRow(pair.stem, rgb, depth, depth_ok, prediction, normals, scores))
            if progress:
                bar.update(1)
    height, width = next(iter(sizes)) if len(sizes) == 1 else (None, None)
    section = {
        "dir": str(folder),
        "frames": len(pairs),
        "unpaired_files": unpaired,
        "image_size": [height, width] if height else sorted([list(s) for s in sizes]),
        "intrinsics": _intrinsics_report(options, height, width),
        "sensor_valid_fraction": float(np.mean([f["sensor_valid_fraction"] for f in per_frame])),
        **{task: _task_section(task, per_frame) for task in ("depth", "normals") if task in engine.tasks},
        "per_frame": per_frame,
    }
    return section, rows


def _task_section(task: str, per_frame: list[dict[str, Any]]) -> dict[str, Any]:
    scored = [frame[task] for frame in per_frame if frame[task] is not None]
    mean = rm.mean_over_frames(scored)
    return {
        "frames_scored": len(scored),
        "pixels_per_frame": mean["pixels"] if mean else 0.0,
        "model": mean["model"] if mean else None,
        "constant": mean["constant"] if mean else None,
    }


def _intrinsics_report(options: Options, height: int | None, width: int | None) -> dict[str, Any]:
    report: dict[str, Any] = {name: getattr(options, name) for name in ("fx", "fy", "cx", "cy")}
    if height:
        camera = options.camera(height, width)
        report = {name: getattr(camera, name) for name in ("fx", "fy", "cx", "cy")}
    report["defaulted"] = options.defaulted_intrinsics()
    return report


def _progress_bar(total: int, name: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", desc=f"eval-rgbd {name}", file=sys.stderr)


# --- the table ---------------------------------------------------------------------------------

ROWS = (
    ("depth", "si_abs_rel", "AbsRel, scale-invariant", True),
    ("depth", "si_delta_1.25", "δ<1.25, scale-invariant", True),
    ("depth", "abs_rel", "AbsRel, metric", False),
    ("depth", "delta_1.25", "δ<1.25, metric", False),
    ("depth", "scale", "median(sensor)/median(pred)", False),
    ("normals", "mean", "mean angle (deg)", True),
    ("normals", "median", "median angle (deg)", True),
    ("normals", "within_11.25", "within 11.25°", True),
    ("normals", "within_22.5", "within 22.5°", True),
    ("normals", "within_30", "within 30°", True),
)


def _cell(values: dict | None, key: str) -> str:
    value = None if values is None else values.get(key)
    return "—" if value is None else f"{value:.3f}"


def format_section(section: dict[str, Any]) -> str:
    intr = section["intrinsics"]
    size = section["image_size"]
    lines = [
        f"{section['dir']}: {section['frames']} frames"
        + (f" {size[1]}x{size[0]}" if size and isinstance(size[0], int) else "")
        + f", sensor depth valid on {100 * section['sensor_valid_fraction']:.0f} % of pixels"
        + (f", fx {intr['fx']:g} fy {intr['fy']:g} cx {intr['cx']:g} cy {intr['cy']:g}" if intr.get("fx") is not None else ""),
    ]
    table = [("task", "figure", "model", "constant")]
    for task, key, label, has_constant in ROWS:
        if task not in section:
            continue
        figures = section[task]
        table.append((task, label, _cell(figures["model"], key), _cell(figures["constant"], key) if has_constant else "—"))
    for task in ("depth", "normals"):
        if task in section:
            table.append((task, "frames scored / pixels per frame", str(section[task]["frames_scored"]),
                          f"{section[task]['pixels_per_frame']:.0f}"))
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for n, row in enumerate(table):
        lines.append("  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)

# --- the command -------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dirs", nargs="+", metavar="DIR", help="folder with rgb/ and depth/ (pairs by file stem); several allowed")
    parser.add_argument("--model", default=None, help="deploy artifact directory (default: the bundled model)")
    parser.add_argument("--depth-scale", type=float, default=None,
                        help="16-bit PNG depth units per metre: 5000 TUM, 1000 millimetres (default 1000); .npy depth is float metres")
    for name, default in (("fx", "525"), ("fy", "fx"), ("cx", "(W-1)/2"), ("cy", "(H-1)/2")):
        parser.add_argument(f"--{name}", type=float, default=None, help=f"intrinsics in pixels, for the sensor normals (default {default})")
    parser.add_argument("--min-depth", type=float, default=0.1, help="metres; sensor depth at or below is invalid (default 0.1)")
    parser.add_argument("--max-depth", type=float, default=10.0, help="metres; sensor depth above is invalid (default 10)")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N frames of each folder")
    parser.add_argument("--report", default=None, help="write the JSON report here (default: print the table only)")
    parser.add_argument("--panel", default=None, help="write a PNG grid of frames and predictions here")
    parser.add_argument("--panel-frames", type=int, default=6, help="panel rows per folder, spread evenly (default 6)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--no-progress", action="store_true")


def options_from_args(args: argparse.Namespace) -> Options:
    if args.depth_scale is not None and not args.depth_scale > 0:
        raise ValueError(f"--depth-scale must be > 0, got {args.depth_scale}")
    for name in ("fx", "fy"):
        value = getattr(args, name)
        if value is not None and not value > 0:
            raise ValueError(f"--{name} must be > 0, got {value}")
    if not 0 <= args.min_depth < args.max_depth:
        raise ValueError(f"need 0 <= --min-depth < --max-depth, got {args.min_depth} and {args.max_depth}")
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be >= 1, got {args.limit}")
    if args.panel_frames < 1:
        raise ValueError(f"--panel-frames must be >= 1, got {args.panel_frames}")
    return Options(args.depth_scale, args.fx, args.fy, args.cx, args.cy, args.min_depth, args.max_depth)


def _notes(options: Options) -> list[str]:
    notes = []
    defaulted = options.defaulted_intrinsics()
    if defaulted:
        notes.append(f"intrinsics not given ({', '.join('--' + n for n in defaulted)}): using fx = fy = {DEFAULT_FOCAL:g}, "
                     "cx = (W-1)/2, cy = (H-1)/2 where unset; they shape the sensor normals only")
    if options.depth_scale is None:
        notes.append(f"--depth-scale not given: 16-bit PNG depth read as millimetres ({PNG_DEPTH_SCALE:g} per metre)")
    return notes


def run(args: argparse.Namespace) -> int:
    from ..bag.evaluate import write_report
    from ..runtime import default_model_path, load_engine

    options = options_from_args(args)
    for folder in args.dirs:
        list_pairs(folder)  # every folder checked before the model loads
    model_path = args.model or default_model_path()
    engine = load_engine(model_path, device=args.device)
    if not {"depth", "normals"} & set(engine.tasks):
        raise ValueError(f"model {model_path} predicts neither depth nor normals (tasks: {', '.join(engine.tasks)})")
    notes = _notes(options)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    panel_rows = args.panel_frames if args.panel else 0
    sections, panels = [], []
    for folder in args.dirs:
        section, rows = evaluate_folder(folder, engine, options, limit=args.limit, panel_rows=panel_rows, progress=not args.no_progress)
        sections.append(section)
        panels.append((str(folder), rows))
    report = {
        "model": engine.name,
        "model_path": str(model_path),
        "device": str(engine.device),
        "depth_scale": options.depth_scale,
        "min_depth": options.min_depth,
        "max_depth": options.max_depth,
        "notes": notes,
        "folders": sections,
    }
    print(f"model {engine.name} ({model_path}) on {engine.device}; figures are per-frame means")
    print("\n\n".join(format_section(section) for section in sections))
    if args.report:
        write_report(report, args.report)
        print(f"report written to {args.report}")
    if args.panel:
        write_panel(args.panel, panel_image(panels, engine.meta.palette))
        print(f"panel written to {args.panel}")
    return 0
