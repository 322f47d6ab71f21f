"""`mtl-perception <command>`: dispatches to one module per tool, imported only when used."""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

# name -> (module, one-line help). Each module defines add_arguments(parser) and run(args) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "model-info": ("mtl_perception.runtime.model_info", "parameter counts per scheme and GMACs"),
    "make-dataset": ("mtl_perception.tools.make_dataset", "render a synthetic dataset (MTAN layout)"),
    "train": ("mtl_perception.training.train", "train a network from a YAML config"),
    "export": ("mtl_perception.training.export", "collapse a checkpoint into a deploy artifact"),
    "eval": ("mtl_perception.training.evaluate", "evaluate an artifact or checkpoint on a dataset"),
    "compare": ("mtl_perception.training.compare", "reproduce the scheme comparison table"),
    "make-bag": ("mtl_perception.bag.make_bag", "render a camera trajectory into a rosbag2"),
    "bag-eval": ("mtl_perception.bag.evaluate", "evaluate a model offline on a rosbag2"),
    "bag-play": ("mtl_perception.tools.bag_play", "publish a bag's camera topics over DDS"),
    "replay-eval": ("mtl_perception.tools.replay_eval", "replay a bag through the live node and score it"),
    "demo": ("mtl_perception.tools.demo", "node + synthetic camera + recorder over loopback DDS"),
}


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: mtl-perception <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_text}" for name, (_, help_text) in COMMANDS.items()]
    lines += ["", "Run `mtl-perception <command> --help` for a command's options."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"mtl-perception: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, help_text = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"mtl-perception {name}", description=help_text)
    module.add_arguments(parser)
    return int(module.run(parser.parse_args(rest)) or 0)


if __name__ == "__main__":
    sys.exit(main())
