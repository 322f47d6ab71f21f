"""`mtl-perception <command>`: dispatches to one module per tool, imported only when used."""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any, Callable, Sequence

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
    "bag-to-dataset": ("mtl_perception.bag.to_dataset", "turn an RGB-D rosbag2 into training data (MTAN layout)"),
    "bag-play": ("mtl_perception.tools.bag_play", "publish a bag's camera topics over DDS"),
    "replay-eval": ("mtl_perception.tools.replay_eval", "replay a bag through the live node and score it"),
    "eval-rgbd": ("mtl_perception.tools.eval_rgbd", "evaluate a model on folders of real RGB + depth frames"),
    "demo": ("mtl_perception.tools.demo", "node + synthetic camera + recorder over loopback DDS"),
}


DEBUG_ENV = "MTL_PERCEPTION_DEBUG"  # set to 1 (or pass --debug) for tracebacks instead of one-line errors
MAX_ERROR_CHARS = 500
INTERRUPTED_EXIT = 130  # 128 + SIGINT, as a shell reports a Ctrl-C'd command
# Commands whose `key=value` overrides may sit on either side of their options.
INTERMIXED = frozenset({"train"})
# command -> (kind, argparse dest, default when unset): outputs checked before any work starts,
# so a bad path fails in a second, not after an hour of evaluation.
OUTPUTS: dict[str, tuple[tuple[str, str, Callable[[argparse.Namespace], Any]], ...]] = {
    "train": (("dir", "out", lambda a: None),),
    "make-dataset": (("dir", "out", lambda a: None),),
    "make-bag": (("dir", "out", lambda a: None),),
    "export": (("dir", "out", lambda a: None),),
    "compare": (("dir", "out", lambda a: None),),
    "demo": (("dir", "output", lambda a: None),),
    "eval": (("file", "json", lambda a: None),),
    "bag-eval": (("file", "report", lambda a: None), ("dir", "write_bag", lambda a: None)),
    "replay-eval": (("file", "report", lambda a: None),),
    "eval-rgbd": (("file", "report", lambda a: None), ("file", "panel", lambda a: None)),
}


def check_outputs(name: str, args: argparse.Namespace) -> None:
    """Raise OutputPathError naming the first output path of `name` that cannot be written."""
    from .tools.output_paths import check_output_dir, check_output_file

    for kind, dest, default in OUTPUTS.get(name, ()):
        path = getattr(args, dest, None) or default(args)
        if path:
            (check_output_dir if kind == "dir" else check_output_file)(path)


def describe_error(exc: BaseException) -> str:
    """One line naming the problem: the exception's message, whitespace collapsed, bounded."""
    text = " ".join(str(exc).split())
    if isinstance(exc, MemoryError):
        return f"out of memory{': ' + text if text else ''} (is a size or count too large?)"
    if not text or isinstance(exc, (KeyError, IndexError, AttributeError, TypeError)):
        text = f"{type(exc).__name__}: {text or 'no detail'}"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def _debug_requested(argv: list[str]) -> tuple[bool, list[str]]:
    """`--debug` before the command, or DEBUG_ENV set to anything but '' / '0'; returns the rest of argv."""
    from_env = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    if argv[:1] == ["--debug"]:
        return True, argv[1:]
    return from_env, argv


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: mtl-perception <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_text}" for name, (_, help_text) in COMMANDS.items()]
    lines += ["", "Run `mtl-perception <command> --help` for a command's options.",
              f"Errors are one line (exit code 2); `--debug` or {DEBUG_ENV}=1 shows the traceback."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    debug, argv = _debug_requested(list(sys.argv[1:] if argv is None else argv))
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"mtl-perception: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, help_text = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except KeyboardInterrupt:
        if debug:
            raise
        return _interrupted(name)
    return _dispatch(name, module, help_text, rest, debug)


def _interrupted(name: str) -> int:
    """Ctrl-C: one line and the shell's exit code instead of a traceback (train says more itself)."""
    print(f"\nmtl-perception {name}: interrupted", file=sys.stderr)
    return INTERRUPTED_EXIT


def _dispatch(name: str, module: Any, help_text: str, rest: list[str], debug: bool) -> int:
    parser = argparse.ArgumentParser(prog=f"mtl-perception {name}", description=help_text)
    parser.add_argument("--debug", action="store_true", help=f"show tracebacks instead of one-line errors (or set {DEBUG_ENV}=1)")
    module.add_arguments(parser)
    args = parser.parse_intermixed_args(rest) if name in INTERMIXED else parser.parse_args(rest)
    try:
        check_outputs(name, args)
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        if debug or args.debug:
            raise
        return _interrupted(name)
    except Exception as exc:  # noqa: BLE001 - the one place any failure becomes a one-line error
        if debug or args.debug:
            raise
        print(f"mtl-perception {name}: error: {describe_error(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
