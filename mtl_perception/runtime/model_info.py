"""`mtl-perception model-info`: parameter counts per scheme and GMACs of the compact net (from flags or an artifact)."""
from __future__ import annotations

import argparse
import dataclasses

import torch

from ..model import ARCHITECTURES, DECODERS, SCHEMES, TASKS, MultiTaskNet, NetConfig, count_macs, count_parameters, overparameterize
from .artifact import check_net_bounds, read_meta


def _size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 288x384, got {text!r}") from None
    if height < 16 or width < 16:
        raise argparse.ArgumentTypeError("size must be at least 16x16")
    return height, width


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--artifact", help="read the config from a deploy artifact directory instead")
    parser.add_argument("--arch", choices=ARCHITECTURES, default="segnet")
    parser.add_argument("--width", type=float, default=1.0, help="channel width multiplier")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--num-classes", type=int, default=13)
    parser.add_argument("--task-layers", type=int, default=1)
    parser.add_argument("--decoder", choices=DECODERS, default="shared", help="one decoder for all tasks, or one per task")
    parser.add_argument("--size", type=_size, default=(288, 384), help="input HxW for GMACs (default 288x384)")


def run(args: argparse.Namespace) -> int:
    deployed = None
    if args.artifact:
        deployed = read_meta(args.artifact).net
        config = dataclasses.replace(deployed, fused_bn=False)  # the compact form it was collapsed to, BN unfused
    else:
        config = NetConfig(
            arch=args.arch, tasks=tuple(args.tasks), num_classes=args.num_classes, width=args.width, task_layers=args.task_layers,
            decoder=args.decoder,
        )
        check_net_bounds(config, "model-info")  # the same limits an artifact has, before building anything
    torch.manual_seed(0)
    net = MultiTaskNet(config)
    height, width = args.size
    print(f"arch {config.arch}, {config.decoder} decoder, width {config.width} (channels {list(config.channels)}), tasks {', '.join(config.tasks)}")
    print(f"compact parameters:      {count_parameters(net):>12,}")
    if deployed is not None:
        print(f"deploy parameters (BN fused): {count_parameters(MultiTaskNet(deployed)):>7,}")
    print(f"GMACs at {height}x{width}:      {count_macs(net, height, width) / 1e9:>12.3f}")
    print("training-form parameters by scheme:")
    for scheme in SCHEMES:
        print(f"  {scheme:<18} {count_parameters(overparameterize(net, scheme)):>12,}")
    return 0
