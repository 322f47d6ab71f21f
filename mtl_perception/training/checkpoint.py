"""Atomic checkpoint files of plain tensors and containers, read back with weights_only=True."""
from __future__ import annotations

import hashlib
import os
import pickle
import random
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from ..runtime.artifact import net_config_type_error


class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated, corrupt or not one of ours."""


FORMAT = "mtl_perception.checkpoint/1"
DIGEST_KEY = "sha256"  # over every other entry's content; files from before it existed load unchecked
# What resume, eval and export read, with the type each must have.
TRAINING_FIELDS: dict[str, type | tuple[type, ...]] = {
    "net": dict, "scheme": str, "config": dict, "model": dict, "weighting": dict, "optimizers": dict, "schedulers": dict,
    "scaler": dict, "rng": dict, "epoch": int, "step": int, "history": list, "best_score": (int, float), "best_epoch": int,
    "class_names": list, "palette": list, "input_size": list,
}


def _feed(digest: "hashlib._Hash", value: Any) -> None:
    """Hash `value` canonically: type tags, dict keys sorted, tensors by dtype, shape and bytes."""
    if isinstance(value, torch.Tensor):
        flat = value.detach().cpu().reshape(-1).contiguous()
        digest.update(f"T{flat.dtype}{tuple(value.shape)}".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    elif isinstance(value, Mapping):
        digest.update(f"D{len(value)}".encode())
        for key in sorted(value, key=repr):
            _feed(digest, key)
            _feed(digest, value[key])
    elif isinstance(value, (list, tuple)):
        digest.update(f"L{len(value)}".encode())
        for item in value:
            _feed(digest, item)
    else:
        digest.update(f"S{type(value).__name__}:{value!r};".encode())


def state_digest(state: Mapping[str, Any]) -> str:
    """SHA-256 of a checkpoint's content, the digest entry itself excluded."""
    digest = hashlib.sha256()
    _feed(digest, {k: v for k, v in state.items() if k != DIGEST_KEY})
    return digest.hexdigest()


def remove_orphan_temps(directory: str | os.PathLike[str], names: tuple[str, ...] = ("last.pt", "best.pt")) -> list[tuple[Path, int]]:
    """Delete the `.NAME.*.tmp` files save_checkpoint leaves when killed mid-write; returns (path, bytes) of each.

    Only files this program created are removed: save_checkpoint's temporary files are named by
    `tempfile.mkstemp(prefix=".NAME.", suffix=".tmp")` beside NAME, in the run directory that
    `train --out` owns, and nothing else there has that pattern (`.notes.tmp`, `last.pt.tmp`,
    files in subdirectories are left alone). A kill during the very first save leaves only such
    a file (0 bytes or half a checkpoint) and no last.pt.
    """
    removed = []
    for name in names:
        for orphan in sorted(Path(directory).glob(f".{name}.*.tmp")):
            if not orphan.is_file() or orphan.is_symlink():
                continue
            size = orphan.stat().st_size
            orphan.unlink(missing_ok=True)
            removed.append((orphan, size))
    return removed


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """torch.save to a temporary file beside `path`, then os.replace: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        payload = {"format": FORMAT, **state}
        payload[DIGEST_KEY] = state_digest(payload)
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load on CPU with weights_only=True (no arbitrary unpickling); clear errors for bad files."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: file is empty (0 bytes): a crashed copy or an interrupted download?")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's message advises weights_only=False, i.e. running the file's code: never do that.
        raise CheckpointError(f"{path}: holds objects other than tensors and plain containers; refusing to unpickle it") from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or corrupt?): {reason}") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an mtl_perception training checkpoint")
    if DIGEST_KEY in state and state[DIGEST_KEY] != state_digest(state):
        raise CheckpointError(f"{path}: content does not match its {DIGEST_KEY} (the file was modified or corrupted)")
    return state


def load_training_checkpoint(path: str | os.PathLike[str]) -> Mapping[str, Any]:
    """load_checkpoint, then check_training_state: what eval, export and resume read."""
    return check_training_state(load_checkpoint(path), path)


def weights_error(path: str | os.PathLike[str], exc: BaseException) -> CheckpointError:
    """The one-line error for a checkpoint whose weights or architecture fields do not fit together."""
    detail = " ".join(str(exc).split())
    return CheckpointError(f"{path}: weights do not fit the recorded architecture: {detail[:300]}")


def check_training_state(state: Mapping[str, Any], path: str | os.PathLike[str]) -> Mapping[str, Any]:
    """Raise CheckpointError naming the first field resume/eval/export need that is missing or ill-typed."""
    for key, kind in TRAINING_FIELDS.items():
        if key not in state:
            raise CheckpointError(f"{path}: checkpoint lacks the field {key!r}")
        if not isinstance(state[key], kind) or isinstance(state[key], bool):
            raise CheckpointError(f"{path}: checkpoint field {key!r} has type {type(state[key]).__name__}")
    if len(state["input_size"]) != 2 or not all(isinstance(v, int) and v > 0 for v in state["input_size"]):
        raise CheckpointError(f"{path}: checkpoint field 'input_size' must be two positive ints")
    net_error = net_config_type_error(state["net"])
    if net_error:
        raise CheckpointError(f"{path}: checkpoint field 'net' is invalid: {net_error}")
    _check_counters(state, path)
    for field in ("model", "weighting"):  # what eval and export run, and what resume continues from
        _check_finite(state[field], f"{path}: checkpoint field {field!r}")
    _check_rng(state["rng"], path)
    return state


def check_resume_state(state: Mapping[str, Any], path: str | os.PathLike[str]) -> Mapping[str, Any]:
    """What only resume reads, beyond check_training_state: optimizer moments must be finite too
    (a NaN there turns the next step's weights to NaN as surely as a NaN weight)."""
    _check_finite(state["optimizers"], f"{path}: checkpoint field 'optimizers'")
    return state


def _check_counters(state: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """epoch (the next epoch to run) in 0..config.epochs, step >= 0, best_epoch >= -1 (none yet)."""
    epochs = state["config"].get("epochs")
    limit = epochs if isinstance(epochs, int) and not isinstance(epochs, bool) and epochs >= 1 else None
    if state["epoch"] < 0 or (limit is not None and state["epoch"] > limit):
        bound = f"0..{limit} (the run's epochs)" if limit is not None else ">= 0"
        raise CheckpointError(f"{path}: checkpoint field 'epoch' is {state['epoch']}, must be in {bound}")
    if state["step"] < 0:
        raise CheckpointError(f"{path}: checkpoint field 'step' is {state['step']}, must be >= 0")
    if state["best_epoch"] < -1 or (limit is not None and state["best_epoch"] > limit):
        raise CheckpointError(f"{path}: checkpoint field 'best_epoch' is {state['best_epoch']}, must be -1 (none yet) or an epoch of the run")


def _check_finite(tree: Any, where: str, key: str = "") -> None:
    """Raise CheckpointError naming the first floating tensor in `tree` holding NaN or Inf."""
    if isinstance(tree, torch.Tensor):
        if tree.is_floating_point() or tree.is_complex():
            bad = int((~torch.isfinite(tree)).sum())
            if bad:
                raise CheckpointError(f"{where}: tensor {key or '(top)'!r} holds {bad} NaN/Inf value(s) of {tree.numel()}: training diverged or the file was edited; use an earlier checkpoint")
    elif isinstance(tree, Mapping):
        for name, value in tree.items():
            _check_finite(value, where, f"{key}.{name}" if key else str(name))
    elif isinstance(tree, (list, tuple)):
        for index, value in enumerate(tree):
            _check_finite(value, where, f"{key}[{index}]")


def _check_rng(rng: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """The RNG states must have the shapes restore_rng gives torch, numpy and random."""
    torch_state, numpy_state, python_state = rng.get("torch"), rng.get("numpy"), rng.get("python")
    ok = (
        isinstance(torch_state, torch.Tensor) and torch_state.dtype == torch.uint8
        and torch_state.shape == torch.get_rng_state().shape
        and isinstance(numpy_state, Mapping) and isinstance(numpy_state.get("keys"), torch.Tensor) and numpy_state["keys"].numel() == 624
        and all(isinstance(numpy_state.get(k), (int, float)) for k in ("pos", "has_gauss", "gauss"))
        and isinstance(python_state, (list, tuple)) and len(python_state) == 3
        and isinstance(python_state[1], (list, tuple)) and len(python_state[1]) == 625
    )
    if not ok:
        raise CheckpointError(f"{path}: checkpoint's RNG state is malformed (cannot resume the exact random streams)")


def capture_rng() -> dict[str, Any]:
    """Every RNG the loop touches, as tensors/ints so weights_only loading accepts them."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    numpy_state = state["numpy"]
    np.random.set_state(("MT19937", numpy_state["keys"].numpy().astype(np.uint32), numpy_state["pos"], numpy_state["has_gauss"], numpy_state["gauss"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
