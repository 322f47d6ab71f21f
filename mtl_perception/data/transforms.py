"""Training augmentation on one sample: geometric transforms keep the four tasks consistent.

A sample is the loader's dict of tensors: image 3×H×W, segmentation H×W,
depth 1×H×W, normals 3×H×W. Geometric transforms act on all of them (labels,
depth and normals with nearest-neighbour sampling, so invalid pixels are never
blended with valid ones); photometric jitter touches the image only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

Sample = dict[str, torch.Tensor]


@dataclass(frozen=True)
class AugmentConfig:
    crop_scale: tuple[float, float] = (1.0, 1.2)  # zoom range of the random scale-crop (1 = none)
    flip_prob: float = 0.5
    brightness: float = 0.2  # multiplicative, ±
    contrast: float = 0.2  # blend with the image mean, ±
    saturation: float = 0.2  # blend with grey, ±

    def __post_init__(self) -> None:
        lo, hi = self.crop_scale
        if not 1.0 <= lo <= hi:
            raise ValueError(f"crop_scale must satisfy 1 <= lo <= hi, got {self.crop_scale}")
        if not 0.0 <= self.flip_prob <= 1.0:
            raise ValueError(f"flip_prob must be in [0, 1], got {self.flip_prob}")


def hflip(sample: Sample) -> Sample:
    """Mirror left-right; the normal's x component changes sign (zeros stay invalid)."""
    out = {k: v.flip(-1) for k, v in sample.items()}
    out["normals"] = out["normals"] * torch.tensor([-1.0, 1.0, 1.0]).view(3, 1, 1)
    return out


def scale_crop(sample: Sample, top: int, left: int, height: int, width: int) -> Sample:
    """Crop a height×width window and resize it back to the full size.

    Enlarging the view by s looks like moving the camera s times closer, so
    depth is divided by s (the geometric mean of the two axes' zooms).
    """
    h, w = sample["image"].shape[-2:]
    if not (0 <= top and 0 <= left and 0 < height and 0 < width and top + height <= h and left + width <= w):
        raise ValueError(f"crop {height}x{width} at ({top}, {left}) does not fit a {h}x{w} sample")
    zoom = float(np.sqrt((h / height) * (w / width)))

    def resize(x: torch.Tensor, mode: str) -> torch.Tensor:
        crop = x[..., top : top + height, left : left + width]
        batched = crop.reshape(1, -1, height, width)
        kwargs = {"align_corners": False} if mode == "bilinear" else {}
        return F.interpolate(batched.float(), size=(h, w), mode=mode, **kwargs).reshape(*x.shape[:-2], h, w)

    return {
        "image": resize(sample["image"], "bilinear").clamp_(0.0, 1.0),
        "segmentation": resize(sample["segmentation"], "nearest-exact").to(sample["segmentation"].dtype),
        "depth": resize(sample["depth"], "nearest-exact") / zoom,
        "normals": resize(sample["normals"], "nearest-exact"),
    }


def photometric(sample: Sample, brightness: float, contrast: float, saturation: float) -> Sample:
    """Brightness gain, contrast and saturation factors (1 = unchanged); image only."""
    img = sample["image"] * brightness
    img = img.mean() + (img - img.mean()) * contrast
    grey = (img * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0, keepdim=True)
    img = grey + (img - grey) * saturation
    return {**sample, "image": img.clamp_(0.0, 1.0)}


def augment(sample: Sample, config: AugmentConfig, rng: np.random.Generator) -> Sample:
    """Random scale-crop, horizontal flip and photometric jitter, drawn from ``rng``."""
    h, w = sample["image"].shape[-2:]
    scale = rng.uniform(*config.crop_scale)
    if scale > 1.0:
        ch, cw = max(1, round(h / scale)), max(1, round(w / scale))
        if (ch, cw) != (h, w):
            top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            sample = scale_crop(sample, top, left, ch, cw)
    if rng.random() < config.flip_prob:
        sample = hflip(sample)
    return photometric(
        sample,
        brightness=rng.uniform(1 - config.brightness, 1 + config.brightness),
        contrast=rng.uniform(1 - config.contrast, 1 + config.contrast),
        saturation=rng.uniform(1 - config.saturation, 1 + config.saturation),
    )
