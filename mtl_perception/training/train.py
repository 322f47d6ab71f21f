"""`mtl-perception train --config FILE [key=value ...] --out RUN_DIR [--resume]` (torchrun-aware).

Ctrl-C ends a run with one line naming its last checkpoint and the command that continues it
(exit 130). `--resume` continues RUN_DIR/last.pt with the run's own configuration, recorded in
the checkpoint: `--config` and `key=value` may repeat it, and may change only RESUME_SAFE keys.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from .config import ConfigError, TrainConfig, _merge, config_from_dict, load_config, parse_overrides

# What a resumed run may change: where it runs, how fast it loads, what it logs. Every other key
# (model, data, optimiser, schedule, epochs, seed, amp, ...) shapes the result, and a resumed run
# must be the run that was interrupted: a change there is a new run (`--init RUN_DIR/last.pt`).
# `epochs` is not safe: the cosine schedule's length is fixed when the run starts.
RESUME_SAFE = ("device", "threads", "data.num_workers", "tensorboard", "plots")
INTERRUPTED_EXIT = 130  # 128 + SIGINT, as a shell reports a Ctrl-C'd command
MAX_SHOWN_CHANGES = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML file under config/train/ (defaults apply to missing keys)")
    parser.add_argument("--out", required=True, help="run directory: checkpoints, logs, plots")
    parser.add_argument("--resume", action="store_true",
                        help="continue exactly from RUN_DIR/last.pt with the run's recorded config; --config and key=value may "
                             f"change only {', '.join(RESUME_SAFE)} (anything else is refused: start a new run with --init RUN_DIR/last.pt)")
    parser.add_argument("--init", metavar="ARTIFACT_OR_CHECKPOINT", default=None,
                        help="start from trained weights: a checkpoint file or a deploy artifact directory (fine-tuning)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="dot overrides, e.g. optim.lr=3e-4 model.scheme=none")
    parser.epilog = ("Ctrl-C stops the run (exit 130) and prints its last checkpoint and the command that continues it: "
                     "mtl-perception train --out RUN_DIR --resume. last.pt is written after every epoch.")


def _flat(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'optim': {'lr': 1e-3}} -> {'optim.lr': 1e-3}; lists stay whole values."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def resume_config(recorded: Mapping[str, Any], config_path: str | None, overrides: Sequence[str], last: Path) -> TrainConfig:
    """The configuration a resumed run continues with: the run's own (`recorded`, from last.pt), with
    `--config` (whole, when given) and the overrides on top. Raises ConfigError, in one line, naming
    the changed keys when any lies outside RESUME_SAFE."""
    saved = config_from_dict(recorded)
    if config_path is not None:
        requested = load_config(config_path, overrides)
    else:
        requested = config_from_dict(_merge(saved.to_dict(), parse_overrides(overrides)))
    before, after = _flat(saved.to_dict()), _flat(requested.to_dict())
    unsafe = [key for key in sorted(before.keys() | after.keys()) if before.get(key) != after.get(key) and key not in RESUME_SAFE]
    if unsafe:
        shown = ", ".join(f"{key} {before.get(key)!r} -> {after.get(key)!r}" for key in unsafe[:MAX_SHOWN_CHANGES])
        more = f" and {len(unsafe) - MAX_SHOWN_CHANGES} more" if len(unsafe) > MAX_SHOWN_CHANGES else ""
        raise ConfigError(
            f"--resume continues {last} as it was configured, but this command changes {shown}{more}; on resume only "
            f"{', '.join(RESUME_SAFE)} may change. Leave the rest out (the run's config is in the checkpoint), or start a new "
            f"run from these weights: --init {last} --out NEW_DIR"
        )
    return requested


def _epochs_done(last: Path) -> int | None:
    """The `epoch` counter of a checkpoint (epochs finished), read without loading its tensors; None if unreadable."""
    import torch

    try:
        return int(torch.load(last, map_location="cpu", weights_only=True, mmap=True)["epoch"])
    except Exception:  # noqa: BLE001 - only a count in a message; the checkpoint is checked on resume
        return None


def interrupted_message(out: str, epochs: int, *, resuming: bool, started: float, distributed: bool) -> str:
    """One line for a Ctrl-C'd run: its last checkpoint and the exact command that continues it."""
    last = Path(out) / "last.pt"
    ours = last.is_file() and (resuming or last.stat().st_mtime >= started)  # not a previous run's file in the same --out
    if not ours:
        return (f"mtl-perception train: interrupted before the first epoch ended; nothing saved in {out} yet "
                "(last.pt is written after each epoch): run the same command again to start over")
    done = _epochs_done(last)
    progress = f" ({done}/{epochs} epochs done)" if done is not None else ""
    command = ("the same torchrun command with --resume" if distributed
               else f"mtl-perception train --out {shlex.quote(out)} --resume")
    return f"mtl-perception train: interrupted; last checkpoint {last}{progress}; continue with: {command}"


def _requested_config(args: argparse.Namespace, last: Path) -> tuple[TrainConfig, Mapping[str, Any] | None]:
    """(config, the checked last.pt state when resuming one that exists, else None)."""
    if not (args.resume and last.is_file()):
        return load_config(args.config, args.overrides), None  # a resume without last.pt says what it found below
    from .checkpoint import check_resume_state, load_training_checkpoint

    state = check_resume_state(load_training_checkpoint(last), last)  # every field checked before anything is built
    return resume_config(state["config"], args.config, args.overrides, last), state


def run(args: argparse.Namespace) -> int:
    started = time.time()
    if args.resume and args.init:
        print("mtl-perception train: --init starts a new run and --resume continues one: give only one", file=sys.stderr)
        return 2
    last = Path(args.out) / "last.pt"
    try:
        config, state = _requested_config(args, last)
    except (ConfigError, RuntimeError, OSError) as exc:  # CheckpointError is a RuntimeError; one line: PyYAML's messages span several
        print(f"mtl-perception train: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    from .checkpoint import CheckpointError, remove_orphan_temps, weights_error
    from .distributed import init_distributed, shutdown_distributed
    from .trainer import Trainer

    ctx = init_distributed(config.device)
    try:
        command = ["mtl-perception", "train", *sys.argv[2:]] if sys.argv[1:2] == ["train"] else sys.argv
        # A run killed mid-save leaves its temporary file behind (remove_orphan_temps: only the
        # names save_checkpoint gives them, in this run directory); a new run or a resume clears them.
        removed = remove_orphan_temps(args.out) if ctx.is_main else []
        if args.resume and state is None:
            unfinished = [(path, size) for path, size in removed if path.name.startswith(".last.pt.")]
            if unfinished:
                found = ", ".join(f"{path.name} ({size} bytes)" for path, size in unfinished)
                raise CheckpointError(
                    f"nothing to resume in {args.out}: no last.pt, only the unfinished first save {found} of a run killed while "
                    "writing it (removed); start the run again without --resume"
                )
            raise CheckpointError(f"nothing to resume: checkpoint not found: {last} (start the run without --resume)")
        try:
            trainer = Trainer.from_config(config, args.out, resume=args.resume, ctx=ctx, command=command, init=args.init)
        except (RuntimeError, KeyError, TypeError, IndexError) as exc:
            if not args.resume:
                raise
            raise weights_error(last, exc) from exc
        history = trainer.fit()
        if ctx.is_main and history:
            print(f"done: best epoch {trainer.best_epoch}, checkpoints in {args.out}")
    except KeyboardInterrupt:  # Ctrl-C: where the run stands and how to go on, not a traceback
        if ctx.is_main:
            print(interrupted_message(args.out, config.epochs, resuming=args.resume, started=started, distributed=ctx.enabled),
                  file=sys.stderr, flush=True)
        return INTERRUPTED_EXIT
    except (CheckpointError, ValueError) as exc:  # bad resume state, bad data root, mismatched config
        print(f"mtl-perception train: {exc}", file=sys.stderr)
        return 2
    finally:
        shutdown_distributed()
    return 0
