"""Inference payoffs, side by side in one process: collapse, multitask, backends, breakdown.

    .venv/bin/python benchmarks/bench_inference.py --out benchmarks/results/inference/inference.json

Targets (issue 7): collapsed/compact ≤ 1.05; training form ≥ 1.5× slower than collapsed;
three single-task passes ≥ 2.5× one multitask pass. Ratios are reported, not asserted.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import compare, engine_stages, hardware, print_table, write_json  # noqa: E402

from mtl_perception.model import MultiTaskNet, NetConfig, collapse, count_macs, count_parameters, overparameterize  # noqa: E402
from mtl_perception.runtime import Engine, default_model_path, load_artifact  # noqa: E402
from mtl_perception.runtime.backends import candidate_backends, compare_outputs, make_backend  # noqa: E402


def reference_config(artifact: str | None) -> NetConfig:
    try:
        path = artifact or default_model_path()
        return replace(load_artifact(path)[1].net, fused_bn=False)
    except Exception:  # no bundled model yet: the default deploy architecture
        return NetConfig(num_classes=10, width=0.5)


def collapse_payoff(config: NetConfig, size: tuple[int, int], trials: int) -> dict:
    torch.manual_seed(0)
    compact = MultiTaskNet(config).eval()
    training_form = overparameterize(compact, "svd_shared").eval()
    collapsed = collapse(training_form).eval()
    deployed = collapse(training_form, fuse_bn=True).eval()
    x = torch.randn(1, 3, *size)
    with torch.inference_mode():
        timings = compare(
            {
                "compact": lambda: compact(x),
                "training form (svd_shared)": lambda: training_form(x),
                "collapsed": lambda: collapsed(x),
                "collapsed + fused BN": lambda: deployed(x),
            },
            trials=trials,
        )
    base = timings["compact"].median_ms
    rows = [[name, t.median_ms, t.median_ms / base] for name, t in timings.items()]
    print_table(f"Collapse payoff at {size[0]}x{size[1]} (ratio to compact)", ["network", "median ms", "ratio"], rows)
    return {
        "timings": timings,
        "collapsed_over_compact": timings["collapsed"].median_ms / base,
        "fused_over_compact": timings["collapsed + fused BN"].median_ms / base,
        "training_over_collapsed": timings["training form (svd_shared)"].median_ms / timings["collapsed"].median_ms,
        "params": {"compact": count_parameters(compact), "training_form": count_parameters(training_form), "collapsed": count_parameters(collapsed)},
    }


def multitask_payoff(config: NetConfig, size: tuple[int, int], trials: int) -> dict:
    torch.manual_seed(0)
    multi = collapse(MultiTaskNet(config), fuse_bn=True).eval()
    singles = [collapse(MultiTaskNet(replace(config, tasks=(task,))), fuse_bn=True).eval() for task in config.tasks]
    x = torch.randn(1, 3, *size)
    with torch.inference_mode():
        timings = compare({"one multitask pass": lambda: multi(x), "single-task passes": lambda: [s(x) for s in singles]}, trials=trials)
    ratio = timings["single-task passes"].median_ms / timings["one multitask pass"].median_ms
    macs = {"multitask": count_macs(multi, *size), "single_tasks": sum(count_macs(s, *size) for s in singles)}
    rows = [[name, t.median_ms] for name, t in timings.items()]
    print_table(f"Multitask payoff at {size[0]}x{size[1]} ({len(singles)} tasks)", ["run", "median ms"], rows + [["speed-up", ratio]])
    return {"timings": timings, "singles_over_multitask": ratio, "macs": macs}


def backend_comparison(config: NetConfig, size: tuple[int, int], trials: int, device: torch.device) -> dict:
    torch.manual_seed(0)
    net = collapse(MultiTaskNet(config), fuse_bn=True).eval()
    image = torch.randn(1, 3, *size).to(device)
    with torch.inference_mode():
        backends = {name: make_backend(name, net, device, size) for name in candidate_backends(device)}
        reference = {k: v.float().clone() for k, v in backends["torch"](image).items()}
        errors = {name: compare_outputs(b(image), reference) for name, b in backends.items()}
        timings = compare({name: (lambda b=b: b(image)) for name, b in backends.items()}, trials=trials, sync_cuda=device.type == "cuda")
    rows = [[n, t.median_ms, t.per_second, errors[n][0], errors[n][1]] for n, t in timings.items()]
    print_table(f"Backends at {size[0]}x{size[1]} on {device}", ["backend", "median ms", "frames/s", "max rel err", "label agreement"], rows)
    return {"timings": timings, "errors": {n: {"max_rel_error": e[0], "label_agreement": e[1]} for n, e in errors.items()}}


def breakdown(artifact: str | None, config: NetConfig, camera_size: tuple[int, int], trials: int, device: torch.device) -> dict:
    """Where one Engine.predict goes: preprocessing, network, postprocessing."""
    try:
        model, meta = load_artifact(artifact or default_model_path())
    except Exception:
        from mtl_perception.runtime.artifact import ArtifactMeta

        model = collapse(MultiTaskNet(config), fuse_bn=True)
        meta = ArtifactMeta(net=model.config, class_names=tuple(map(str, range(config.num_classes))), palette=((0, 0, 0),) * config.num_classes, input_height=144, input_width=192)
    engine = Engine(model, meta, device=device, backend="torch_channels_last")
    rgb = np.random.default_rng(0).integers(0, 256, (*camera_size, 3), dtype=np.uint8)
    timings = engine_stages(engine, rgb, camera_size, trials, sync_cuda=device.type == "cuda")
    total = timings["predict (total)"].median_ms
    rows = [[n, t.median_ms, t.median_ms / total] for n, t in timings.items()]
    print_table(f"Engine.predict breakdown, camera {camera_size[0]}x{camera_size[1]} → network {engine.input_size}", ["stage", "median ms", "share"], rows)
    return {"timings": timings, "network_input": engine.input_size}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", help="deploy artifact whose architecture to use (default: bundled model)")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", help="write JSON results here")
    args = parser.parse_args()
    device = torch.device(args.device)
    config = reference_config(args.artifact)
    print(f"hardware: {hardware()}\nconfig: {config}")
    results: dict = {"hardware": hardware(), "config": config.to_dict(), "sizes": {}}
    for size in ((144, 192), (288, 384)):
        key = f"{size[0]}x{size[1]}"
        results["sizes"][key] = {
            "collapse": collapse_payoff(config, size, args.trials),
            "multitask": multitask_payoff(config, size, args.trials),
            "backends": backend_comparison(config, size, args.trials, device),
        }
    results["breakdown"] = breakdown(args.artifact, config, (480, 640), args.trials, device)
    summary = [
        [key, r["collapse"]["collapsed_over_compact"], r["collapse"]["training_over_collapsed"], r["multitask"]["singles_over_multitask"]]
        for key, r in results["sizes"].items()
    ]
    print_table("Targets: collapsed/compact ≤ 1.05, training/collapsed ≥ 1.5, singles/multitask ≥ 2.5", ["size", "collapsed/compact", "training/collapsed", "singles/multitask"], summary)
    write_json(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
