"""Training augmentation on one sample: geometric transforms keep the four tasks consistent.

A sample is the loader's dict of tensors: image 3×H×W, segmentation H×W,
depth 1×H×W, normals 3×H×W. Geometric transforms act on all of them (labels,
depth and normals with nearest-neighbour sampling, so invalid pixels are never
blended with valid ones); photometric jitter and the camera effects
(``camera_effects``: exposure, white balance, gamma, sensor noise, blur, JPEG,
vignetting, chromatic shift) touch the image only. ``AUGMENT_PRESETS`` names
configurations: "basic" is ``AugmentConfig()``, "camera" adds every camera effect.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import torch
import torch.nn.functional as F

from .camera_effects import camera_effects

Sample = dict[str, torch.Tensor]
Range = tuple[float, float]


@dataclass(frozen=True)
class AugmentConfig:
    """Per-sample augmentation. The first five fields are the geometric and photometric jitter;
    each camera effect has a probability (0 = off, and then it draws no random number, so a
    configuration without camera effects reproduces the original augmentation exactly) and a
    range drawn uniformly (log-uniformly for exposure and gamma). Noise is in linear light:
    variance shot²·x + read²; motion blur and chromatic shift are in pixels at the sample's size."""

    crop_scale: Range = (1.0, 1.2)  # zoom range of the random scale-crop (1 = none)
    flip_prob: float = 0.5
    brightness: float = 0.2  # multiplicative, ±
    contrast: float = 0.2  # blend with the image mean, ±
    saturation: float = 0.2  # blend with grey, ±
    exposure_prob: float = 0.0
    exposure: Range = (0.5, 2.0)  # gain in linear light; highlights clip
    white_balance_prob: float = 0.0
    white_balance: float = 0.2  # red and blue gains relative to green: exp(±this)
    gamma_prob: float = 0.0
    gamma: Range = (0.7, 1.4)  # tone curve image ** gamma
    noise_prob: float = 0.0
    shot_noise: Range = (0.0, 0.04)
    read_noise: Range = (0.002, 0.015)
    blur_prob: float = 0.0
    blur_sigma: Range = (0.3, 1.2)  # lens blur, Gaussian sigma
    motion_blur_prob: float = 0.0
    motion_length: Range = (2.0, 8.0)
    jpeg_prob: float = 0.0
    jpeg_quality: tuple[int, int] = (30, 95)
    vignetting_prob: float = 0.0
    vignetting: Range = (0.1, 0.5)  # fall-off at the corners
    chromatic_prob: float = 0.0
    chromatic_shift: Range = (0.2, 1.0)

    def __post_init__(self) -> None:
        lo, hi = self.crop_scale
        if not 1.0 <= lo <= hi:
            raise ValueError(f"crop_scale must satisfy 1 <= lo <= hi, got {self.crop_scale}")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_prob") and not 0.0 <= value <= 1.0:
                raise ValueError(f"{f.name} must be in [0, 1], got {value}")
            if isinstance(value, tuple) and f.name != "crop_scale" and not 0 <= value[0] <= value[1]:
                raise ValueError(f"{f.name} must satisfy 0 <= lo <= hi, got {value}")
        if self.exposure[0] <= 0 or self.gamma[0] <= 0 or not 1 <= self.jpeg_quality[0] <= self.jpeg_quality[1] <= 100:
            raise ValueError("exposure and gamma need positive ranges and jpeg_quality one within 1..100")

    @property
    def any_camera_effect(self) -> bool:
        """Whether any camera effect is on."""
        return any(getattr(self, f.name) > 0 for f in fields(self) if f.name.endswith("_prob") and f.name != "flip_prob")


AUGMENT_PRESETS: dict[str, AugmentConfig] = {
    "basic": AugmentConfig(),
    "camera": AugmentConfig(
        exposure_prob=0.7,
        white_balance_prob=0.7,
        gamma_prob=0.5,
        noise_prob=0.8,
        blur_prob=0.4,
        motion_blur_prob=0.25,
        jpeg_prob=0.6,
        vignetting_prob=0.4,
        chromatic_prob=0.2,
    ),
}


def augment_preset(name: str, **overrides) -> AugmentConfig:
    """The preset ``name`` of AUGMENT_PRESETS with fields replaced by ``overrides``; an unknown
    name raises ValueError listing the known ones."""
    if name not in AUGMENT_PRESETS:
        raise ValueError(f"unknown augmentation preset {name!r}; known: {', '.join(AUGMENT_PRESETS)}")
    return replace(AUGMENT_PRESETS[name], **overrides)


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


def camera(sample: Sample, config: AugmentConfig, rng: np.random.Generator) -> Sample:
    """The configuration's camera effects on the image (3×H×W); the other tasks pass through."""
    if not config.any_camera_effect:
        return sample
    image = camera_effects(np.ascontiguousarray(sample["image"].numpy().transpose(1, 2, 0)), config, rng)
    return {**sample, "image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))}


def augment(sample: Sample, config: AugmentConfig, rng: np.random.Generator) -> Sample:
    """Random scale-crop, horizontal flip, photometric jitter and camera effects, drawn from ``rng``."""
    h, w = sample["image"].shape[-2:]
    scale = rng.uniform(*config.crop_scale)
    if scale > 1.0:
        ch, cw = max(1, round(h / scale)), max(1, round(w / scale))
        if (ch, cw) != (h, w):
            top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            sample = scale_crop(sample, top, left, ch, cw)
    if rng.random() < config.flip_prob:
        sample = hflip(sample)
    sample = photometric(
        sample,
        brightness=rng.uniform(1 - config.brightness, 1 + config.brightness),
        contrast=rng.uniform(1 - config.contrast, 1 + config.contrast),
        saturation=rng.uniform(1 - config.saturation, 1 + config.saturation),
    )
    return camera(sample, config, rng)
