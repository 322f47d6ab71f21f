"""bench_node.py's node side: the variants of each suite, one node process per variant, and its CPU use.

A variant is one node process: its environment and parameters, and what the benchmark's client
sends and takes (node_client.py). `launch_node` starts it as `ros2 run` would (optionally under
py-spy); the /proc readers give a process's and its thread groups' CPU time.
"""
from __future__ import annotations

import os
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from mtl_perception.ros.middleware import OPT_OUT_VARIABLE, PROFILE_VARIABLES
from mtl_perception.tools.node_process import NODE_MODULE, ManagedProcess, ros_command, start_node

ARRAY_OUTPUTS = ("segmentation/labels", "depth/image", "normals/image")
ALL_IMAGE_OUTPUTS = ("segmentation/labels", "segmentation/confidence", "segmentation/color", "segmentation/overlay",
                     "depth/image", "normals/image", "normals/color")  # in the node's publishing order


@dataclass(frozen=True)
class Variant:
    """One node process of a suite: its environment and parameters, and what the client sends and takes."""

    env: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, object] = field(default_factory=dict)
    outputs: tuple[str, ...] = ARRAY_OUTPUTS  # subscribed; the last one marks a frame done
    points: bool = False  # also subscribe to points
    camera_info: bool = False  # send camera_info before every frame
    compressed: bool = False  # send jpeg CompressedImage on image/compressed (input_transport: compressed)


SUITES: dict[str, dict[str, Variant]] = {
    # OpenMP settings (issue 7): the node sets the wait policy itself, so "node" is `ros2 run` semantics.
    "threads": {
        "node": Variant(),
        "node, OMP_WAIT_POLICY=ACTIVE": Variant(env={"OMP_WAIT_POLICY": "ACTIVE"}),
        "node, 1 torch thread": Variant(env={"OMP_NUM_THREADS": "1"}),
    },
    # Issue 16: what a robot sends and takes.
    "outputs": {
        "raw, all outputs": Variant(outputs=ALL_IMAGE_OUTPUTS),
        "raw, labels + depth": Variant(outputs=("segmentation/labels", "depth/image")),
        "jpeg, all outputs": Variant(outputs=ALL_IMAGE_OUTPUTS, compressed=True, params={"input_transport": "compressed"}),
    },
    # Issue 16: rclpy's publish holds the GIL through rcl_publish; Fast DDS's synchronous mode
    # sends every fragment inside it, its asynchronous mode queues the sample for its own thread.
    "publication": {
        f"raw, all outputs, {mode}": Variant(outputs=ALL_IMAGE_OUTPUTS, env={"RMW_FASTRTPS_PUBLICATION_MODE": mode})
        for mode in ("SYNCHRONOUS", "ASYNCHRONOUS")
    },
    # Issue 16: two frames at once on one torch thread each (the default on 2 cores) against one frame on two.
    "workers": {
        "raw, all outputs": Variant(outputs=ALL_IMAGE_OUTPUTS),
        "raw, all outputs, 1 inference worker": Variant(outputs=ALL_IMAGE_OUTPUTS, params={"inference_workers": 1}),
    },
    # Issue 16: the node's Fast DDS profile (32 MiB shared-memory segment) against Fast DDS's defaults (512 KiB).
    "middleware": {
        "raw, all outputs": Variant(outputs=ALL_IMAGE_OUTPUTS),
        "raw, all outputs, Fast DDS defaults": Variant(outputs=ALL_IMAGE_OUTPUTS, env={OPT_OUT_VARIABLE: "off"}),
    },
    # Issue 16: the traced network and ONNX Runtime run without the GIL; eager torch takes it back between ops.
    "backends": {
        f"raw, all outputs, {backend}": Variant(outputs=ALL_IMAGE_OUTPUTS, params={"backend": backend})
        for backend in ("onnxruntime", "torchscript", "torch_channels_last")
    },
    # Issue 17: the semantic cloud's cost.
    "points": {
        "node, camera_info": Variant(camera_info=True),
        "node, camera_info + points subscriber": Variant(camera_info=True, points=True),
    },
}


def stat_cpu_seconds(stat: str) -> float:
    """User + system CPU time from a /proc .../stat line (the name in parentheses may hold spaces)."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    return stat_cpu_seconds(Path(f"/proc/{pid}/stat").read_text())


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU time per thread group of a process: threads by OS name, Fast DDS's by kind (dds.udp.7001 -> dds.udp).

    The node names its inference thread (whose OpenMP/ONNX Runtime workers inherit the name) and
    its publisher; the executor and anything unnamed keep the process's name.
    """
    groups: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:  # the thread ended
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        name = ".".join(name.split(".")[:2]) if name.startswith("dds.") else name
        groups[name] = groups.get(name, 0.0) + stat_cpu_seconds(stat)
    return groups


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_during(pid: int, run) -> tuple[object, float, tuple[float, float], dict[str, float]]:
    """`run()`, and what it cost: (its result, seconds, (node cores, client cores), node CPU seconds per thread group)."""
    node_cpu, own_cpu, per_thread, start = cpu_seconds(pid), own_cpu_seconds(), thread_cpu_seconds(pid), time.monotonic()
    result = run()
    elapsed = time.monotonic() - start
    after = thread_cpu_seconds(pid)
    cores = ((cpu_seconds(pid) - node_cpu) / elapsed, (own_cpu_seconds() - own_cpu) / elapsed)
    return result, elapsed, cores, {group: after[group] - per_thread.get(group, 0.0) for group in after}


def launch_node(model: str, backend: str, namespace: str, variant: Variant, log: Path, profile: Path | None) -> ManagedProcess:
    """One node process for `variant` (under py-spy, writing its samples to `profile`, when one is given)."""
    params = {"model_path": model, "device": "cpu", "backend": backend, "input_qos": "reliable", "input_qos_depth": 1,
              "diagnostics_period": 0.5, **variant.params}
    # `ros2 run` semantics: none of this process's thread or middleware settings leak into the node.
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", *PROFILE_VARIABLES)}
    if profile is None:
        return start_node(log, namespace=namespace, params=params, env={**env, **variant.env})
    command = ros_command(NODE_MODULE, namespace=namespace, params=params)
    return ManagedProcess("node (py-spy)", profiled(command, profile), log, {**env, **variant.env})


def profiled(command: list[str], out: Path) -> list[str]:
    """`command` (python -m MODULE ARGS) under `py-spy record`, every thread, idle samples included.

    py-spy cannot read a venv's python symlink here, so the real interpreter runs and adds the
    venv's site-packages itself (with its .pth files, so the editable install resolves).
    """
    import shutil
    import site

    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    module, args = command[2], command[3:]
    boot = (f"import runpy, site, sys; site.addsitedir({site.getsitepackages()[0]!r}); sys.argv[0] = {module!r}; "
            f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)")
    return [spy, "record", "--threads", "--idle", "--rate", "200", "--format", "raw", "-o", str(out), "--",
            os.path.realpath(sys.executable), "-c", boot, *args]
