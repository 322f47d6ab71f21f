"""The MTAN NYUv2 ``.npy`` layout: reading (validated, optionally augmented) and writing.

    root/{split}/image/{i}.npy    H×W×3 float in [0, 1] (uint8 0..255 also accepted)
    root/{split}/label/{i}.npy    H×W integral, -1 = ignore
    root/{split}/depth/{i}.npy    H×W×1 (or H×W) metres, 0 = invalid
    root/{split}/normal/{i}.npy   H×W×3 unit vectors, all-zero = invalid
    root/camera.json              optional pinhole intrinsics (fx, fy, cx, cy, height, width)
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .camera import Camera
from .renderer import Frame
from .transforms import AugmentConfig, Sample, augment as apply_augment, augment_preset

# Directory name -> sample key, in the order samples are read.
MODALITIES: tuple[tuple[str, str], ...] = (
    ("image", "image"),
    ("label", "segmentation"),
    ("depth", "depth"),
    ("normal", "normals"),
)
CAMERA_FILE = "camera.json"
_RANGE_TOL = 1e-3  # slack for values computed in float (an image at 1.0000001, a unit normal at 1.0001)


class DatasetError(ValueError):
    """A dataset on disk does not follow the MTAN layout; the message names the offending path."""


def _numeric(arr: np.ndarray, path: Path, what: str) -> None:
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise DatasetError(f"{path}: {what} has dtype {arr.dtype}, expected a numeric array")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise DatasetError(f"{path}: {what} contains NaN or infinite values")


def _load(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DatasetError(f"{path}: file is missing") from None
    except (ValueError, OSError, EOFError) as err:
        raise DatasetError(f"{path}: not a readable .npy array ({err})") from None


def check_image(arr: np.ndarray, path: Path) -> np.ndarray:
    """H×W×3 float32 in [0, 1]."""
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise DatasetError(f"{path}: image has shape {arr.shape}, expected H×W×3")
    _numeric(arr, path, "image")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if not np.issubdtype(arr.dtype, np.floating):
        raise DatasetError(f"{path}: image has dtype {arr.dtype}, expected float in [0, 1] or uint8")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -_RANGE_TOL or hi > 1 + _RANGE_TOL:
        raise DatasetError(f"{path}: image values span [{lo:g}, {hi:g}], expected [0, 1]")
    return np.clip(arr, 0.0, 1.0).astype(np.float32)


def check_label(arr: np.ndarray, path: Path, num_classes: int | None) -> np.ndarray:
    """H×W int64 in [-1, num_classes)."""
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise DatasetError(f"{path}: label has shape {arr.shape}, expected H×W")
    _numeric(arr, path, "label")
    if np.issubdtype(arr.dtype, np.floating) and not np.array_equal(arr, np.round(arr)):
        raise DatasetError(f"{path}: label holds non-integer values")
    labels = arr.astype(np.int64)
    lo, hi = int(labels.min()), int(labels.max())
    if lo < -1 or (num_classes is not None and hi >= num_classes):
        top = "" if num_classes is None else f", {num_classes - 1}"
        raise DatasetError(f"{path}: label values span [{lo}, {hi}], expected [-1{top}]")
    return labels


def check_depth(arr: np.ndarray, path: Path) -> np.ndarray:
    """1×H×W float32 metres, >= 0."""
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise DatasetError(f"{path}: depth has shape {arr.shape}, expected H×W×1 or H×W")
    _numeric(arr, path, "depth")
    if arr.size and float(arr.min()) < 0:
        raise DatasetError(f"{path}: depth has negative values (min {float(arr.min()):g}); 0 marks invalid")
    return arr.astype(np.float32)[None]


def check_normal(arr: np.ndarray, path: Path) -> np.ndarray:
    """3×H×W float32: unit vectors, or all-zero where invalid."""
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise DatasetError(f"{path}: normal has shape {arr.shape}, expected H×W×3")
    _numeric(arr, path, "normal")
    n = arr.astype(np.float32)
    norm = np.sqrt((n * n).sum(axis=2))
    valid = norm > 0
    if norm.size and float(norm.max()) > 1 + 1e-2:
        raise DatasetError(f"{path}: normal vectors reach length {float(norm.max()):g}, expected unit length")
    # Resized real data has slightly short normals; re-normalise the valid ones.
    n = np.where(valid[..., None], n / np.where(valid, norm, 1.0)[..., None], 0.0)
    return np.ascontiguousarray(n.transpose(2, 0, 1), dtype=np.float32)


def _indices(split_dir: Path) -> list[int]:
    """Sample indices present in every modality directory, or a DatasetError naming what is off."""
    if not split_dir.is_dir():
        raise DatasetError(f"{split_dir}: split directory does not exist")
    found: dict[str, set[int]] = {}
    for name, _ in MODALITIES:
        sub = split_dir / name
        if not sub.is_dir():
            raise DatasetError(f"{sub}: directory is missing")
        ids = set()
        for f in sub.glob("*.npy"):
            if not f.stem.isdigit():
                raise DatasetError(f"{f}: file name is not a sample index (expected {{i}}.npy)")
            ids.add(int(f.stem))
        found[name] = ids
    everywhere = set.intersection(*found.values())
    for name, ids in found.items():
        missing = sorted(set.union(*found.values()) - ids)
        if missing:
            shown = ", ".join(str(split_dir / name / f"{i}.npy") for i in missing[:3])
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            raise DatasetError(f"{shown}{more}: file is missing (present for the other modalities)")
    if not everywhere:
        raise DatasetError(f"{split_dir}: no samples (expected image/0.npy, label/0.npy, ...)")
    return sorted(everywhere)


class MTANDataset(Dataset):
    """Samples from ``root/split`` as tensors: image 3×H×W, segmentation H×W int64,
    depth 1×H×W, normals 3×H×W (see the module docstring for the file layout).

    Every file is validated when read; a malformed one raises ``DatasetError`` naming it.
    ``augment`` (True: the "basic" preset; a name in ``AUGMENT_PRESETS`` such as "camera"; or an
    ``AugmentConfig``) enables scale-crop, flip, jitter and camera effects; with True or a name,
    ``crop_scale`` replaces the preset's. Their randomness is drawn from ``seed`` (with
    ``set_epoch``), else from torch's generator, which the DataLoader seeds differently per
    worker and epoch.
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        *,
        augment: bool | str | AugmentConfig = False,
        crop_scale: tuple[float, float] = (1.0, 1.2),
        seed: int | None = None,
        num_classes: int | None = None,
    ):
        self.root = Path(root)
        self.split = split
        self.split_dir = self.root / split
        self.indices = _indices(self.split_dir)
        if isinstance(augment, AugmentConfig):
            self.augment: AugmentConfig | None = augment
        elif isinstance(augment, str):
            self.augment = augment_preset(augment, crop_scale=tuple(crop_scale))
        else:
            self.augment = AugmentConfig(crop_scale=tuple(crop_scale)) if augment else None
        self.seed = seed
        self.num_classes = num_classes
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Vary seeded augmentation across epochs (like DistributedSampler.set_epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.indices)

    def path(self, modality: str, i: int) -> Path:
        return self.split_dir / modality / f"{self.indices[i]}.npy"

    def load_arrays(self, i: int) -> dict[str, np.ndarray]:
        """Validated arrays (channel-first, loader dtypes) of sample i, without augmentation."""
        paths = {name: self.path(name, i) for name, _ in MODALITIES}
        arrays = {
            "image": check_image(_load(paths["image"]), paths["image"]).transpose(2, 0, 1),
            "segmentation": check_label(_load(paths["label"]), paths["label"], self.num_classes),
            "depth": check_depth(_load(paths["depth"]), paths["depth"]),
            "normals": check_normal(_load(paths["normal"]), paths["normal"]),
        }
        size = arrays["image"].shape[-2:]
        for (name, key) in MODALITIES[1:]:
            if arrays[key].shape[-2:] != size:
                raise DatasetError(
                    f"{paths[name]}: {name} is {arrays[key].shape[-2:]} pixels but "
                    f"{paths['image']} is {size}"
                )
        return arrays

    def _rng(self, i: int) -> np.random.Generator:
        if self.seed is not None:
            return np.random.default_rng([self.seed, self.epoch, i])
        return np.random.default_rng([int(torch.randint(0, 2**62, ()).item()), i])

    def check_index(self, i: int) -> int:
        if not -len(self) <= i < len(self):
            raise IndexError(f"sample {i} out of range for {len(self)} samples")
        return i % len(self)

    def augmented(self, sample: Sample, i: int) -> Sample:
        """Sample i after this dataset's augmentation (unchanged when augmentation is off)."""
        return apply_augment(sample, self.augment, self._rng(i)) if self.augment is not None else sample

    def __getitem__(self, i: int) -> Sample:
        i = self.check_index(i)
        return self.augmented({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in self.load_arrays(i).items()}, i)


def read_camera(root: str | Path) -> Camera | None:
    """Intrinsics from ``root/camera.json``, or None when the dataset has none (e.g. real NYUv2)."""
    path = Path(root) / CAMERA_FILE
    if not path.exists():
        return None
    try:
        return Camera.from_dict(json.loads(path.read_text()))
    except (ValueError, TypeError) as err:  # JSONDecodeError is a ValueError
        raise DatasetError(f"{path}: invalid camera intrinsics ({err})") from None


def write_camera(root: str | Path, camera: Camera) -> Path:
    path = Path(root) / CAMERA_FILE
    path.write_text(json.dumps(camera.to_dict(), indent=2) + "\n")
    return path


def write_sample(split_dir: str | Path, index: int, frame: Frame) -> None:
    """Write one frame in the MTAN layout (labels as int16: -1..32767 is plenty and 4× smaller)."""
    split_dir = Path(split_dir)
    arrays = {
        "image": frame.image.astype(np.float32),
        "label": frame.label.astype(np.int16),
        "depth": frame.depth.astype(np.float32)[..., None],
        "normal": frame.normal.astype(np.float32),
    }
    for name, arr in arrays.items():
        (split_dir / name).mkdir(parents=True, exist_ok=True)
        np.save(split_dir / name / f"{index}.npy", arr)
