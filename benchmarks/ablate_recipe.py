"""Issue 27's recipe ablations: each choice of the bundled model's recipe removed in turn, 3 seeds, at a reduced budget.

    python benchmarks/ablate_recipe.py --work work/ablate --out benchmarks/results/ablations [--jobs 2]

Every arm is config/train/default.yaml on the bundled model's two-dataset mixture (randomised
renders weighted 2, classic 1; `--rand` and `--classic`, rendered as mtl_perception/models/README.md
says) with one change, trained `--epochs` epochs on the first `--train-limit` frames of each
dataset, exported and scored on the renderer's held-out splits (seed 31337): classic renders
(`--heldout`) and randomised renders (`--heldout-randomized`, where it exists); those decide.
The classic split is in-distribution for the classic-only arm, so the randomised split is the
one that can show what randomisation buys. Where ../shared/real_frames exists, each run is also scored on tum_fr1_rpy and
reported beside it, *never* used to choose (those frames are for evaluation only). The verdict
per arm is its paired per-seed difference to the full recipe with the 95 % t-interval. Each
run's results are kept in its own directory, so a stopped ablation continues where it was.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Mapping, Sequence

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "real_frames" / "tum_fr1_rpy"
TUM = ["--depth-scale", "5000", "--fx", "517.3", "--fy", "516.5", "--cx", "318.6", "--cy", "255.3"]
MIXTURE = "data.roots=[{{root: {rand}, weight: 2.0, name: randomized}}, {{root: {classic}, weight: 1.0, name: classic}}]"
ARMS: dict[str, list[str]] = {
    "recipe": [],
    # One dataset: twice its frames, so every arm trains on as many frames for as many steps.
    "classic renders only": ["data.roots=[{{root: {classic}, weight: 1.0, name: classic}}]", "data.train_limit={both_limits}"],
    "basic augmentation": ["data.augment_preset=basic"],
    "no scale-invariant depth term": ["loss.depth_si_weight=0.0"],
    "encoder at the full learning rate": ["model.encoder_lr_factor=1.0"],
    "encoder from random init": ["model.pretrained=false"],
}
HELDOUT_METRICS = (("segmentation", "miou", True), ("depth", "abs_err", False), ("normals", "mean", False))
REAL_METRICS = (("depth", "si_abs_rel", False), ("depth", "si_delta_1.25", True), ("normals", "mean", False))


def cli(*args: str, log: Path) -> None:
    with log.open("a") as out:
        subprocess.run([sys.executable, "-m", "mtl_perception.cli", *args], check=True, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)


def arm_overrides(arm: str, seed: int, args: argparse.Namespace) -> list[str]:
    """The `train` overrides of one (arm, seed): the shared budget, then the arm's own (the last of a key wins)."""
    fields = {"rand": args.rand, "classic": args.classic, "both_limits": 2 * args.train_limit}
    return [MIXTURE.format(**fields), f"seed={seed}", f"epochs={args.epochs}", f"data.train_limit={args.train_limit}",
            "threads=1", "plots=false", "tensorboard=false", *(o.format(**fields) for o in ARMS[arm])]


def run_arm(arm: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """Train, export and score one (arm, seed); reuses a finished run's result."""
    run = args.work / f"{arm.replace(' ', '_')}_seed{seed}"
    result_path = run / "result.json"
    if result_path.is_file():
        return with_randomized_split(run, json.loads(result_path.read_text()), args)
    run.mkdir(parents=True, exist_ok=True)
    log = run / "log.txt"
    overrides = arm_overrides(arm, seed, args)
    resume = ["--resume"] if (run / "train" / "last.pt").is_file() else []
    cli("train", "--config", "config/train/default.yaml", "--out", str(run / "train"), *resume, *overrides, log=log)
    cli("export", str(run / "train" / "last.pt"), "--out", str(run / "artifact"), "--data", str(args.classic), "--frames", "4", log=log)
    cli("eval", str(run / "artifact"), "--data", str(args.heldout), "--json", str(run / "heldout.json"), log=log)
    result: dict[str, Any] = {"arm": arm, "seed": seed, "heldout": json.loads((run / "heldout.json").read_text())["metrics"]}
    if REAL.is_dir():
        cli("eval-rgbd", str(REAL), "--model", str(run / "artifact"), *TUM, "--report", str(run / "tum.json"), "--no-progress", log=log)
        folder = json.loads((run / "tum.json").read_text())["folders"][0]
        result["tum"] = {"depth": folder["depth"]["model"], "normals": folder["normals"]["model"]}
    result_path.write_text(json.dumps(result, indent=1) + "\n")
    return with_randomized_split(run, result, args)


def with_randomized_split(run: Path, result: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """`result` with the run's artifact scored on the randomised held-out split (once; kept in result.json)."""
    if "heldout_randomized" in result or args.heldout_randomized is None or not args.heldout_randomized.is_dir():
        return result
    report = run / "heldout_randomized.json"
    cli("eval", str(run / "artifact"), "--data", str(args.heldout_randomized), "--json", str(report), log=run / "log.txt")
    result = {**result, "heldout_randomized": json.loads(report.read_text())["metrics"]}
    (run / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def paired(results: Sequence[Mapping[str, Any]], arm: str, split: str, task: str, metric: str) -> dict[str, Any]:
    """Mean of `arm` and its per-seed difference to the recipe (arm − recipe), with the 95 % t-interval."""
    from mtl_perception.training.compare_stats import Interval, mean_std

    def by_seed(name: str) -> dict[int, float]:
        return {r["seed"]: r[split][task][metric] for r in results if r["arm"] == name and split in r}

    mine, recipe = by_seed(arm), by_seed("recipe")
    seeds = sorted(set(mine) & set(recipe))
    interval = Interval.of([mine[s] - recipe[s] for s in seeds]) if arm != "recipe" and seeds else None
    return {"mean_std": mean_std(list(mine.values())),
            "vs_recipe": None if interval is None else {"mean": interval.mean, "low": interval.low, "high": interval.high}}


def markdown(results: Sequence[Mapping[str, Any]]) -> str:
    lines = []
    for split, metrics, title in (("heldout", HELDOUT_METRICS, "Renderer held-out split, classic renders (decides)"),
                                  ("heldout_randomized", HELDOUT_METRICS, "Renderer held-out split, randomised renders (decides)"),
                                  ("tum", REAL_METRICS, "Real frames, tum_fr1_rpy (reported only, never used to choose)")):
        if not any(split in r for r in results):
            continue
        header = ["arm"] + [f"{task} {metric} ({'higher' if higher else 'lower'} is better)" for task, metric, higher in metrics]
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for arm in [a for a in ARMS if any(r["arm"] == a for r in results)]:
            cells = [arm]
            for task, metric, _ in metrics:
                entry = paired(results, arm, split, task, metric)
                mean, std = entry["mean_std"]
                vs = entry["vs_recipe"]
                cells.append(f"{mean:.3f} ± {std:.3f}" + ("" if vs is None else f" ({vs['mean']:+.3f} [{vs['low']:+.3f}, {vs['high']:+.3f}])"))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("work/ablate"), help="run directories (resumable)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ablations"))
    parser.add_argument("--rand", type=Path, default=Path("runs/data/rand8k"), help="randomised renders (make-dataset --style randomized)")
    parser.add_argument("--classic", type=Path, default=Path("runs/data/classic8k"), help="classic renders")
    parser.add_argument("--heldout", type=Path, default=Path("runs/data/heldout"), help="held-out classic renders, seed 31337")
    parser.add_argument("--heldout-randomized", type=Path, default=Path("runs/data/heldout_randomized"),
                        help="held-out randomised renders, seed 31337 (make-dataset --style randomized); skipped where absent")
    parser.add_argument("--arms", nargs="*", choices=sorted(ARMS), default=list(ARMS))
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-limit", type=int, default=2000, help="frames used of each dataset (2 epochs of 2 x 2000: 500 steps, ~9 min a run on 1 core)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once, one torch thread each")
    args = parser.parse_args(argv)
    for path in (args.rand, args.classic, args.heldout):
        if not path.is_dir():
            parser.error(f"{path} is not a dataset directory; render it as mtl_perception/models/README.md says")
    arms = ["recipe", *(arm for arm in args.arms if arm != "recipe")]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda spec: run_arm(*spec, args), [(arm, seed) for arm in arms for seed in args.seeds]))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ablations.json").write_text(json.dumps({"epochs": args.epochs, "train_limit": args.train_limit, "runs": results}, indent=1) + "\n")
    (args.out / "ablations.md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
