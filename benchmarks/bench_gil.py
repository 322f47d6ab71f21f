"""Which backends give the GIL away during the forward pass: each alone, then beside a Python thread.

    .venv/bin/python benchmarks/bench_gil.py --out benchmarks/results/gil/gil.json

The node runs inference on its own threads while its executor and publisher run Python. A
backend that takes the GIL back between ops waits for those threads at every op (up to
`sys.getswitchinterval()`, 5 ms, each time). Here one thread runs the bundled network at its
input size, on one torch thread as each of the node's inference workers does, while a second
thread counts in pure Python. Reported per backend, in one run: passes/s beside the counter
over passes/s alone, and the counter's rate over its rate alone. Eager torch versus a backend
whose forward pass runs without the GIL (issue 16). Then whole frames the same way:
`Engine.predict` on a `--camera` frame, where the torchscript engine also runs pre- and
post-processing as one traced graph (runtime/frame_graphs.py).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import hardware, print_table, write_json  # noqa: E402

import numpy as np  # noqa: E402

from mtl_perception.runtime import Engine, default_model_path, load_artifact  # noqa: E402
from mtl_perception.runtime.backends import make_backend  # noqa: E402

BACKENDS = ("torch_channels_last", "torchscript")


def count_until(stop: threading.Event, counts: list[int]) -> None:
    n = 0
    while not stop.is_set():
        n += 1
    counts.append(n)


def counter_rate(seconds: float) -> float:
    stop, counts = threading.Event(), []
    thread = threading.Thread(target=count_until, args=(stop, counts))
    thread.start()
    time.sleep(seconds)
    stop.set()
    thread.join()
    return counts[0] / seconds


def passes_per_second(run, seconds: float, beside_counter: bool) -> tuple[float, float]:
    """(forward passes/s, counter increments/s; 0 without the counter) over `seconds`."""
    stop, counts = threading.Event(), []
    thread = threading.Thread(target=count_until, args=(stop, counts))
    passes, start = 0, time.perf_counter()
    if beside_counter:
        thread.start()
    while time.perf_counter() - start < seconds:
        run()
        passes += 1
    elapsed = time.perf_counter() - start
    if beside_counter:
        stop.set()
        thread.join()
    return passes / elapsed, (counts[0] / elapsed if counts else 0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="deploy artifact (default: bundled model)")
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--trials", type=int, default=3, help="alternating trials; medians reported")
    parser.add_argument("--camera", default="480x640", help="camera frame HxW for the Engine.predict rows")
    parser.add_argument("--out")
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    torch.set_num_threads(1)  # one torch thread, as each of the node's inference workers on 2 cores
    model, meta = load_artifact(args.model or default_model_path())
    size = (meta.input_height, meta.input_width)
    image = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(0))
    height, width = (int(v) for v in args.camera.split("x"))
    rgb = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    backends = {name: make_backend(name, model, torch.device("cpu"), size) for name in BACKENDS}
    runs = {f"network, {name}": (lambda b=b: b(image)) for name, b in backends.items()}
    for name in BACKENDS:
        engine = Engine(model, meta, device="cpu", backend=name)
        runs[f"Engine.predict {height}x{width}, {name}"] = lambda e=engine: e.predict(rgb)
    counter_alone = statistics.median(counter_rate(args.seconds) for _ in range(args.trials))
    results: dict[str, dict] = {}
    with torch.inference_mode():
        samples = {name: {"alone": [], "beside": [], "counter": []} for name in runs}
        for _ in range(args.trials):  # alternate, so load drift hits every variant alike
            for name, run in runs.items():
                run()
                samples[name]["alone"].append(passes_per_second(run, args.seconds, False)[0])
                fps, count = passes_per_second(run, args.seconds, True)
                samples[name]["beside"].append(fps)
                samples[name]["counter"].append(count / counter_alone)
    for name, sample in samples.items():
        alone, beside = statistics.median(sample["alone"]), statistics.median(sample["beside"])
        results[name] = {"passes_per_s_alone": alone, "passes_per_s_beside_python": beside, "beside_over_alone": beside / alone,
                         "python_thread_over_alone": statistics.median(sample["counter"]), "trials": sample}
    rows = [[n, r["passes_per_s_alone"], r["passes_per_s_beside_python"], r["beside_over_alone"], r["python_thread_over_alone"]]
            for n, r in results.items()]
    print_table(f"Network passes at {size[0]}x{size[1]} and whole frames, one torch thread, beside a pure-Python thread",
                ["what runs", "passes/s alone", "beside Python", "ratio", "Python thread's rate over alone"], rows)
    write_json(args.out, {"hardware": hardware(), "cores": os.cpu_count(), "input_size": list(size), "camera": [height, width],
                          "switch_interval_s": sys.getswitchinterval(), "variants": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
