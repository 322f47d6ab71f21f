"""Node overhead over real DDS (loopback): node throughput vs bare Engine.predict, latency, breakdown.

    .venv/bin/python benchmarks/bench_node.py --out benchmarks/results/node/node.json

The node runs in its own process, as on a robot (`python -m mtl_perception.ros.node`). This
process is the camera and the consumer: it publishes frames and subscribes to
segmentation/labels, depth/image and normals/image. Both sides use serialised messages
(`publish(bytes)`, `raw=True`) and read only the header stamp, so the benchmark's own Python
work costs as little CPU as possible on the cores it shares with the node. Every byte still
crosses DDS, and the node does all of its normal work.

Bare-engine rounds (in this process, node idle) alternate with node rounds, and medians are
compared. Both run the backend the node's `backend: auto` picks, and this process takes the
node's heap settings, so the two compare like for like. It also takes the node's Fast DDS
profile (ros/middleware.py), which sizes the shared memory that carries its frames in. A throughput round keeps `--in-flight`
frames outstanding, at least half a bare frame time apart (as from a camera at up to twice
the engine's rate); a frame the node dropped counts as finished once a newer one completes.
That loop waits for outputs before it sends, so the frames' round trip through DDS bounds it:
at 480×640 the node's workers sat waiting for input while the node used under one of its two
cores. A camera round follows each throughput round: frames at the bare engine's rate of that
round, never waiting for the node (which drops what it cannot take, newest wins), as a robot's
camera sends them; the fraction of its frames the node serves is the node at the engine's
speed (node outputs/s over bare).
Each node variant is its own node process; variants differ only in environment, parameters
and what the client sends and takes, so they are compared side by side in one run. Node and client CPU use
(cores busy, from /proc) show how much of the machine the DDS path takes from the network.

Targets (issue 7): node throughput ≥ 0.85× bare-engine throughput at 288×384 on CPU;
latency p95 ≤ 1.5× p50 at a steady input rate below capacity. Reported, not asserted.

`--suite` picks the node variants run side by side (SUITES): `threads` (OpenMP settings; the
node sets its own wait policy, so the plain variant has `ros2 run` semantics), `outputs`
(issue 16: raw or jpeg input, every image output or only labels + depth subscribed),
`publication` (issue 16: Fast DDS's synchronous and asynchronous publication modes), `workers`
(issue 16: the default two inference workers or one, with every output subscribed),
`middleware` (issue 16: the node's Fast DDS profile or Fast DDS's defaults) and `points`
(issue 17: camera_info with every frame, without and with a `points` subscriber; target ≤ 15 % extra node CPU per frame at 480×640: `--suite points --size 480x640`).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from mtl_perception.metrics import percentile
from mtl_perception.ros.middleware import use_node_profile
from mtl_perception.ros.params import backend_for
from mtl_perception.runtime.serving import keep_frame_buffers_in_heap
from mtl_perception.tools.env import loopback_env
from mtl_perception.tools.node_process import ManagedProcess
from mtl_perception.tools.recorder import NodeDiagnostics

# Beside this script: the suites, node processes and /proc CPU readers (node_suites.py), the camera and
# consumer (node_client.py), the timing and table helpers (harness.py).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import compare, engine_stages, hardware, print_table, write_json  # noqa: E402
from node_client import Client, camera_frames, camera_info_msg, compressed_message, extra_outputs, image_msg  # noqa: E402
from node_suites import SUITES, Variant, cpu_during, launch_node  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="deploy artifact (default: bundled model)")
    parser.add_argument("--size", default="288x384", help="camera frame HxW")
    parser.add_argument("--frames", type=int, default=120, help="frames per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--in-flight", type=int, default=3,
                        help="frames outstanding in throughput rounds (3: one per inference worker and one being published)")
    parser.add_argument("--backend", default=backend_for("auto")[0],
                        help="engine backend of node and bare rounds alike (default: what the node's `backend: auto` runs; "
                             "`auto` here measures them and takes the fastest)")
    parser.add_argument("--steady-fractions", default="0.25,0.5", help="steady input rates, as fractions of measured capacity")
    parser.add_argument("--logs", default="", help="directory for the node processes' logs (default: a new temporary one)")
    parser.add_argument("--suite", choices=sorted(SUITES), default="threads",
                        help="node variants side by side: threads (OpenMP settings), outputs (raw/jpeg input, all or "
                             "labels + depth subscribed; issue 16), publication (Fast DDS sync/async; issue 16), workers (2 or 1 inference "
                             "workers, all outputs; issue 16), middleware (node's Fast DDS profile or Fast DDS defaults; issue 16), backends (torchscript or eager channels_last; issue 16), points (without/with a points subscriber; issue 17)")
    parser.add_argument("--profile", default="", help="directory: run each node under py-spy (every thread, idle included) "
                        "and write its raw samples there; CPU figures then include py-spy and are not comparable")
    parser.add_argument("--out")
    return parser.parse_args()


@contextmanager
def clients_of(processes: dict[str, ManagedProcess], namespaces: dict[str, str], variants: dict[str, Variant], messages: list,
               info) -> Iterator[tuple[dict, dict]]:
    """A client (and a diagnostics listener) per node variant, spinning on a thread, once every node is up."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.serialization import serialize_message

    rclpy.init()
    client_node = rclpy.create_node("bench_client")
    raw = [serialize_message(m) for m in messages]
    jpeg = [serialize_message(compressed_message(m)) for m in messages]
    info_bytes = serialize_message(info)
    clients = {name: Client(client_node, namespaces[name], jpeg if variants[name].compressed else raw, info_bytes, variants[name])
               for name in processes}
    diagnostics = {name: NodeDiagnostics(client_node, namespaces[name]) for name in processes}
    executor = SingleThreadedExecutor()
    executor.add_node(client_node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        for name, process in processes.items():
            process.wait_until(clients[name].connected, 120.0, what="connected")
        for client in clients.values():  # warm-up: a few frames end to end
            for _ in range(5):
                client.wait_output(client.publish(), 30.0)
        yield clients, diagnostics
    finally:
        executor.shutdown(timeout_sec=5.0)
        spinner.join(timeout=10.0)
        client_node.destroy_node()
        rclpy.try_shutdown()


@dataclass
class RoundLog:
    """One node variant's rounds: closed-loop outputs/s, and CPU use over those rounds; the camera rounds alike."""

    fps: list[float] = field(default_factory=list)
    cpu: list[tuple[float, float]] = field(default_factory=list)  # (node cores, client cores)
    threads: list[dict[str, float]] = field(default_factory=list)  # ms per frame, per thread group
    camera_served: list[float] = field(default_factory=list)  # fraction of a camera's frames at the bare rate
    camera_cpu: list[tuple[float, float]] = field(default_factory=list)


def throughput_rounds(args: argparse.Namespace, engine, frames: list[np.ndarray], clients: dict, processes: dict) -> tuple[list[float], dict]:
    """Bare-engine and node rounds, alternating so load drift hits every variant alike: bare fps, and a RoundLog per variant.

    Each node round is closed loop (`--in-flight` frames outstanding) and then a camera at the
    bare engine's rate of that round: the node at the engine's speed.
    """

    def bare_round() -> float:
        start = time.monotonic()
        for k in range(args.frames):
            engine.predict(frames[k % len(frames)])
        return args.frames / (time.monotonic() - start)

    for k in range(10):  # the first calls at a new camera size are slow; unwarmed, the first bare round read 25-40 % low
        engine.predict(frames[k % len(frames)])
    bare: list[float] = []
    logs = {name: RoundLog() for name in clients}
    for _ in range(args.rounds):
        bare.append(bare_round())
        for name, client in clients.items():
            log, pid = logs[name], processes[name].pid
            fps, elapsed, cores, per_thread = cpu_during(pid, lambda: client.throughput_round(args.frames, args.in_flight, 0.5 / bare[-1]))
            log.fps.append(fps)
            log.cpu.append(cores)
            log.threads.append({group: seconds * 1e3 / (fps * elapsed) for group, seconds in per_thread.items()})
            served, _, cores, _ = cpu_during(pid, lambda: client.camera_round(args.frames, bare[-1]))
            log.camera_served.append(served)
            log.camera_cpu.append(cores)
    return bare, logs


def steady_latency(args: argparse.Namespace, client: Client, node_fps: float) -> dict[str, dict]:
    steady = {}
    for fraction in (float(f) for f in args.steady_fractions.split(",")):
        latencies, delivered = client.steady_round(args.frames, node_fps * fraction)
        p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
        steady[f"{fraction:g}"] = {
            "rate_hz": node_fps * fraction,
            "p50_ms": p50,
            "p95_ms": p95,
            "p95_over_p50": p95 / p50,
            "samples": len(latencies),
            "delivered_fraction": delivered,
        }
    return steady


def measure_nodes(args: argparse.Namespace, model: str, engine, frames: list[np.ndarray], messages: list, info) -> tuple[dict, list[float]]:
    """Every node variant in its own process: throughput, CPU, steady latency; returns (results, bare fps rounds)."""
    logs = Path(args.logs or tempfile.mkdtemp(prefix="bench_node_"))
    variants = SUITES[args.suite]
    namespaces = {name: f"/bench{i}" for i, name in enumerate(variants)}
    profiles = Path(args.profile) if args.profile else None
    if profiles is not None:
        profiles.mkdir(parents=True, exist_ok=True)
    processes = {name: launch_node(model, engine.backend_name, namespaces[name], variant, logs / f"node{i}.log",
                                   profiles / f"node{i}.txt" if profiles is not None else None)
                 for i, (name, variant) in enumerate(variants.items())}
    results: dict[str, dict] = {}
    try:
        with clients_of(processes, namespaces, variants, messages, info) as (clients, diagnostics):
            bare_rounds, logs = throughput_rounds(args, engine, frames, clients, processes)
            bare_fps = statistics.median(bare_rounds)
            for name, client in clients.items():
                log = logs[name]
                node_fps = statistics.median(log.fps)
                served = statistics.median(log.camera_served)
                p50 = diagnostics[name].latest().get("inference_ms_p50")
                results[name] = {
                    "fps": node_fps,
                    "fps_rounds": log.fps,
                    "node_over_bare": node_fps / bare_fps,
                    # A camera at the bare rate: outputs/s is the fraction served times that rate.
                    "camera_served_fraction": served,
                    "camera_served_rounds": log.camera_served,
                    "camera_over_bare": served,
                    "camera_node_cpu_cores": statistics.median(c[0] for c in log.camera_cpu),
                    "camera_client_cpu_cores": statistics.median(c[1] for c in log.camera_cpu),
                    "steady_latency": steady_latency(args, client, node_fps),
                    "node_cpu_cores": statistics.median(c[0] for c in log.cpu),
                    "node_cpu_ms_per_frame": statistics.median(c[0] / fps * 1e3 for c, fps in zip(log.cpu, log.fps)),
                    "client_cpu_cores": statistics.median(c[1] for c in log.cpu),
                    "node_thread_cpu_ms_per_frame": {
                        group: statistics.median(r.get(group, 0.0) for r in log.threads) for group in sorted(set().union(*log.threads))
                    },
                    "node_inference_ms_p50": float(p50) if p50 is not None else float("nan"),
                    "env": dict(variants[name].env),
                    "params": dict(variants[name].params),
                    "outputs": list(variants[name].outputs) + (["points"] if variants[name].points else []),
                }
    finally:
        for process in processes.values():
            process.stop()
    return results, bare_rounds


def main() -> int:
    args = parse_args()
    loopback_env(default_domain_id="91")  # DDS on loopback, on a private domain, before rclpy starts
    keep_frame_buffers_in_heap()  # the node's heap settings, so bare rounds compare like for like
    print(use_node_profile())  # the camera side's Fast DDS profile as the node's (it carries the frames in)
    height, width = (int(v) for v in args.size.split("x"))
    from mtl_perception.runtime import default_model_path, load_engine

    model = args.model or str(default_model_path())
    frames, messages = camera_frames(height, width)
    info = camera_info_msg(height, width)
    engine = load_engine(model, device="cpu", backend=args.backend)
    results, bare_rounds = measure_nodes(args, model, engine, frames, messages, info)
    bare_fps = statistics.median(bare_rounds)
    all_stages = breakdown(engine, frames[0], messages[0], height, width, info)
    print_results(args, model, engine, height, width, bare_fps, bare_rounds, results, all_stages)
    write_json(
        args.out,
        {
            "hardware": hardware(),
            "cores": os.cpu_count(),
            "size": [height, width],
            "suite": args.suite,
            "backend": engine.backend_name,
            "frames_per_round": args.frames,
            "in_flight": args.in_flight,
            "bare_fps": bare_fps,
            "bare_fps_rounds": bare_rounds,
            "nodes": results,
            "breakdown_ms": {n: t.median_ms for n, t in all_stages.items()},
        },
    )
    return 0


def breakdown(engine, rgb: np.ndarray, msg, height: int, width: int, info) -> dict:
    """What the node adds around Engine.predict, per stage, on the same frames (this process)."""
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import Image

    from mtl_perception.interop.image import fill_image, image_to_rgb
    from mtl_perception.interop.pointcloud import CloudOptions, prediction_cloud
    from mtl_perception.ros.outputs import cloud_msg

    pred = engine.predict(rgb)
    out = Image()
    stages = compare(
        {
            "Image → numpy (conversion)": lambda: image_to_rgb(msg),
            "numpy → Image (3 outputs)": lambda: [
                fill_image(out, pred.segmentation, "mono8"),
                fill_image(out, pred.depth, "32FC1"),
                fill_image(out, pred.normals, "32FC3"),
            ],
            "serialise 3 outputs (rclpy)": lambda: [
                serialize_message(m)
                for m in (image_msg(pred.segmentation, "mono8"), image_msg(pred.depth, "32FC1"), image_msg(pred.normals, "32FC3"))
            ],
            "outputs beyond labels + depth: build + fill + serialise": lambda: [
                serialize_message(m) for m in extra_outputs(pred, rgb, engine.meta.palette)
            ],
            "points: build + fill + serialise (stride 4)": lambda: serialize_message(cloud_msg(msg.header, prediction_cloud(pred, rgb, info, CloudOptions()))),
        },
        trials=20,
    )
    return {**stages, **engine_stages(engine, rgb, (height, width), trials=20)}


def print_results(args, model: str, engine, height: int, width: int, bare_fps: float, bare_rounds: list[float],
                  results: dict, all_stages: dict) -> None:
    print(f"hardware: {hardware()}  cores: {os.cpu_count()}\nmodel: {model}  backend: {engine.backend_name}  frames {height}x{width}")
    print(f"bare Engine.predict: {bare_fps:.1f} frames/s (rounds {', '.join(f'{v:.1f}' for v in bare_rounds)})")
    print_table(
        f"Node over DDS vs bare engine at {height}x{width} ({args.in_flight} frames in flight)",
        ["variant", "frames/s", "node / bare (≥ 0.85)", "node CPU cores", "node CPU ms/frame", "client CPU cores", "node predict p50 ms"],
        [
            [name, r["fps"], r["node_over_bare"], r["node_cpu_cores"], r["node_cpu_ms_per_frame"], r["client_cpu_cores"], r["node_inference_ms_p50"]]
            for name, r in results.items()
        ],
    )
    print_table(
        f"A camera at the bare engine's rate ({bare_fps:.1f} Hz), never waiting for the node",
        ["variant", "frames served = node / bare (≥ 0.85)", "node CPU cores", "client CPU cores"],
        [
            [name, r["camera_served_fraction"], r["camera_node_cpu_cores"], r["camera_client_cpu_cores"]]
            for name, r in results.items()
        ],
    )
    groups = sorted({g for r in results.values() for g in r["node_thread_cpu_ms_per_frame"]})
    print_table(
        "Node CPU per frame by thread (ms; mtl_inference includes its OpenMP / ONNX Runtime workers)",
        ["variant", *groups],
        [[name, *(r["node_thread_cpu_ms_per_frame"].get(g, 0.0) for g in groups)] for name, r in results.items()],
    )
    print_table(
        "Latency at a steady rate below capacity (publish -> last output received)",
        ["variant", "fraction of capacity", "rate Hz", "p50 ms", "p95 ms", "p95 / p50 (≤ 1.5)", "delivered"],
        [
            [name, fraction, v["rate_hz"], v["p50_ms"], v["p95_ms"], v["p95_over_p50"], v["delivered_fraction"]]
            for name, r in results.items()
            for fraction, v in r["steady_latency"].items()
        ],
    )
    print_table("Breakdown (median ms per frame, this process)", ["stage", "median ms"], [[n, t.median_ms] for n, t in all_stages.items()])


if __name__ == "__main__":
    sys.exit(main())
