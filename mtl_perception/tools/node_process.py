"""One launcher for the processes around the node: start with a log, wait until ready, stop, log tail.

Used for the perception node (`python -m mtl_perception.ros.node`) and the synthetic camera by the
demo, replay-eval and bench_node. Each child gets its own session, so a stop reaches its threads.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

NODE_MODULE = "mtl_perception.ros.node"
CAMERA_MODULE = "mtl_perception.tools.synthetic_camera"


class ProcessError(RuntimeError):
    """A child process exited or did not become ready; the message ends with its log tail."""


def ros_command(module: str, *, namespace: str = "", node_name: str = "", params: Mapping[str, Any] | None = None,
                remaps: Mapping[str, str] | None = None) -> list[str]:
    """`python -m module --ros-args ...` with namespace, node name, remappings and parameters."""
    command = [sys.executable, "-m", module, "--ros-args"]
    if node_name:
        command += ["-r", f"__node:={node_name}"]
    if namespace:
        command += ["-r", f"__ns:={namespace}"]
    for name, value in (params or {}).items():
        command += ["-p", f"{name}:={value}"]
    for source, target in (remaps or {}).items():
        command += ["-r", f"{source}:={target}"]
    return command


def parse_params(items: Sequence[str]) -> dict[str, str]:
    """['name:=value', ...] -> {name: value}."""
    params = {}
    for item in items:
        name, sep, value = item.partition(":=")
        if not sep:
            raise ValueError(f"a node parameter takes NAME:=VALUE, got {item!r}")
        params[name] = value
    return params


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class ManagedProcess:
    """A child process writing stdout and stderr to `log_path`."""

    def __init__(self, name: str, command: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(list(command), env=dict(env if env is not None else os.environ), stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 20) -> str:
        return log_tail(self.log_path, lines)

    def failure(self, why: str) -> ProcessError:
        return ProcessError(f"the {self.name} {why}; its log ({self.log_path}):\n{self.tail()}")

    def wait_until(self, ready: Callable[[], bool], timeout: float, *, what: str = "ready", interval: float = 0.1) -> float:
        """Poll `ready` until true; raise ProcessError if the process exits or `timeout` passes. Returns seconds waited."""
        start = time.monotonic()
        while not ready():
            if not self.alive():
                raise self.failure(f"exited with code {self.returncode} before it was {what}")
            if time.monotonic() - start > timeout:
                raise self.failure(f"was not {what} after {timeout:g} s")
            time.sleep(interval)
        return time.monotonic() - start

    def stop(self, timeout: float = 10.0) -> None:
        """SIGINT (a clean rclpy shutdown) to the process group, then SIGKILL after `timeout`."""
        if not self.alive():
            return
        self._signal(signal.SIGINT)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.process.wait(timeout=timeout)

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass

    def __enter__(self) -> "ManagedProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_node(log_path: Path, *, namespace: str, params: Mapping[str, Any], remaps: Mapping[str, str] | None = None,
               node_name: str = "", env: Mapping[str, str] | None = None) -> ManagedProcess:
    """The perception node in its own process."""
    command = ros_command(NODE_MODULE, namespace=namespace, node_name=node_name, params=params, remaps=remaps)
    return ManagedProcess("node", command, log_path, env)
