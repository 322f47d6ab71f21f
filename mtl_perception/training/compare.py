"""`mtl-perception compare --preset quick|full`: single-task baselines + every MTL scheme, one budget.

Every row uses the same rendered data, epochs, batch size, optimizer and schedule; only the
scheme (and, for the baselines, the task list) changes. Metrics are the final epoch's on the
val split (no checkpoint selection, so the reported number was never used to pick anything).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from ..model import SCHEMES, TASKS

REPO_CONFIGS = Path(__file__).resolve().parents[2] / "config" / "train"


@dataclass(frozen=True)
class Preset:
    config: str  # file under config/train/
    train: int  # rendered training frames
    val: int
    seeds: tuple[int, ...]


PRESETS = {
    "quick": Preset("compare_quick.yaml", train=192, val=48, seeds=(0,)),
    "full": Preset("compare_full.yaml", train=1000, val=200, seeds=(0, 1, 2)),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=sorted(PRESETS), default="quick")
    parser.add_argument("--work", default="work/compare", help="cache for the rendered dataset and run directories")
    parser.add_argument("--out", default="benchmarks/compare_results", help="markdown, JSON and PNG go here")
    parser.add_argument("--config", default=None, help="override the preset's training YAML")
    parser.add_argument("--seeds", type=int, nargs="*", default=None, help="override the preset's seeds")
    parser.add_argument("--rows", nargs="*", default=None, help="subset of rows to run (e.g. single_segmentation svd_shared)")
    parser.add_argument("--extra-row", action="append", default=[], metavar="NAME:key=value,...",
                        help="an additional MTL row, e.g. 'svd_shared_privA:model.scheme=svd_shared,schedule.private_in_phase_a=true'")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="training overrides applied to every row")


def row_specs() -> list[tuple[str, list[str]]]:
    """(row name, overrides) for the three single-task baselines then each MTL scheme."""
    rows = [(f"single_{task}", [f"model.tasks=[{task}]", "model.scheme=none"]) for task in TASKS]
    rows += [(scheme, [f"model.tasks=[{','.join(TASKS)}]", f"model.scheme={scheme}"]) for scheme in SCHEMES]
    return rows


def ensure_dataset(root: Path, preset: Preset, height: int, width: int, seed: int = 1234) -> Path:
    """Render once into the work dir; reuse when the size and counts match."""
    stamp = root / "compare_dataset.json"
    wanted = {"train": preset.train, "val": preset.val, "height": height, "width": width, "seed": seed}
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        return root
    command = [sys.executable, "-m", "mtl_perception.cli", "make-dataset", "--out", str(root), "--train", str(preset.train),
               "--val", str(preset.val), "--height", str(height), "--width", str(width), "--seed", str(seed)]
    print("rendering dataset:", " ".join(command), flush=True)
    subprocess.run(command, check=True)
    stamp.write_text(json.dumps(wanted))
    return root


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def parse_extra_row(spec: str) -> tuple[str, list[str]]:
    name, sep, body = spec.partition(":")
    if not sep or not name or not body:
        raise ValueError(f"--extra-row wants NAME:key=value[,key=value...], got {spec!r}")
    return name, [f"model.tasks=[{','.join(TASKS)}]", *body.split(",")]


def run_compare(preset_name: str, work: Path, out: Path, *, config_path: str | None = None, seeds: Sequence[int] | None = None, rows: Sequence[str] | None = None, overrides: Sequence[str] = (), extra_rows: Sequence[str] = ()) -> dict[str, Any]:
    from ..metrics import delta_mtl
    from ..model import collapse, count_macs, count_parameters
    from .config import load_config
    from .distributed import DistContext
    from .trainer import Trainer

    preset = PRESETS[preset_name]
    config_path = config_path or str(REPO_CONFIGS / preset.config)
    if Path(config_path).resolve().is_relative_to(Path.cwd()):
        config_path = str(Path(config_path).resolve().relative_to(Path.cwd()))  # portable in the written table
    seeds = tuple(seeds) if seeds else preset.seeds
    base = load_config(config_path, overrides)
    data_root = ensure_dataset(work / "data", preset, base.data.height, base.data.width)
    ctx = DistContext(0, 1, 0, torch.device(base.device if base.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")))
    results: dict[str, dict[int, dict[str, Any]]] = {}
    specs = [spec for spec in row_specs() if rows is None or spec[0] in rows] + [parse_extra_row(e) for e in extra_rows]
    for name, row_overrides in specs:
        for seed in seeds:
            config = load_config(config_path, [*overrides, *row_overrides, f"seed={seed}", f"data.root={data_root}", "plots=false", "tensorboard=false"])
            run_dir = work / "runs" / f"{name}_seed{seed}"
            cached = run_dir / "result.json"
            # A finished run with the identical config is reused, so rows can be added later.
            if cached.is_file() and json.loads(cached.read_text())["config"] == config.to_dict():
                results.setdefault(name, {})[seed] = json.loads(cached.read_text())["result"]
                print(f"== {name} seed {seed}: reusing {cached}", flush=True)
                _write_outputs(results, out, preset_name, seeds, config_path, overrides, delta_mtl)
                continue
            started = time.perf_counter()
            print(f"== {name} seed {seed} ({config.model.scheme}, tasks {config.model.tasks})", flush=True)
            trainer = Trainer(config, run_dir, ctx=ctx, command=["compare", preset_name, name])
            history = trainer.fit()
            deploy = collapse(trainer.model.cpu(), fuse_bn=True)
            results.setdefault(name, {})[seed] = {
                "scheme": config.model.scheme,
                "tasks": list(config.model.tasks),
                "metrics": history[-1]["val"],
                "train_params": sum(p.numel() for p in trainer.model.parameters()),
                "params": count_parameters(deploy),
                "gmacs": count_macs(deploy, config.data.height, config.data.width) / 1e9,
                "seconds": time.perf_counter() - started,
            }
            cached.write_text(json.dumps({"config": config.to_dict(), "result": results[name][seed]}, indent=1))
            _write_outputs(results, out, preset_name, seeds, config_path, overrides, delta_mtl)
    return results


def _write_outputs(results: dict[str, dict[int, dict[str, Any]]], out: Path, preset: str, seeds: Sequence[int], config_path: str, overrides: Sequence[str], delta_mtl: Any) -> None:
    """Rewrite the markdown, JSON and chart after every run, so a partial comparison is still usable."""
    from ..metrics import TASK_METRICS
    from .plots import plot_delta_bars

    out.mkdir(parents=True, exist_ok=True)
    # Δ_MTL per seed against that seed's single-task baselines; then mean ± std over seeds.
    table_rows = []
    for name, per_seed in results.items():
        deltas = []
        for seed, run in per_seed.items():
            baseline = {t: results.get(f"single_{t}", {}).get(seed, {}).get("metrics", {}).get(t) for t in run["tasks"]}
            if len(run["tasks"]) > 1 and all(baseline.values()):
                try:
                    deltas.append(float(delta_mtl(run["metrics"], baseline)))
                except ValueError as exc:  # e.g. a degenerate zero baseline in a tiny smoke run
                    print(f"warning: no Δ_MTL for {name} seed {seed}: {exc}", file=sys.stderr)
            elif len(run["tasks"]) == 1:
                deltas.append(0.0)  # a baseline against itself
        entry = {"row": name, "scheme": next(iter(per_seed.values()))["scheme"], "tasks": next(iter(per_seed.values()))["tasks"], "seeds": sorted(per_seed)}
        for key in ("params", "train_params", "gmacs", "seconds"):
            entry[key] = _mean_std([r[key] for r in per_seed.values()])
        entry["metrics"] = {
            t: {m: _mean_std([r["metrics"][t][m] for r in per_seed.values()]) for m in next(iter(per_seed.values()))["metrics"][t]}
            for t in entry["tasks"]
        }
        entry["delta_mtl"] = _mean_std(deltas) if deltas else None
        table_rows.append(entry)
    document = {
        "preset": preset, "seeds": list(seeds), "config": config_path, "overrides": list(overrides),
        "hardware": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}",
        "metric_split": "val, final epoch", "rows": table_rows, "per_seed": {k: {str(s): v for s, v in r.items()} for k, r in results.items()},
    }
    (out / "compare.json").write_text(json.dumps(document, indent=2) + "\n")
    metric_names = [(t, m) for t in TASKS for m in _metric_keys(TASK_METRICS, t)]
    header = ["row", "train params", "inference params", "GMACs"] + [f"{t[:3]} {m}" for t, m in metric_names] + ["Δ_MTL %", "time s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for entry in table_rows:
        cells = [entry["row"], f"{entry['train_params'][0]:,.0f}", f"{entry['params'][0]:,.0f}", f"{entry['gmacs'][0]:.3f}"]
        for t, m in metric_names:
            value = entry["metrics"].get(t, {}).get(m)
            cells.append("—" if value is None else _pm(value))
        cells.append("—" if entry["delta_mtl"] is None else (_pm(entry["delta_mtl"], 2) if entry["row"].startswith("single_") is False else "0 (baseline)"))
        cells.append(f"{entry['seconds'][0]:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    (out / "compare.md").write_text(
        f"# Scheme comparison ({preset} preset, seeds {list(seeds)})\n\nConfig: `{config_path}` overrides {list(overrides)}; "
        f"{document['hardware']}. Metrics: {document['metric_split']}, mean ± std over seeds.\n\n" + "\n".join(lines) + "\n"
    )
    bars = [(e["row"], e["delta_mtl"][0], e["delta_mtl"][1]) for e in table_rows if e["delta_mtl"] is not None and not e["row"].startswith("single_")]
    if bars:
        plot_delta_bars(bars, out / "delta_mtl.png", f"Δ_MTL vs single-task ({preset}, seeds {list(seeds)})")


def _metric_keys(task_metrics: Any, task: str) -> list[str]:
    """TASK_METRICS[task] as a list of metric names, whatever container the metrics module uses."""
    entry = task_metrics[task]
    if isinstance(entry, dict):
        return list(entry)
    return [item[0] if isinstance(item, (tuple, list)) else item for item in entry]


def _pm(value: tuple[float, float], digits: int = 4) -> str:
    mean, std = value
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    run_compare(args.preset, Path(args.work), Path(args.out), config_path=args.config, seeds=args.seeds, rows=args.rows, overrides=args.overrides, extra_rows=args.extra_row)
    print(f"compare finished in {time.perf_counter() - started:.0f}s; results in {args.out}")
    return 0
