"""Two deploy artifacts' bare engines side by side, in one process: is one model slower than the other?

    .venv/bin/python benchmarks/bench_models.py --baseline PREVIOUS_ARTIFACT --size 480x640 \
        --out benchmarks/results/inference/models_480x640.json

`Engine.predict` on one camera frame (the node's per-frame work without ROS), split into
preprocess, network and postprocess, for the candidate (default: the bundled model) and the
baseline, every trial of every stage interleaved across both so load drift hits them alike.
Each model may run on its own backend (`--baseline-backend`), to compare two deployments. Reports each stage's median and the ratio candidate / baseline (above 1: the candidate is slower).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import mtl_perception  # noqa: F401  (OpenMP's wait policy, before torch loads)
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import compare, hardware, print_table, stage_calls, write_json  # noqa: E402

from mtl_perception.runtime import default_model_path, load_engine  # noqa: E402

STAGES = ("preprocess", "network", "postprocess", "predict (total)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidate", help="deploy artifact directory (default: the bundled model)")
    parser.add_argument("--baseline", required=True, help="deploy artifact directory to compare against")
    parser.add_argument("--size", default="480x640", help="camera frame HEIGHTxWIDTH")
    parser.add_argument("--backend", default="torchscript", help="the candidate's backend")
    parser.add_argument("--baseline-backend", help="the baseline's backend (default: --backend)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the node's default)")
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--out", help="write JSON results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    height, width = (int(v) for v in args.size.split("x"))
    rgb = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    models = {"candidate": args.candidate or str(default_model_path()), "baseline": args.baseline}
    backends = {"candidate": args.backend, "baseline": args.baseline_backend or args.backend}
    calls = {}
    for role, path in models.items():
        engine = load_engine(path, device="cpu", backend=backends[role])
        calls.update({f"{role} {stage}": fn for stage, fn in stage_calls(engine, rgb, (height, width)).items()})
    with torch.inference_mode():
        timings = compare(calls, warmup=5, trials=args.trials)
    rows, stages = [], {}
    for stage in STAGES:
        cand, base = timings[f"candidate {stage}"].median_ms, timings[f"baseline {stage}"].median_ms
        stages[stage] = {"candidate_ms": cand, "baseline_ms": base, "candidate_over_baseline": cand / base}
        rows.append([stage, cand, base, cand / base])
    print_table(f"median ms per frame at {args.size}, candidate on {backends['candidate']}, baseline on {backends['baseline']}, {args.threads} threads", ["stage", "candidate", "baseline", "ratio"], rows)
    write_json(args.out, {"hardware": hardware(), "models": models, "size": [height, width], "backends": backends,
                          "threads": args.threads, "trials": args.trials, "stages": stages})
    return 0


if __name__ == "__main__":
    sys.exit(main())
