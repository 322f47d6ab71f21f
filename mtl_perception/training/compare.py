"""`mtl-perception compare --preset quick|cpu|full`: single-task baselines + every MTL scheme, one budget.

Every row gets the same rendered data, epochs, seeds and learning-rate grid; only the scheme
(and, for the baselines, the task list) changes. Each row picks its learning rate on the val
split (baselines: lowest val loss; multitask rows: highest mean val Δ_MTL), and is reported
on a test split rendered from a seed used nowhere else. Each (row, lr, seed) run lives in its
own directory and resumes from its last checkpoint, so a stopped compare continues.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Sequence

from tqdm import tqdm

from ..model import SCHEMES, TASKS

REPO_CONFIGS = Path(__file__).resolve().parents[2] / "config" / "train"
DATA_SEED = 1234  # train and val frames
TEST_SEED = 4242  # test frames: this seed renders nothing else in the project


@dataclass(frozen=True)
class Preset:
    config: str  # file under config/train/
    train: int  # rendered training frames
    val: int
    test: int
    seeds: tuple[int, ...]
    lrs: tuple[float, ...]
    jobs: int = 1  # runs in parallel (each with cpu_count // jobs threads)


PRESETS = {
    "quick": Preset("compare_quick.yaml", train=96, val=32, test=32, seeds=(0,), lrs=(2e-3,)),
    # The grid that fit the 2-core budget; the baselines chose its top value, so widen it where time allows.
    "cpu": Preset("compare_cpu.yaml", train=300, val=150, test=200, seeds=(0, 1, 2), lrs=(2e-3, 4e-3), jobs=2),
    "full": Preset("compare_full.yaml", train=1000, val=200, test=300, seeds=(0, 1, 2, 3, 4), lrs=(1e-3, 2e-3, 4e-3, 8e-3)),
    # Issue 28's budget experiment: the cpu preset's recipe on 4x and 8x the frames, so 4x and 8x the steps.
    "budget4": Preset("compare_cpu.yaml", train=1200, val=150, test=200, seeds=(0, 1, 2), lrs=(2e-3, 4e-3), jobs=2),
    "budget8": Preset("compare_cpu.yaml", train=2400, val=150, test=200, seeds=(0, 1, 2), lrs=(2e-3, 4e-3), jobs=2),
    # Issue 28's optimiser race: training loss on a fixed set of frames at equal steps (benchmarks/optimiser_race.py).
    "race": Preset("compare_race.yaml", train=256, val=32, test=32, seeds=(0, 1, 2), lrs=(1e-3, 2e-3, 4e-3), jobs=2),
}


class CompareError(RuntimeError):
    """A compare cannot continue (e.g. a run directory holds a run of another config)."""


@dataclass(frozen=True)
class RunSpec:
    row: str
    lr: float
    seed: int
    overrides: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.row}_lr{self.lr:g}_seed{self.seed}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=sorted(PRESETS), default="quick")
    parser.add_argument("--work", default="work/compare", help="cache for the rendered datasets and run directories")
    parser.add_argument("--out", default="benchmarks/results/compare", help="markdown, JSON and PNG go here")
    parser.add_argument("--config", default=None, help="override the preset's training YAML")
    parser.add_argument("--seeds", type=int, nargs="*", default=None, help="override the preset's seeds")
    parser.add_argument("--lrs", type=float, nargs="*", default=None, help="override the preset's learning-rate grid")
    parser.add_argument("--jobs", type=int, default=None, help="runs in parallel (default: the preset's)")
    parser.add_argument("--rows", nargs="*", default=None, help="subset of rows to run (e.g. single_segmentation svd_shared)")
    parser.add_argument("--extra-row", action="append", default=[], metavar="NAME:key=value,...",
                        help="an additional MTL row, e.g. 'svd_shared_privA:model.scheme=svd_shared,schedule.private_in_phase_a=true'; "
                             "an optim.lr=X in it runs that row at X only, instead of the grid")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="training overrides applied to every row")


def row_specs() -> list[tuple[str, list[str]]]:
    """(row name, overrides) for the three single-task baselines then each MTL scheme."""
    rows = [(f"single_{task}", [f"model.tasks=[{task}]", "model.scheme=none"]) for task in TASKS]
    rows += [(scheme, [f"model.tasks=[{','.join(TASKS)}]", f"model.scheme={scheme}"]) for scheme in SCHEMES]
    return rows


def parse_extra_row(spec: str) -> tuple[str, list[str]]:
    name, sep, body = spec.partition(":")
    if not sep or not name or not body:
        raise ValueError(f"--extra-row wants NAME:key=value[,key=value...], got {spec!r}")
    return name, [f"model.tasks=[{','.join(TASKS)}]", *body.split(",")]


def row_lrs(overrides: Sequence[str], grid: Sequence[float]) -> tuple[float, ...]:
    """The learning rates a row runs at: the grid, or only the one its own `optim.lr=` fixes."""
    fixed = [item.partition("=")[2] for item in overrides if item.startswith("optim.lr=")]
    if not fixed:
        return tuple(grid)
    try:
        return (float(fixed[-1]),)
    except ValueError:
        raise ValueError(f"optim.lr must be a number, got {fixed[-1]!r}") from None


def ensure_dataset(root: Path, *, train: int, val: int, height: int, width: int, seed: int) -> Path:
    """Render once into `root`; reuse when the size, counts and seed match."""
    stamp = root / "compare_dataset.json"
    wanted = {"train": train, "val": val, "height": height, "width": width, "seed": seed}
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        return root
    command = [sys.executable, "-m", "mtl_perception.cli", "make-dataset", "--out", str(root), "--train", str(train),
               "--val", str(val), "--height", str(height), "--width", str(width), "--seed", str(seed), "--preview", "0"]
    if stamp.is_file():
        command.append("--overwrite")  # only ever a dataset this command rendered (it wrote the stamp)
    print("rendering dataset:", " ".join(command), flush=True)
    subprocess.run(command, check=True)
    stamp.write_text(json.dumps(wanted))
    return root


def run_config(spec: RunSpec, config_path: str, overrides: Sequence[str], data_root: Path, threads: int) -> Any:
    from .config import load_config

    extra = [f"optim.lr={spec.lr}", f"seed={spec.seed}", f"data.root={data_root}", "plots=false", "tensorboard=false", f"threads={threads}"]
    return load_config(config_path, [*overrides, *spec.overrides, *extra])


def train_run(spec: RunSpec, config: Any, run_dir: Path, test_root: Path, *, stop_after_epoch: int | None = None) -> dict[str, Any] | None:
    """Train (or resume, or reuse) one run; its final-epoch val and test metrics, or None if stopped early."""
    import torch
    from torch.utils.data import DataLoader

    from ..model import collapse, count_macs, count_parameters
    from .checkpoint import load_checkpoint
    from .distributed import DistContext
    from .trainer import Trainer, load_split

    cached = run_dir / "result.json"
    if cached.is_file():
        saved = json.loads(cached.read_text())
        if saved["config"] == config.to_dict():
            return saved["result"]
    last = run_dir / "last.pt"
    resume = last.is_file()
    if resume and load_checkpoint(last)["config"] != config.to_dict():
        raise CompareError(f"{run_dir} holds a run of another configuration; pass a fresh --work (nothing was deleted)")
    started = time.perf_counter()
    device = torch.device(config.device if config.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    trainer = Trainer.from_config(config, run_dir, resume=resume, ctx=DistContext(0, 1, 0, device), command=["compare", spec.name])
    history = trainer.fit(stop_after_epoch=stop_after_epoch)
    if trainer.epoch < config.epochs:
        return None
    test_loader = DataLoader(load_split(str(test_root), "val", count=0, in_memory=True), config.batch_size)
    test_metrics, _ = trainer.evaluate(test_loader)
    deploy = collapse(trainer.model.cpu(), fuse_bn=True)
    result = {
        "row": spec.row, "lr": spec.lr, "seed": spec.seed,
        "scheme": config.model.scheme, "tasks": list(config.model.tasks),
        "metrics": {"val": history[-1]["val"], "test": test_metrics},
        "val_loss": history[-1]["val_loss"],
        "val_loss_curve": [[h["epoch"], sum(h["val_loss"].values())] for h in history if "val_loss" in h],
        "train_loss_curve": [[h["epoch"], sum(h["train"].values())] for h in history],
        "train_params": sum(p.numel() for p in trainer.model.parameters()),
        "params": count_parameters(deploy),
        "gmacs": count_macs(deploy, config.data.height, config.data.width) / 1e9,
        "seconds": sum(h["seconds"] for h in history),
        "resumed": resume,
    }
    cached.write_text(json.dumps({"config": config.to_dict(), "result": result}, indent=1))
    return result


def _worker(spec: RunSpec, config_path: str, overrides: Sequence[str], data_root: Path, test_root: Path, runs_dir: Path, threads: int) -> tuple[RunSpec, dict[str, Any] | None]:
    config = run_config(spec, config_path, overrides, data_root, threads)
    return spec, train_run(spec, config, runs_dir / spec.name, test_root)


def run_compare(preset_name: str, work: Path, out: Path, *, config_path: str | None = None, seeds: Sequence[int] | None = None, lrs: Sequence[float] | None = None, jobs: int | None = None, rows: Sequence[str] | None = None, overrides: Sequence[str] = (), extra_rows: Sequence[str] = ()) -> dict[str, Any]:
    from .compare_report import write_report
    from .config import load_config

    preset = PRESETS[preset_name]
    config_path = config_path or str(REPO_CONFIGS / preset.config)
    if Path(config_path).resolve().is_relative_to(Path.cwd()):
        config_path = str(Path(config_path).resolve().relative_to(Path.cwd()))  # portable in the written table
    seeds, lrs = tuple(seeds or preset.seeds), tuple(lrs or preset.lrs)
    jobs = max(1, jobs or preset.jobs)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    base = load_config(config_path, overrides)
    size = {"height": base.data.height, "width": base.data.width}
    data_root = ensure_dataset(work / "data", train=preset.train, val=preset.val, seed=DATA_SEED, **size)
    test_root = ensure_dataset(work / "test", train=0, val=preset.test, seed=TEST_SEED, **size)
    row_list = [spec for spec in row_specs() if rows is None or spec[0] in rows] + [parse_extra_row(e) for e in extra_rows]
    grids = {name: row_lrs(row_overrides, lrs) for name, row_overrides in row_list}
    specs = [RunSpec(name, lr, seed, tuple(row_overrides)) for name, row_overrides in row_list for lr in grids[name] for seed in seeds]
    meta = {"preset": preset_name, "config": config_path, "overrides": list(overrides), "seeds": list(seeds), "lrs": list(lrs),
            "rows": [name for name, _ in row_list], "row_lrs": {name: list(grid) for name, grid in grids.items() if grid != lrs}, "train": preset.train, "val": preset.val, "test": preset.test,
            "data_seed": DATA_SEED, "test_seed": TEST_SEED, "jobs": jobs, "threads_per_run": threads}
    results: dict[tuple[str, float, int], dict[str, Any]] = {}
    args = (config_path, overrides, data_root, test_root, work / "runs", threads)
    bar = tqdm(total=len(specs), desc="compare runs", unit="run", dynamic_ncols=True)
    if jobs == 1:
        for spec in specs:
            _record(results, *_worker(spec, *args), bar, meta, out)
    else:
        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_worker, spec, *args) for spec in specs]
            for future in as_completed(futures):
                _record(results, *future.result(), bar, meta, out)
    bar.close()
    return write_report(results, meta, out)


def _record(results: dict, spec: RunSpec, result: dict[str, Any] | None, bar: tqdm, meta: dict[str, Any], out: Path) -> None:
    from .compare_report import write_report

    if result is not None:
        results[(spec.row, spec.lr, spec.seed)] = result
    bar.update(1)
    bar.set_postfix_str(spec.name)
    write_report(results, meta, out)  # after every run, so a partial comparison is still usable


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    try:
        run_compare(args.preset, Path(args.work), Path(args.out), config_path=args.config, seeds=args.seeds, lrs=args.lrs, jobs=args.jobs,
                    rows=args.rows, overrides=args.overrides, extra_rows=args.extra_row)
    except (CompareError, ValueError) as exc:
        print(f"mtl-perception compare: {exc}", file=sys.stderr)
        return 2
    print(f"compare finished in {time.perf_counter() - started:.0f}s; results in {args.out}")
    return 0
