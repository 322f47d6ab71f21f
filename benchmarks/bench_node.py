"""Node overhead over real DDS (loopback): node throughput vs bare Engine.predict, latency, breakdown.

    .venv/bin/python benchmarks/bench_node.py --out benchmarks/results/node.json

The node runs in its own process, as on a robot (`python -m mtl_perception.ros.node`). This
process is the camera and the consumer: it publishes frames and subscribes to
segmentation/labels, depth/image and normals/image. Both sides use serialised messages
(`publish(bytes)`, `raw=True`) and read only the header stamp, so the benchmark's own Python
work costs as little CPU as possible on the cores it shares with the node. Every byte still
crosses DDS, and the node does all of its normal work.

Bare-engine rounds (in this process, node idle) alternate with node rounds, and medians are
compared. Each node variant is its own node process; variants differ only in environment
(OpenMP's wait policy), so they are compared side by side in one run. Node and client CPU use
(cores busy, from /proc) show how much of the machine the DDS path takes from the network.

Targets (issue 7): node throughput ≥ 0.85× bare-engine throughput at 288×384 on CPU;
latency p95 ≤ 1.5× p50 at a steady input rate below capacity. Reported, not asserted.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

# DDS stays on loopback, on a private domain, before rclpy is imported anywhere.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", "91")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import compare, engine_stages, hardware, print_table, write_json  # noqa: E402

OUTPUT_TOPICS = ("segmentation/labels", "depth/image", "normals/image")
LAST_OUTPUT = "normals/image"  # the node publishes it last for each frame
CDR_STAMP_OFFSET = 4  # after the 4-byte encapsulation header: Header.stamp.sec (int32), .nanosec (uint32)
NODE_VARIANTS = {
    "node": {},
    "node, OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "node, 1 torch thread": {"OMP_NUM_THREADS": "1"},

}


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Arrivals:
    """Arrival time of each output, by stamp (nanosec) and topic; thread-safe."""

    times: dict[str, dict[int, float]] = field(default_factory=lambda: {t: {} for t in OUTPUT_TOPICS})
    cond: threading.Condition = field(default_factory=threading.Condition)

    def callback(self, topic: str):
        box = self.times[topic]

        def on_raw(data: bytes) -> None:
            _sec, nanosec = struct.unpack_from("<iI", data, CDR_STAMP_OFFSET)
            with self.cond:
                box[nanosec] = time.monotonic()
                self.cond.notify_all()

        return on_raw

    def complete(self) -> int:
        return len(self.times[LAST_OUTPUT])

    def wait_for(self, predicate, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout=timeout)

    def clear(self) -> None:
        with self.cond:
            for box in self.times.values():
                box.clear()


class Client:
    """Publisher of serialised frames with unique stamps, and raw subscribers to the outputs."""

    def __init__(self, rclpy_node, namespace: str, serialized_frames: list[bytes]) -> None:
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.frames = [bytearray(f) for f in serialized_frames]
        self.publisher = rclpy_node.create_publisher(Image, f"{namespace}/image", qos)
        self.arrivals = Arrivals()
        self.subscriptions = [
            rclpy_node.create_subscription(Image, f"{namespace}/{t}", self.arrivals.callback(t), qos, raw=True) for t in OUTPUT_TOPICS
        ]
        self.sent: dict[int, float] = {}
        self.next_stamp = 1

    def connected(self) -> bool:
        return self.publisher.get_subscription_count() > 0 and all(s.get_publisher_count() > 0 for s in self.subscriptions)

    def publish(self) -> int:
        stamp = self.next_stamp
        self.next_stamp += 1
        frame = self.frames[stamp % len(self.frames)]
        struct.pack_into("<iI", frame, CDR_STAMP_OFFSET, 1, stamp)
        self.sent[stamp] = time.monotonic()
        self.publisher.publish(bytes(frame))
        return stamp

    def throughput_round(self, frames: int, in_flight: int) -> float:
        """Outputs/s with about `in_flight` frames queued: the node never idles, DDS is never flooded.

        A new frame goes out each time an output arrives; a frame the node's one-slot buffer
        replaced yields no output, so a short timeout sends the next one anyway.
        """
        self.arrivals.clear()
        start = time.monotonic()
        for _ in range(in_flight):
            self.publish()
        for _ in range(frames - in_flight):
            seen = self.arrivals.complete()
            self.arrivals.wait_for(lambda: self.arrivals.complete() > seen, 0.5)
            self.publish()
        self.arrivals.wait_for(lambda: self.arrivals.complete() >= frames, 2.0)
        done = self.arrivals.times[LAST_OUTPUT]
        return len(done) / (max(done.values()) - start)

    def steady_round(self, frames: int, rate_hz: float) -> tuple[list[float], float]:
        """Open loop at a fixed rate: latency = last output's arrival − publish time; delivered fraction."""
        self.arrivals.clear()
        period = 1.0 / rate_hz
        stamps = []
        next_time = time.monotonic()
        for _ in range(frames):
            stamps.append(self.publish())
            next_time += period
            time.sleep(max(0.0, next_time - time.monotonic()))
        self.arrivals.wait_for(lambda: self.arrivals.complete() >= frames, 5.0)
        done = self.arrivals.times[LAST_OUTPUT]
        latencies = [(done[s] - self.sent[s]) * 1e3 for s in stamps if s in done]
        return latencies, len(latencies) / frames


def start_node(model: str, backend: str, namespace: str, extra_env: dict[str, str], log: Path) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "mtl_perception.ros.node", "--ros-args",
        "-r", f"__ns:={namespace}",
        "-p", f"model_path:={model}",
        "-p", "device:=cpu",
        "-p", f"backend:={backend}",
        "-p", "input_qos:=reliable",
        "-p", "input_qos_depth:=1",
        "-p", "diagnostics_period:=0.5",
    ]  # fmt: skip
    env = dict(os.environ, **extra_env)
    return subprocess.Popen(command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def stop_node(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(2)  # SIGINT: a clean rclpy shutdown
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class NodeInference:
    """Latest inference p50 each node reports on /diagnostics (Engine.predict inside the node)."""

    def __init__(self, rclpy_node) -> None:
        from diagnostic_msgs.msg import DiagnosticArray

        from mtl_perception.ros.diagnostics import values_of

        self.p50_ms: dict[str, float] = {}

        def on_diagnostics(msg) -> None:
            values = values_of(msg)
            if msg.status and "inference_ms_p50" in values:
                self.p50_ms[msg.status[0].name] = float(values["inference_ms_p50"])

        self.subscription = rclpy_node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)

    def for_namespace(self, namespace: str) -> float:
        return next((v for k, v in self.p50_ms.items() if namespace in k), float("nan"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="deploy artifact (default: bundled model)")
    parser.add_argument("--size", default="288x384", help="camera frame HxW")
    parser.add_argument("--frames", type=int, default=120, help="frames per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--in-flight", type=int, default=2, help="frames queued ahead of the node in throughput rounds")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--steady-fractions", default="0.25,0.5", help="steady input rates, as fractions of measured capacity")
    parser.add_argument("--logs", default="", help="directory for the node processes' logs (default: a new temporary one)")
    parser.add_argument("--out")
    args = parser.parse_args()
    height, width = (int(v) for v in args.size.split("x"))

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import Image

    from mtl_perception.data import Camera, render_sequence
    from mtl_perception.ros.image_codec import fill_image, float_to_rgb8, image_to_rgb
    from mtl_perception.runtime import default_model_path, load_engine

    model = args.model or str(default_model_path())
    frames = [float_to_rgb8(f.image) for f in render_sequence(0, 8, Camera.default(height, width))]
    messages = []
    for rgb in frames:
        msg = Image()
        msg.header.frame_id = "camera_optical_frame"
        fill_image(msg, rgb, "rgb8")
        messages.append(msg)
    engine = load_engine(model, device="cpu", backend=args.backend)
    logs = Path(args.logs or tempfile.mkdtemp(prefix="bench_node_"))
    logs.mkdir(parents=True, exist_ok=True)
    namespaces = {name: f"/bench{i}" for i, name in enumerate(NODE_VARIANTS)}
    processes = {
        name: start_node(model, engine.backend_name, namespaces[name], env, logs / f"node{i}.log")
        for i, (name, env) in enumerate(NODE_VARIANTS.items())
    }

    rclpy.init()
    client_node = rclpy.create_node("bench_client")
    clients = {name: Client(client_node, namespaces[name], [serialize_message(m) for m in messages]) for name in NODE_VARIANTS}
    diagnostics = NodeInference(client_node)
    executor = SingleThreadedExecutor()
    executor.add_node(client_node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    results: dict[str, dict] = {}
    try:
        deadline = time.monotonic() + 120.0
        while not all(c.connected() for c in clients.values()):
            dead = [n for n, p in processes.items() if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise SystemExit(f"node(s) {dead or list(processes)} did not come up; see {logs}")
            time.sleep(0.1)
        for client in clients.values():  # warm-up: a few frames end to end
            for _ in range(5):
                stamp = client.publish()
                client.arrivals.wait_for(lambda c=client, s=stamp: s in c.arrivals.times[LAST_OUTPUT], 30.0)

        def bare_round() -> float:
            start = time.monotonic()
            for k in range(args.frames):
                engine.predict(frames[k % len(frames)])
            return args.frames / (time.monotonic() - start)

        # Rounds alternate so load drift hits every variant alike; medians are compared.
        samples: dict[str, list[float]] = {"bare": [], **{name: [] for name in NODE_VARIANTS}}
        cpu: dict[str, list[tuple[float, float]]] = {name: [] for name in NODE_VARIANTS}
        for _ in range(args.rounds):
            samples["bare"].append(bare_round())
            for name, client in clients.items():
                node_cpu, own_cpu, start = cpu_seconds(processes[name].pid), own_cpu_seconds(), time.monotonic()
                samples[name].append(client.throughput_round(args.frames, args.in_flight))
                elapsed = time.monotonic() - start
                cpu[name].append(((cpu_seconds(processes[name].pid) - node_cpu) / elapsed, (own_cpu_seconds() - own_cpu) / elapsed))
        bare_fps = statistics.median(samples["bare"])
        for name, client in clients.items():
            node_fps = statistics.median(samples[name])
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
            results[name] = {
                "fps": node_fps,
                "fps_rounds": samples[name],
                "node_over_bare": node_fps / bare_fps,
                "steady_latency": steady,
                "node_cpu_cores": statistics.median(c[0] for c in cpu[name]),
                "client_cpu_cores": statistics.median(c[1] for c in cpu[name]),
                "node_inference_ms_p50": diagnostics.for_namespace(namespaces[name]),
                "env": NODE_VARIANTS[name],
            }
    finally:
        executor.shutdown(timeout_sec=5.0)
        spinner.join(timeout=10.0)
        client_node.destroy_node()
        rclpy.try_shutdown()
        for process in processes.values():
            stop_node(process)

    # What the node adds around Engine.predict, per stage, on the same frames (this process).
    rgb, msg = frames[0], messages[0]
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
                for m in (_image(pred.segmentation, "mono8"), _image(pred.depth, "32FC1"), _image(pred.normals, "32FC3"))
            ],
        },
        trials=20,
    )
    engine_breakdown = engine_stages(engine, rgb, (height, width), trials=20)
    all_stages = {**stages, **engine_breakdown}

    print(f"hardware: {hardware()}  cores: {os.cpu_count()}\nmodel: {model}  backend: {engine.backend_name}  frames {height}x{width}")
    print(f"bare Engine.predict: {bare_fps:.1f} frames/s (rounds {', '.join(f'{v:.1f}' for v in samples['bare'])})")
    print_table(
        f"Node over DDS vs bare engine at {height}x{width} ({args.in_flight} frames in flight)",
        ["variant", "frames/s", "node / bare (≥ 0.85)", "node CPU cores", "client CPU cores", "node predict p50 ms"],
        [
            [name, r["fps"], r["node_over_bare"], r["node_cpu_cores"], r["client_cpu_cores"], r["node_inference_ms_p50"]]
            for name, r in results.items()
        ],
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
    write_json(
        args.out,
        {
            "hardware": hardware(),
            "cores": os.cpu_count(),
            "size": [height, width],
            "backend": engine.backend_name,
            "frames_per_round": args.frames,
            "in_flight": args.in_flight,
            "bare_fps": bare_fps,
            "bare_fps_rounds": samples["bare"],
            "nodes": results,
            "breakdown_ms": {n: t.median_ms for n, t in all_stages.items()},
        },
    )
    return 0


def _image(array: np.ndarray, encoding: str):
    from sensor_msgs.msg import Image

    from mtl_perception.ros.image_codec import fill_image

    msg = Image()
    fill_image(msg, array, encoding)
    return msg


if __name__ == "__main__":
    sys.exit(main())
