"""The deploy artifact: `model.safetensors` (weights, no pickle) + `model.json` (everything else).

Loading validates every field and never executes code from the files.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..model import MultiTaskNet, NetConfig
from ..model.layers import conv_units, is_plain

FORMAT_NAME = "mtl_perception.artifact"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
META_FILE = "model.json"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ArtifactError(ValueError):
    """A deploy artifact is missing, malformed, corrupt or inconsistent."""


@dataclass(frozen=True)
class ArtifactMeta:
    """Contents of model.json."""

    net: NetConfig
    class_names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    input_height: int
    input_width: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    name: str = "model"
    training: Mapping[str, Any] = field(default_factory=dict)

    @property
    def tasks(self) -> tuple[str, ...]:
        return self.net.tasks

    def to_json(self, weights_sha256: str) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "name": self.name,
            "tasks": list(self.tasks),
            "net": self.net.to_dict(),
            "class_names": list(self.class_names),
            "palette": [list(c) for c in self.palette],
            "input": {"height": self.input_height, "width": self.input_width, "mean": list(self.mean), "std": list(self.std)},
            "training": dict(self.training),
            "weights": {"file": WEIGHTS_FILE, "sha256": weights_sha256},
        }


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ArtifactError(message)


def _parse_meta(data: Any, source: Path) -> tuple[ArtifactMeta, str]:
    where = f"{source}"
    _require(isinstance(data, dict), f"{where}: top level must be a JSON object")
    _require(data.get("format") == FORMAT_NAME, f"{where}: 'format' must be {FORMAT_NAME!r}, got {data.get('format')!r}")
    _require(data.get("version") == FORMAT_VERSION, f"{where}: unsupported version {data.get('version')!r} (this build reads {FORMAT_VERSION})")
    for key in ("net", "class_names", "palette", "input", "weights"):
        _require(key in data, f"{where}: missing key {key!r}")
    try:
        net = NetConfig.from_dict(data["net"])
    except (TypeError, ValueError) as exc:
        raise ArtifactError(f"{where}: invalid 'net' config: {exc}") from exc
    names, palette, spec = data["class_names"], data["palette"], data["input"]
    _require(
        isinstance(names, list) and all(isinstance(n, str) for n in names) and len(names) == net.num_classes,
        f"{where}: 'class_names' must list {net.num_classes} strings",
    )
    _require(
        isinstance(palette, list)
        and len(palette) == net.num_classes
        and all(isinstance(c, list) and len(c) == 3 and all(isinstance(v, int) and 0 <= v <= 255 for v in c) for c in palette),
        f"{where}: 'palette' must hold {net.num_classes} [r, g, b] triples of ints in 0..255",
    )
    _require(isinstance(spec, dict), f"{where}: 'input' must be an object")
    height, width = spec.get("height"), spec.get("width")
    _require(isinstance(height, int) and isinstance(width, int) and height >= 16 and width >= 16, f"{where}: input height/width must be ints >= 16")
    mean, std = spec.get("mean", IMAGENET_MEAN), spec.get("std", IMAGENET_STD)
    _require(
        len(mean) == 3 and len(std) == 3 and all(isinstance(v, (int, float)) for v in [*mean, *std]) and min(std) > 0,
        f"{where}: input mean/std must be 3 numbers each, std > 0",
    )
    weights = data["weights"]
    _require(isinstance(weights, dict) and isinstance(weights.get("sha256"), str), f"{where}: 'weights.sha256' missing")
    meta = ArtifactMeta(
        net=net,
        class_names=tuple(names),
        palette=tuple(tuple(c) for c in palette),
        input_height=height,
        input_width=width,
        mean=tuple(float(v) for v in mean),
        std=tuple(float(v) for v in std),
        name=str(data.get("name", "model")),
        training=data.get("training", {}) if isinstance(data.get("training"), dict) else {},
    )
    return meta, weights["sha256"]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)  # mkstemp makes 0600; an artifact is meant to be shared
    os.replace(tmp, path)


def save_artifact(
    net: MultiTaskNet,
    path: str | os.PathLike[str],
    *,
    class_names: Sequence[str],
    palette: Sequence[Sequence[int]],
    input_size: tuple[int, int],
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    name: str = "model",
    training: Mapping[str, Any] | None = None,
) -> Path:
    """Write a plain (collapsed) network as a deploy artifact directory; returns the directory."""
    if not all(is_plain(unit) for _, unit in conv_units(net)):
        raise ValueError("save_artifact needs a plain network: collapse() the training form first")
    meta = ArtifactMeta(
        net=net.config,
        class_names=tuple(class_names),
        palette=tuple(tuple(int(v) for v in c) for c in palette),
        input_height=int(input_size[0]),
        input_width=int(input_size[1]),
        mean=tuple(float(v) for v in mean),
        std=tuple(float(v) for v in std),
        name=name,
        training=dict(training or {}),
    )
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() if v.is_floating_point() else v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    weights = directory / WEIGHTS_FILE
    tmp = directory / f".{WEIGHTS_FILE}.tmp"
    save_file(tensors, str(tmp), metadata={"format": FORMAT_NAME})
    os.chmod(tmp, 0o644)
    os.replace(tmp, weights)
    document = meta.to_json(_sha256(weights))
    _parse_meta(json.loads(json.dumps(document)), directory / META_FILE)  # refuse to write what we could not read
    _atomic_write_text(directory / META_FILE, json.dumps(document, indent=2) + "\n")
    return directory


def read_meta(path: str | os.PathLike[str]) -> ArtifactMeta:
    """Parse and validate model.json only."""
    return _read_meta_and_digest(Path(path))[0]


def _read_meta_and_digest(directory: Path) -> tuple[ArtifactMeta, str]:
    _require(directory.is_dir(), f"artifact directory not found: {directory}")
    meta_path = directory / META_FILE
    _require(meta_path.is_file(), f"{meta_path}: missing")
    try:
        data = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{meta_path}: not valid JSON: {exc}") from exc
    return _parse_meta(data, meta_path)


def load_artifact(path: str | os.PathLike[str]) -> tuple[MultiTaskNet, ArtifactMeta]:
    """Rebuild the network from an artifact directory (CPU, float32, eval mode)."""
    directory = Path(path)
    meta, expected_digest = _read_meta_and_digest(directory)
    weights = directory / WEIGHTS_FILE
    _require(weights.is_file(), f"{weights}: missing")
    with weights.open("rb") as handle:
        head = handle.read(9)
    # safetensors = u64 header length, then a JSON header starting with "{". Anything else that
    # starts like a pickle stream (0x80) or a torch.save zip ("PK") is named as such.
    is_safetensors_layout = len(head) == 9 and head[8:9] == b"{"
    _require(
        is_safetensors_layout or not (head[:1] == b"\x80" or head[:2] == b"PK"),
        f"{weights}: holds a pickle/torch.save payload; refusing to unpickle",
    )
    actual = _sha256(weights)
    _require(actual == expected_digest, f"{weights}: checksum mismatch (file truncated, corrupt or replaced)")
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ArtifactError(f"{weights}: not a readable safetensors file: {exc}") from exc
    with torch.random.fork_rng(devices=[]):
        net = MultiTaskNet(meta.net)
    expected = net.state_dict()
    missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    _require(not missing and not unexpected, f"{weights}: tensors do not match the config (missing {missing[:5]}, unexpected {unexpected[:5]})")
    wrong = [f"{k}: {tuple(tensors[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items() if tensors[k].shape != v.shape]
    _require(not wrong, f"{weights}: tensor shapes do not match the config: {wrong[:5]}")
    net.load_state_dict(tensors)
    return net.eval(), meta
