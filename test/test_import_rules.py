"""DESIGN §2's import arrows, checked on every module's imports (top level and lazy ones alike) with ast."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "mtl_perception"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

# layer -> the layers of ours it may import (DESIGN §2). cli dispatches by module name and may import anything.
ALLOWED: dict[str, frozenset[str]] = {
    "model": frozenset(),
    "data": frozenset({"interop"}),
    "metrics": frozenset(),
    "colors": frozenset(),
    "interop": frozenset(),
    "runtime": frozenset({"model"}),
    "training": frozenset({"model", "data", "metrics", "colors", "runtime"}),
    "ros": frozenset({"runtime", "interop", "colors"}),
    "bag": frozenset({"runtime", "data", "metrics", "interop", "colors"}),
    "tools": frozenset({"ros", "bag", "runtime", "data", "metrics", "interop", "colors"}),
}
# The package root (and the OpenMP setup it runs on import) come with every import of ours.
SHARED = frozenset({"", "cpu_threads"})
ROS_LAYERS = frozenset({"ros", "bag", "tools"})
ROS_PACKAGES = frozenset({"rclpy", "rcl_interfaces", "rosidl_runtime_py", "launch", "launch_ros"})


def _layer(module: str) -> str:
    """'mtl_perception.bag.io' -> 'bag'; 'mtl_perception.metrics' -> 'metrics'; the package root -> ''."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _module_name(path: Path, root: Path) -> str:
    relative = path.relative_to(root.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, absolute module) for every import statement in the file, relative ones resolved."""
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from . import x` / `from .. import x` may name submodules: check each one.
            if node.level and not node.module:
                found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, target))
    return found


def _is_ros_package(module: str) -> bool:
    top = module.split(".")[0]
    return top in ROS_PACKAGES or top.endswith("_msgs")


def violations(root: Path = ROOT) -> list[str]:
    """Every import that breaks an arrow, as 'path:line: source -> target (why)'."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        source = _layer(_module_name(path, root))
        if source in ("cli", *SHARED):
            continue
        for line, target in _imports(path, root):
            where = f"{path.relative_to(root.parent)}:{line}: {source} -> {target}"
            if _is_ros_package(target) and source not in ROS_LAYERS:
                problems.append(f"{where} (only ros/, bag/ and tools/ may import ROS)")
            if target.split(".")[0] != PACKAGE:
                continue
            layer = _layer(target)
            if layer != source and layer not in SHARED and layer not in ALLOWED.get(source, frozenset()):
                problems.append(f"{where} ({source} may import only {', '.join(sorted(ALLOWED.get(source, ()))) or 'nothing of ours'})")
    return problems


def test_every_layer_of_the_package_is_known():
    layers = {_layer(_module_name(path, ROOT)) for path in ROOT.rglob("*.py")}
    assert layers <= set(ALLOWED) | SHARED | {"cli"}, layers - set(ALLOWED) - SHARED


def test_no_import_breaks_an_arrow_of_design_section_2():
    assert violations() == []


def test_the_checker_sees_lazy_and_relative_imports(tmp_path):
    package = tmp_path / PACKAGE
    (package / "model").mkdir(parents=True)
    (package / "interop").mkdir()
    (package / "model" / "info.py").write_text("def run():\n    from ..runtime import read_meta\n")
    (package / "interop" / "image.py").write_text("import rclpy\nfrom .. import training\n")
    found = violations(package)
    assert [line.split(" (")[0] for line in found] == [
        "mtl_perception/interop/image.py:1: interop -> rclpy",
        "mtl_perception/interop/image.py:2: interop -> mtl_perception.training",
        "mtl_perception/model/info.py:2: model -> mtl_perception.runtime",
    ]
