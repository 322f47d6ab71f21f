"""The deploy artifact: `model.safetensors` (weights, no pickle) + `model.json` (everything else).

Loading validates every field and never executes code from the files.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from ..model import MultiTaskNet, NetConfig
from ..model.layers import conv_units, is_plain

FORMAT_NAME = "mtl_perception.artifact"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
META_FILE = "model.json"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# model.json's schema: every key known, nothing else accepted.
TOP_LEVEL_KEYS = frozenset({"format", "version", "name", "tasks", "net", "class_names", "palette", "input", "training", "weights"})
INPUT_KEYS = frozenset({"height", "width", "mean", "std"})
WEIGHTS_KEYS = frozenset({"file", "sha256"})
# Bounds checked before any network is built: a robot's model, not a denial of service.
MAX_META_BYTES = 16 << 20
MAX_INPUT_SIDE = 4096
MAX_STAGES = 8
MAX_CHANNELS = 1024
MAX_TASK_LAYERS = 32


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


def _require_known_keys(section: Any, known: frozenset[str], where: str) -> None:
    _require(isinstance(section, dict), f"{where} must be a JSON object")
    unknown = sorted(set(section) - known)
    _require(not unknown, f"{where}: unknown key(s) {unknown[:5]} (known: {sorted(known)})")


def net_config_type_error(data: Mapping[str, Any]) -> str | None:
    """Why a 'net' JSON object cannot become a NetConfig by the *types* of its values (None = they fit).

    NetConfig itself checks ranges, with comparisons that fail obscurely on a wrong type
    (`num_classes: "10"` gave "'<=' not supported between instances of 'int' and 'str'"); each
    field's type is taken from its default, so a field added to NetConfig is checked too.
    """
    for spec in fields(NetConfig):
        if spec.name not in data:
            continue
        value = data[spec.name]
        default = spec.default if spec.default is not MISSING else spec.default_factory()  # type: ignore[misc]
        if isinstance(default, bool):
            ok, wanted = isinstance(value, bool), "true or false"
        elif isinstance(default, int):
            ok, wanted = isinstance(value, int) and not isinstance(value, bool), "an integer"
        elif isinstance(default, float):
            ok, wanted = _is_number(value), "a finite number"
        elif isinstance(default, str):
            ok, wanted = isinstance(value, str), "a string"
        elif isinstance(default, tuple):
            kind = type(default[0]) if default else object
            ok = isinstance(value, (list, tuple)) and all(isinstance(v, kind) and not isinstance(v, bool) for v in value)
            wanted = f"a list of {'integers' if kind is int else 'strings' if kind is str else 'values'}"
        elif isinstance(default, Mapping):
            ok, wanted = isinstance(value, Mapping), "an object"
        else:
            continue
        if not ok:
            return f"net.{spec.name} must be {wanted}, got {type(value).__name__} {repr(value)[:40]}"
    return None


def check_net_bounds(net: NetConfig, where: str) -> None:
    """Refuse configs whose network would take minutes or gigabytes to build (before building it)."""
    _require(net.in_channels == 3, f"{where}: net.in_channels must be 3 (RGB), got {net.in_channels}")
    _require(len(net.base_channels) <= MAX_STAGES, f"{where}: net.base_channels has {len(net.base_channels)} stages (at most {MAX_STAGES})")
    _require(max(net.channels) <= MAX_CHANNELS, f"{where}: net has {max(net.channels)} channels in a stage (at most {MAX_CHANNELS})")
    _require(net.task_layers <= MAX_TASK_LAYERS, f"{where}: net.task_layers is {net.task_layers} (at most {MAX_TASK_LAYERS})")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _parse_input(spec: Any, where: str) -> tuple[int, int, tuple[float, ...], tuple[float, ...]]:
    """(height, width, mean, std) from the 'input' object, every value checked."""
    _require_known_keys(spec, INPUT_KEYS, f"{where}: 'input'")
    height, width = spec.get("height"), spec.get("width")
    _require(
        all(isinstance(v, int) and not isinstance(v, bool) and 16 <= v <= MAX_INPUT_SIDE for v in (height, width)),
        f"{where}: input height/width must be ints in 16..{MAX_INPUT_SIDE}, got {height!r}x{width!r}",
    )
    mean, std = spec.get("mean", IMAGENET_MEAN), spec.get("std", IMAGENET_STD)
    _require(
        isinstance(mean, list | tuple) and isinstance(std, list | tuple) and len(mean) == 3 and len(std) == 3
        and all(_is_number(v) for v in [*mean, *std]) and min(std) > 0,
        f"{where}: input mean/std must be lists of 3 finite numbers each, std > 0; got mean {str(mean)[:60]}, std {str(std)[:60]}",
    )
    return height, width, tuple(float(v) for v in mean), tuple(float(v) for v in std)


def _parse_meta(data: Any, source: Path) -> tuple[ArtifactMeta, str]:
    where = f"{source}"
    _require_known_keys(data, TOP_LEVEL_KEYS, f"{where}: top level")
    _require(data.get("format") == FORMAT_NAME, f"{where}: 'format' must be {FORMAT_NAME!r}, got {str(data.get('format'))[:60]!r}")
    _require(data.get("version") == FORMAT_VERSION, f"{where}: unsupported version {str(data.get('version'))[:20]!r} (this build reads {FORMAT_VERSION})")
    for key in ("net", "class_names", "palette", "input", "weights"):
        _require(key in data, f"{where}: missing key {key!r}")
    _require(isinstance(data["net"], dict), f"{where}: 'net' must be a JSON object")
    type_error = net_config_type_error(data["net"])
    _require(type_error is None, f"{where}: invalid 'net' config: {type_error}")
    try:
        net = NetConfig.from_dict(data["net"])
    except (TypeError, ValueError) as exc:
        raise ArtifactError(f"{where}: invalid 'net' config: {exc}") from exc
    check_net_bounds(net, where)
    _require("tasks" not in data or data["tasks"] == list(net.tasks), f"{where}: 'tasks' disagrees with net.tasks {list(net.tasks)}")
    names, palette = data["class_names"], data["palette"]
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
    height, width, mean, std = _parse_input(data["input"], where)
    weights = data["weights"]
    _require_known_keys(weights, WEIGHTS_KEYS, f"{where}: 'weights'")
    _require(isinstance(weights.get("sha256"), str), f"{where}: 'weights.sha256' missing")
    _require(weights.get("file", WEIGHTS_FILE) == WEIGHTS_FILE, f"{where}: 'weights.file' must be {WEIGHTS_FILE!r}")
    meta = ArtifactMeta(
        net=net,
        class_names=tuple(names),
        palette=tuple(tuple(c) for c in palette),
        input_height=height,
        input_width=width,
        mean=mean,
        std=std,
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
    size = meta_path.stat().st_size
    _require(size <= MAX_META_BYTES, f"{meta_path}: {size} bytes is more than a model.json may hold ({MAX_META_BYTES})")
    try:
        data = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{meta_path}: not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise ArtifactError(f"{meta_path}: JSON nested too deeply to be a model.json") from exc
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
    _check_weights_fit(weights, meta.net)
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ArtifactError(f"{weights}: not a readable safetensors file: {exc}") from exc
    with torch.random.fork_rng(devices=[]):
        net = MultiTaskNet(meta.net)
    net.load_state_dict(tensors)
    return net.eval(), meta


def _check_weights_fit(weights: Path, config: NetConfig) -> None:
    """Compare the file's tensor names and shapes (its header only) with the config's, on the meta device.

    Runs before any real network or tensor is allocated, so a config that disagrees with its
    weights costs milliseconds, not the memory of building it.
    """
    try:
        with safe_open(str(weights), framework="pt") as handle:
            shapes = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ArtifactError(f"{weights}: not a readable safetensors file: {exc}") from exc
    with torch.device("meta"):
        expected = {key: tuple(value.shape) for key, value in MultiTaskNet(config).state_dict().items()}
    missing, unexpected = sorted(set(expected) - set(shapes)), sorted(set(shapes) - set(expected))
    _require(not missing and not unexpected, f"{weights}: tensors do not match the config (missing {missing[:5]}, unexpected {unexpected[:5]})")
    wrong = [f"{k}: {shapes[k]} vs {v}" for k, v in expected.items() if shapes[k] != v]
    _require(not wrong, f"{weights}: tensor shapes do not match the config: {wrong[:5]}")
