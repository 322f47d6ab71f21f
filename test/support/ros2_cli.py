"""Running the ros2 tools and the node as a robot user does: processes, output, bounded waits."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]
CLI_TIMEOUT_S = 60.0
# Verbs that would otherwise start a ros2 daemon (a process that outlives the test).
NO_DAEMON_VERBS = {("param", v) for v in ("get", "set", "dump", "load")} | {("lifecycle", v) for v in ("get", "set")} | {("topic", "echo")}
NOT_YET_DISCOVERED = ("Node not found", "Wait for service timed out", "Could not determine the type")
ATTEMPTS = 5


@dataclass(frozen=True)
class Tools:
    env: dict[str, str]
    workspace: Path
    build_log: str

    def ros2(self, *args: str, timeout: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess:
        """One `ros2 ...` command to completion (stdout and stderr together), without a daemon.

        Without the daemon each command discovers the graph itself; a node it has not seen yet
        is "not found", so that answer is retried a few times.
        """
        argv = [str(Path(sys.executable).parent / "ros2"), *args]
        if tuple(args[:2]) in NO_DAEMON_VERBS:
            argv[3:3] = ["--no-daemon", "--spin-time", "2"]
        for _ in range(ATTEMPTS):
            done = subprocess.run(argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout, cwd=self.workspace)
            if not any(text in done.stdout for text in NOT_YET_DISCOVERED):
                return done
        return done

    def start(self, *argv: str) -> "Process":
        return Process(argv, self.env, self.workspace)


@dataclass
class Process:
    """A long-running command in its own process group, its output collected by a reader thread."""

    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: Path
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        argv = list(self.argv)
        if argv[0] in ("ros2", "launch_test"):
            argv[0] = str(Path(sys.executable).parent / argv[0])
        self.popen = subprocess.Popen(
            argv, env=self.env, cwd=self.cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.popen.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    @property
    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float) -> bool:
        """Until predicate(output) holds, the process ends, or timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate("\n".join(self.lines)):
                left = deadline - time.monotonic()
                if left <= 0 or (self.popen.poll() is not None and not self._reader.is_alive()):
                    return predicate("\n".join(self.lines))
                self._cond.wait(min(left, 0.2))
            return True

    def interrupt(self, timeout: float) -> float:
        """SIGINT the whole group (Ctrl-C); seconds until the process exited. Kills it after timeout."""
        start = time.monotonic()
        os.killpg(self.popen.pid, signal.SIGINT)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._reader.join(5.0)
        return time.monotonic() - start

    def group_alive(self) -> bool:
        """Whether any process of the group (e.g. a node started by ros2 launch) is still running."""
        try:
            os.killpg(self.popen.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> None:
        if self.group_alive():
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)
