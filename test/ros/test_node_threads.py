"""Issue 16.1: the node's OpenMP wait policy is in force before torch loads, however it starts.

libgomp reads OMP_WAIT_POLICY once, when torch is first imported; PASSIVE (set by
mtl_perception/__init__.py) is what keeps a 2-core machine from spinning idle threads. A child
process installs an import hook that, at the first `import torch`, prints the variable and
exits, so each case costs an interpreter start and no torch load.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).parent / "perception_node"  # the console script `ros2 run` executes
PROBE = """
import os, runpy, sys
class StopAtTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            print("OMP_WAIT_POLICY=" + os.environ.get("OMP_WAIT_POLICY", "(unset)"), flush=True)
            os._exit(0)
        return None
assert "torch" not in sys.modules
sys.meta_path.insert(0, StopAtTorch())
how, target = sys.argv[1:3]
if how == "script":
    runpy.run_path(target, run_name="__main__")
else:
    runpy.run_module(target, run_name="__main__", alter_sys=True)
raise SystemExit("torch was never imported")
"""
STARTS = {"ros2 run (console script)": ("script", str(SCRIPT)), "python -m mtl_perception.ros.node": ("module", "mtl_perception.ros.node")}


def policy_at_torch_import(how: str, target: str, policy: str | None) -> str:
    env = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
    if policy is not None:
        env["OMP_WAIT_POLICY"] = policy
    done = subprocess.run([sys.executable, "-c", PROBE, how, target], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("start", sorted(STARTS))
def test_passive_wait_policy_before_torch_loads(start):
    if not SCRIPT.exists():
        pytest.skip(f"{SCRIPT} is not installed (pip install -e . makes it)")
    assert policy_at_torch_import(*STARTS[start], policy=None) == "OMP_WAIT_POLICY=PASSIVE"


def test_environment_overrides_the_default_wait_policy():
    assert policy_at_torch_import(*STARTS["python -m mtl_perception.ros.node"], policy="ACTIVE") == "OMP_WAIT_POLICY=ACTIVE"
