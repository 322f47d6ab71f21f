"""Every benchmark script answers `--help` from the repository root; every helper beside them imports (issue 29 item 3).

A script is a `benchmarks/*.py` file with an `if __name__ == "__main__":` block; the other
files there are helpers the scripts import (harness.py, node_suites.py, ...). Both lists come
from a glob, so a new script or helper is covered without touching this file. Scripts run as a
user runs them, `python benchmarks/NAME.py --help` in a subprocess from the repository root
(it inherits the loopback DDS settings test/conftest.py puts in os.environ); helpers are
imported here, and every name a script takes from one must be there.
"""
from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = REPO / "benchmarks"
# What a fresh clone without the ROS 2 wheels lacks (`make setup` installs them): a script that
# needs one is skipped there, as the `ros`-marked tests are.
ROS_MODULES = {"rclpy", "rcl_interfaces", "sensor_msgs", "std_msgs", "diagnostic_msgs", "lifecycle_msgs", "rosbags"}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _is_script(path: Path) -> bool:
    """Top level holds `if __name__ == "__main__":`."""
    return any(isinstance(node, ast.If) and ast.unparse(node.test) == "__name__ == '__main__'" for node in _tree(path).body)


ALL = sorted(BENCHMARKS.glob("*.py"))
SCRIPTS = [p for p in ALL if _is_script(p)]
HELPERS = [p for p in ALL if not _is_script(p)]


def _names_taken(script: Path, helper: str) -> set[str] | None:
    """Names `script` imports from the sibling module `helper` (empty set: `import helper`); None if it does not."""
    names: set[str] | None = None
    for node in ast.walk(_tree(script)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == helper:
            names = (names or set()) | {alias.name for alias in node.names}
        elif isinstance(node, ast.Import) and any(alias.name == helper for alias in node.names):
            names = names or set()
    return names


def test_the_globs_find_the_scripts_and_helpers():
    """An empty or wrong glob would leave the parametrised tests with nothing to check."""
    names = {p.name for p in SCRIPTS}
    assert {"bench_node.py", "bench_inference.py", "optimiser_race.py"} <= names
    assert "harness.py" in {p.name for p in HELPERS}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_help(script: Path):
    relative = script.relative_to(REPO)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(relative), "--help"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=180)
    if done.returncode != 0:
        missing = re.search(r"No module named '([\w.]+)'", done.stderr)
        if missing and missing.group(1).split(".")[0] in ROS_MODULES and importlib.util.find_spec("rclpy") is None:
            pytest.skip(f"{relative} needs {missing.group(1)} (ROS 2 Jazzy wheels): `make setup` installs them")
    assert done.returncode == 0, f"python {relative} --help exited {done.returncode}:\n{done.stderr[-4000:]}"
    assert done.stdout.startswith(f"usage: {script.name}"), done.stdout[:500]
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
    # The help describes the script: argparse shows the module docstring (re-wrapped or not).
    docstring = ast.get_docstring(_tree(script))
    assert docstring, f"{relative} has no module docstring to describe it"
    assert " ".join(docstring.splitlines()[0].split()) in " ".join(done.stdout.split())


@pytest.mark.parametrize("helper", HELPERS, ids=lambda p: p.name)
def test_helper_imports_and_serves_a_script(helper: Path, monkeypatch):
    """A helper imports cleanly, some script uses it, and it has every name the scripts take from it.

    A file with no `__main__` block that no script imports is a script that lost its entry point
    or dead code; a name a script imports that the helper lacks is a split gone wrong.
    """
    users = {s.name: names for s in SCRIPTS if (names := _names_taken(s, helper.stem)) is not None}
    assert users, f"{helper.name} has no `if __name__ == '__main__':` block and no benchmark script imports it"
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # as the scripts do: helpers import each other by name
    before = set(sys.modules)
    try:
        spec = importlib.util.spec_from_file_location(helper.stem, helper)
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, helper.stem, module)  # as an import would (dataclasses look their module up there)
        try:
            spec.loader.exec_module(module)
        except ModuleNotFoundError as error:
            if (error.name or "").split(".")[0] in ROS_MODULES and importlib.util.find_spec("rclpy") is None:
                pytest.skip(f"{helper.name} needs {error.name} (ROS 2 Jazzy wheels): `make setup` installs them")
            raise
    finally:  # it and the siblings it pulled in by bare name (node_suites, ...) stay private to this test
        for name in set(sys.modules) - before:
            if (BENCHMARKS / f"{name}.py").is_file():
                del sys.modules[name]
    assert module.__doc__, f"{helper.name} has no module docstring"
    for script, names in users.items():
        lacking = sorted(n for n in names if not hasattr(module, n))
        assert not lacking, f"{script} imports {lacking} from {helper.name}, which does not define them"


def test_benchmarks_have_one_shape():
    """Scripts and helpers at the top, results under results/<suite>/, probes under probes/ (DESIGN §2)."""
    top = {p.name for p in BENCHMARKS.iterdir() if not p.name.startswith(".") and p.name != "__pycache__"}
    assert {p for p in top if not p.endswith(".py")} <= {"results", "probes", "README.md"}, sorted(top)
    loose = [p.name for p in (BENCHMARKS / "results").iterdir() if p.is_file() and not p.name.startswith(".")]
    assert not loose, f"results belong in benchmarks/results/<suite>/, not at its top: {loose}"
