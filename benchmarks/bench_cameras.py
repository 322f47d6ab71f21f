"""One node serving N cameras against N single-camera node processes, over real DDS (loopback).

    .venv/bin/python benchmarks/bench_cameras.py --cameras 1 2 4 --size 480x640 --out benchmarks/results/cameras/cameras_480x640.json

For each N, two set-ups run one after the other on the same machine: one node process with
`cameras: [cam0, ..., camN-1]` (one model, frames of one size batched), and N node processes
with one camera each (N models). This process is every camera and every consumer (all image
outputs subscribed, as bench_node.py's client does). Per set-up:

- capacity: every camera sends open loop at the bare engine's single-frame rate (so together N
  times what one engine serves), never waiting; total outputs/s, and each camera's share of them
  against a fair 1/N;
- latency: every camera at a steady rate, together 50 % of that capacity; each camera's p50 and
  p95 (publish -> last output) and the fraction of its frames delivered;
- memory: the node processes' RSS (summed over the N processes) after the rounds.

Targets (issue 30; reported, not asserted): with 4 cameras, one node's total throughput
>= 1.3x the 4 nodes'; every camera >= 90 % of its fair share; p95/p50 <= 1.5 per camera at 50 %
of capacity; RSS <= 0.4x the 4 nodes' total. With 1 camera, no regression against today's node.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from mtl_perception.metrics import percentile
from mtl_perception.ros.middleware import use_node_profile
from mtl_perception.ros.params import backend_for
from mtl_perception.runtime.serving import keep_frame_buffers_in_heap
from mtl_perception.tools.env import loopback_env

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import hardware, print_table, write_json  # noqa: E402
from node_client import Client, camera_frames  # noqa: E402
from node_suites import ALL_IMAGE_OUTPUTS, Variant, launch_node  # noqa: E402

CLIENT_VARIANT = Variant(outputs=ALL_IMAGE_OUTPUTS)
SETUPS = ("one node", "one node per camera")
# Frames sent by every camera at once before measuring: the first batch of each size traces a
# whole-frame graph (about a second), which would otherwise fall inside the capacity round.
WARMUP_ROUNDS = 8


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, nargs="+", default=[1, 2, 4], help="camera counts to measure")
    parser.add_argument("--size", default="480x640", help="camera frame HxW")
    parser.add_argument("--frames", type=int, default=60, help="frames per camera per round")
    parser.add_argument("--batch-window-ms", type=float, default=5.0, help="the one node's batch_window_ms")
    parser.add_argument("--model", help="deploy artifact (default: bundled model)")
    parser.add_argument("--backend", default=backend_for("auto")[0], help="every node's backend (default: what backend auto runs)")
    parser.add_argument("--logs", default="", help="directory for the node logs (default: a new temporary one)")
    parser.add_argument("--out")
    return parser.parse_args(argv)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@contextmanager
def camera_clients(namespaces: list[str], messages: list) -> Iterator[list[Client]]:
    """One Client per camera namespace on one rclpy node, spinning on a thread, warmed up end to end."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.serialization import serialize_message

    rclpy.init()
    node = rclpy.create_node("bench_cameras_client")
    raw = [serialize_message(m) for m in messages]
    clients = [Client(node, namespace, raw, None, CLIENT_VARIANT) for namespace in namespaces]
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        deadline = time.monotonic() + 120.0
        while not all(client.connected() for client in clients):
            if time.monotonic() > deadline:
                raise RuntimeError("the node(s) did not connect within 120 s")
            time.sleep(0.2)
        for _ in range(WARMUP_ROUNDS):  # every camera at once: the node traces its graph for each batch size here
            stamps = [client.publish() for client in clients]
            for client, stamp in zip(clients, stamps):
                client.wait_output(stamp, 30.0)
        yield clients
    finally:
        executor.shutdown(timeout_sec=5.0)
        spinner.join(timeout=10.0)
        node.destroy_node()
        rclpy.try_shutdown()


def together(clients: list[Client], run: Callable[[Client], object]) -> list:
    """`run(client)` for every camera at once, each on its own thread (cameras do not take turns)."""
    with ThreadPoolExecutor(len(clients)) as pool:
        return list(pool.map(run, clients))


def measure_setup(setup: str, cameras: int, args: argparse.Namespace, model: str, messages: list, bare_fps: float, logs: Path) -> dict:
    names = [f"cam{i}" for i in range(cameras)]
    if setup == "one node":
        params = {"cameras": f"[{','.join(names)}]", "batch_window_ms": args.batch_window_ms}
        processes = [launch_node(model, args.backend, f"/mc{cameras}", Variant(params=params), logs / f"mc{cameras}.log", None)]
        namespaces = [f"/mc{cameras}/{name}" for name in names]
    else:
        processes = [launch_node(model, args.backend, f"/sc{cameras}_{i}", Variant(), logs / f"sc{cameras}_{i}.log", None) for i in range(cameras)]
        namespaces = [f"/sc{cameras}_{i}" for i in range(cameras)]
    try:
        with camera_clients(namespaces, messages) as clients:
            served = together(clients, lambda client: client.camera_round(args.frames, bare_fps))
            total = bare_fps * sum(served)  # each camera sent `frames` at bare_fps: outputs/s = rate × fraction served
            steady_rate = 0.5 * total / cameras
            steady = together(clients, lambda client: client.steady_round(args.frames, steady_rate))
            rss = sum(rss_mb(process.pid) for process in processes)
    finally:
        for process in processes:
            process.stop()
    per_camera = []
    for name, fraction, (latencies, delivered) in zip(names, served, steady):
        p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
        per_camera.append({"camera": name, "capacity_outputs_per_s": bare_fps * fraction, "fair_share": fraction / (sum(served) / cameras),
                           "steady_rate_hz": steady_rate, "p50_ms": p50, "p95_ms": p95, "p95_over_p50": p95 / p50, "delivered_fraction": delivered})
    return {"setup": setup, "cameras": cameras, "offered_hz_per_camera": bare_fps, "total_outputs_per_s": total,
            "rss_mb": rss, "per_camera": per_camera}


def bare_engine_fps(model: str, backend: str, frames: list, rounds: int = 3, per_round: int = 30) -> float:
    """One engine, one frame at a time, in this process (the node idle): the single-camera capacity."""
    from mtl_perception.runtime import load_engine

    engine = load_engine(model, device="cpu", backend=backend)
    for index in range(10):
        engine.predict(frames[index % len(frames)])
    rates = []
    for _ in range(rounds):
        start = time.monotonic()
        for index in range(per_round):
            engine.predict(frames[index % len(frames)])
        rates.append(per_round / (time.monotonic() - start))
    engine.close()
    return statistics.median(rates)


def report(results: list[dict]) -> None:
    rows = []
    for cameras in sorted({r["cameras"] for r in results}):
        one, many = (next(r for r in results if r["cameras"] == cameras and r["setup"] == setup) for setup in SETUPS)
        for r in (one, many):
            worst_share = min(c["fair_share"] for c in r["per_camera"])
            worst_ratio = max(c["p95_over_p50"] for c in r["per_camera"])
            rows.append([cameras, r["setup"], r["total_outputs_per_s"], r["total_outputs_per_s"] / many["total_outputs_per_s"],
                         worst_share, worst_ratio, min(c["delivered_fraction"] for c in r["per_camera"]), r["rss_mb"], r["rss_mb"] / many["rss_mb"]])
    print_table("One node serving N cameras vs one node per camera (all image outputs subscribed)",
                ["cameras", "set-up", "total outputs/s", "vs N nodes (≥ 1.3 at 4)", "worst camera / fair share (≥ 0.9)",
                 "worst p95/p50 at 50 % (≤ 1.5)", "worst delivered at 50 %", "RSS MB", "RSS vs N nodes (≤ 0.4 at 4)"], rows)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    loopback_env(default_domain_id="92")  # DDS on loopback, on a private domain, before rclpy starts
    keep_frame_buffers_in_heap()
    print(use_node_profile())
    height, width = (int(v) for v in args.size.split("x"))
    from mtl_perception.runtime import default_model_path

    model = args.model or str(default_model_path())
    frames, messages = camera_frames(height, width)
    bare_fps = bare_engine_fps(model, args.backend, frames)
    print(f"bare engine: {bare_fps:.1f} frames/s at {height}x{width} ({args.backend}); every camera offers this rate in the capacity round")
    logs = Path(args.logs or tempfile.mkdtemp(prefix="bench_cameras_"))
    results = [measure_setup(setup, cameras, args, model, messages, bare_fps, logs) for cameras in args.cameras for setup in SETUPS]
    report(results)
    write_json(args.out, {"hardware": hardware(), "cores": os.cpu_count(), "size": [height, width], "backend": args.backend,
                          "frames_per_camera_per_round": args.frames, "batch_window_ms": args.batch_window_ms,
                          "bare_fps": bare_fps, "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
