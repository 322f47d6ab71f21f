"""Camera-realism effects on one image (numpy H×W×3 float32 in [0, 1], display-encoded).

The image is decoded to linear light with a fixed display gamma, goes through what a real camera
does to light (exposure, white balance, vignetting, lens and motion blur, lateral chromatic
aberration, shot and read noise, clipping), is re-encoded, given a random tone curve and finally
JPEG-compressed. Every effect is a pure function of its arguments; ``camera_effects`` draws them
from an ``AugmentConfig`` and a numpy generator. Image only: labels, depth and normals never change.
"""
from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import torch

DISPLAY_GAMMA = 2.2  # display encoding assumed for the stored images (close to sRGB)


def to_linear(image: np.ndarray) -> np.ndarray:
    return np.power(np.maximum(image, 0.0), np.float32(DISPLAY_GAMMA), dtype=np.float32)


def to_display(linear: np.ndarray) -> np.ndarray:
    return np.power(np.clip(linear, 0.0, 1.0), np.float32(1.0 / DISPLAY_GAMMA), dtype=np.float32)


@functools.lru_cache(maxsize=8)
def radius2(height: int, width: int) -> np.ndarray:
    """H×W squared distance from the image centre, 1 at the corners (read-only, cached per size)."""
    y = (np.arange(height, dtype=np.float32) - (height - 1) / 2) / ((height - 1) / 2 or 1)
    x = (np.arange(width, dtype=np.float32) - (width - 1) / 2) / ((width - 1) / 2 or 1)
    r2 = (x[None, :] ** 2 + y[:, None] ** 2) / np.float32(2.0)
    r2.setflags(write=False)
    return r2


def vignette(linear: np.ndarray, strength: float) -> np.ndarray:
    """Light fall-off: × (1 − strength·r²), r = 1 at the corners (the centre is untouched)."""
    h, w = linear.shape[:2]
    return linear * (np.float32(1.0) - np.float32(strength) * radius2(h, w))[..., None]


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Lens blur: a Gaussian of ``sigma`` pixels (edges reflected); the image itself for sigma <= 0."""
    import cv2

    if sigma <= 0:
        return image
    return cv2.GaussianBlur(image, (0, 0), sigmaX=float(sigma), sigmaY=float(sigma), borderType=cv2.BORDER_REFLECT)


def motion_kernel(length: float, angle: float) -> np.ndarray:
    """Normalised line kernel of ``length`` pixels at ``angle`` (radians), anti-aliased by sampling."""
    size = 2 * math.ceil(length / 2) + 3  # room for the bilinear splat's second pixel
    s = np.linspace(-length / 2, length / 2, 4 * size)
    x, y = size // 2 + s * math.cos(angle), size // 2 + s * math.sin(angle)
    x0, y0 = np.floor(x).astype(np.intp), np.floor(y).astype(np.intp)
    fx, fy = x - x0, y - y0
    kernel = np.zeros((size, size), dtype=np.float64)
    for dy, wy in ((0, 1 - fy), (1, fy)):  # bilinear splat of points along the line
        for dx, wx in ((0, 1 - fx), (1, fx)):
            np.add.at(kernel, (y0 + dy, x0 + dx), wy * wx)
    return (kernel / kernel.sum()).astype(np.float32)


def motion_blur(image: np.ndarray, length: float, angle: float) -> np.ndarray:
    """Camera shake during the exposure: a line blur of ``length`` pixels at ``angle`` (radians)."""
    import cv2

    return cv2.filter2D(image, -1, motion_kernel(length, angle), borderType=cv2.BORDER_REFLECT)


def chromatic_shift(image: np.ndarray, pixels: float) -> np.ndarray:
    """Lateral chromatic aberration: red magnified and blue shrunk about the centre, so each is
    displaced by ``pixels`` at the corners (green untouched)."""
    import cv2

    h, w = image.shape[:2]
    corner = math.hypot((w - 1) / 2, (h - 1) / 2)
    out = image.copy()
    for channel, sign in ((0, 1.0), (2, -1.0)):
        s = 1.0 + sign * pixels / corner
        cx, cy = (w - 1) / 2, (h - 1) / 2
        m = np.array([[s, 0.0, cx * (1 - s)], [0.0, s, cy * (1 - s)]], dtype=np.float64)
        out[..., channel] = cv2.warpAffine(
            np.ascontiguousarray(image[..., channel]), m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
    return out


def sensor_noise(linear: np.ndarray, shot: float, read: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise in linear light with variance shot²·x + read² (x the signal): photon shot
    noise grows with the signal, read noise does not. The normals come from torch's generator
    (2.5× faster than numpy's), seeded from ``rng``."""
    sigma = np.sqrt(np.float32(shot * shot) * np.maximum(linear, 0.0) + np.float32(read * read))
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    return linear + sigma * torch.randn(linear.shape, generator=generator).numpy()


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """JPEG round trip at ``quality`` (1..100): blocking and ringing, 8-bit quantisation; float32 out."""
    import cv2

    rgb8 = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", rgb8[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("OpenCV could not JPEG-encode the image")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) * np.float32(1.0 / 255.0)


def _on(rng: np.random.Generator, prob: float) -> bool:
    """Whether an effect of probability ``prob`` applies; draws nothing when it is off (prob 0)."""
    return prob > 0 and rng.random() < prob


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(math.exp(rng.uniform(math.log(bounds[0]), math.log(bounds[1]))))


def _optics(linear: np.ndarray, c: Any, rng: np.random.Generator) -> np.ndarray:
    """What happens before the light reaches the sensor, in linear light."""
    if _on(rng, c.exposure_prob):
        linear = linear * np.float32(_log_uniform(rng, c.exposure))
    if _on(rng, c.white_balance_prob):
        gains = np.exp(rng.uniform(-c.white_balance, c.white_balance, size=3)).astype(np.float32)
        linear = linear * (gains / gains[1])  # green is the reference channel
    if _on(rng, c.vignetting_prob):
        linear = vignette(linear, rng.uniform(*c.vignetting))
    if _on(rng, c.blur_prob):
        linear = gaussian_blur(linear, rng.uniform(*c.blur_sigma))
    if _on(rng, c.motion_blur_prob):
        linear = motion_blur(linear, rng.uniform(*c.motion_length), rng.uniform(0.0, math.pi))
    if _on(rng, c.chromatic_prob):
        linear = chromatic_shift(linear, rng.uniform(*c.chromatic_shift))
    return linear


def camera_effects(image: np.ndarray, c: Any, rng: np.random.Generator) -> np.ndarray:
    """The camera effects of AugmentConfig ``c`` on an H×W×3 display-encoded image, each applied
    with its probability and drawn from its range; the image itself when all are off."""
    linear_effects = (c.exposure_prob, c.white_balance_prob, c.vignetting_prob, c.blur_prob,
                      c.motion_blur_prob, c.chromatic_prob, c.noise_prob)
    if any(p > 0 for p in linear_effects):
        linear = _optics(to_linear(image), c, rng)
        if _on(rng, c.noise_prob):
            linear = sensor_noise(linear, rng.uniform(*c.shot_noise), rng.uniform(*c.read_noise), rng)
        image = to_display(linear)
    if _on(rng, c.gamma_prob):
        image = np.power(image, np.float32(_log_uniform(rng, c.gamma)), dtype=np.float32)
    if _on(rng, c.jpeg_prob):
        image = jpeg(image, int(rng.integers(c.jpeg_quality[0], c.jpeg_quality[1] + 1)))
    return np.clip(image, 0.0, 1.0)
