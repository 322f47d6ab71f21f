"""`mtl-perception train --config FILE [key=value ...] --out RUN_DIR [--resume]` (torchrun-aware)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config import ConfigError, load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML file under config/train/ (defaults apply to missing keys)")
    parser.add_argument("--out", required=True, help="run directory: checkpoints, logs, plots")
    parser.add_argument("--resume", action="store_true", help="continue exactly from RUN_DIR/last.pt")
    parser.add_argument("--init", metavar="ARTIFACT_OR_CHECKPOINT", default=None,
                        help="start from trained weights: a checkpoint file or a deploy artifact directory (fine-tuning)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="dot overrides, e.g. optim.lr=3e-4 model.scheme=none")


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config, args.overrides)
    except (ConfigError, OSError) as exc:  # one line: PyYAML's messages span several, with a caret drawing
        print(f"mtl-perception train: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    from .checkpoint import CheckpointError, check_resume_state, load_training_checkpoint, remove_orphan_temps, weights_error
    from .distributed import init_distributed, shutdown_distributed
    from .trainer import Trainer

    ctx = init_distributed(config.device)
    try:
        command = ["mtl-perception", "train", *sys.argv[2:]] if sys.argv[1:2] == ["train"] else sys.argv
        if args.resume and args.init:
            raise ValueError("--init starts a new run and --resume continues one: give only one")
        # A run killed mid-save leaves its temporary file behind (remove_orphan_temps: only the
        # names save_checkpoint gives them, in this run directory); a new run or a resume clears them.
        removed = remove_orphan_temps(args.out) if ctx.is_main else []
        if args.resume:
            last = Path(args.out) / "last.pt"
            unfinished = [(path, size) for path, size in removed if path.name.startswith(".last.pt.")]
            if unfinished and not last.exists():
                found = ", ".join(f"{path.name} ({size} bytes)" for path, size in unfinished)
                raise CheckpointError(
                    f"nothing to resume in {args.out}: no last.pt, only the unfinished first save {found} of a run killed while "
                    "writing it (removed); start the run again without --resume"
                )
            check_resume_state(load_training_checkpoint(last), last)  # every field checked before anything is built
        try:
            trainer = Trainer.from_config(config, args.out, resume=args.resume, ctx=ctx, command=command, init=args.init)
        except (RuntimeError, KeyError, TypeError, IndexError) as exc:
            if not args.resume:
                raise
            raise weights_error(Path(args.out) / "last.pt", exc) from exc
        history = trainer.fit()
        if ctx.is_main and history:
            print(f"done: best epoch {trainer.best_epoch}, checkpoints in {args.out}")
    except (CheckpointError, ValueError) as exc:  # bad resume state, bad data root, mismatched config
        print(f"mtl-perception train: {exc}", file=sys.stderr)
        return 2
    finally:
        shutdown_distributed()
    return 0
