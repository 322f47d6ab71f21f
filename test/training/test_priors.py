"""Per-pixel priors against a numpy computation of the same statistics, and `eval --baselines`."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mtl_perception.data import MTANDataset
from mtl_perception.training.priors import PixelPriors, evaluate_priors

H, W, C = 3, 4, 5


def _write(root, split, count, seed):
    rng = np.random.default_rng(seed)
    arrays = []
    for i in range(count):
        label = rng.integers(-1, C, (H, W)).astype(np.int16)
        depth = np.where(rng.random((H, W)) < 0.3, 0.0, rng.uniform(0.5, 6.0, (H, W))).astype(np.float32)
        normal = rng.normal(size=(H, W, 3)).astype(np.float32)
        normal /= np.linalg.norm(normal, axis=2, keepdims=True)
        normal[rng.random((H, W)) < 0.2] = 0.0
        for name, arr in (("image", rng.random((H, W, 3)).astype(np.float32)), ("label", label), ("depth", depth[..., None]), ("normal", normal)):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            np.save(root / split / name / f"{i}.npy", arr)
        arrays.append((label, depth, normal))
    return arrays


def test_priors_match_a_numpy_computation(tmp_path):
    frames = _write(tmp_path, "train", 7, seed=0)
    priors = PixelPriors.fit(DataLoader(MTANDataset(tmp_path, "train"), batch_size=3), C, (H, W))
    labels = np.stack([f[0] for f in frames])
    depth = np.stack([f[1] for f in frames])
    normals = np.stack([f[2] for f in frames])
    for y in range(H):
        for x in range(W):
            counts = np.bincount(labels[:, y, x][labels[:, y, x] >= 0], minlength=C)
            if counts.any():
                assert priors.labels[y, x] == counts.argmax()  # ties: the lowest class, as argmax
            valid = depth[:, y, x] > 0
            if valid.any():
                assert priors.depth[0, y, x].item() == pytest.approx(depth[valid, y, x].astype(np.float64).mean(), rel=1e-6)
            mean = normals[:, y, x].astype(np.float64).sum(0)
            np.testing.assert_allclose(priors.normals[:, y, x].numpy(), mean / np.linalg.norm(mean), rtol=1e-5, atol=1e-6)


def test_priors_score_what_the_meters_give_a_constant_prediction(tmp_path):
    _write(tmp_path, "train", 5, seed=1)
    _write(tmp_path, "val", 4, seed=2)
    priors = PixelPriors.fit(DataLoader(MTANDataset(tmp_path, "train"), batch_size=2), C, (H, W))
    scored = evaluate_priors(priors, DataLoader(MTANDataset(tmp_path, "val"), batch_size=3), tasks=("segmentation", "depth"), num_classes=C, size=(H, W))
    # Second method: the pixel accuracy and abs error of the constant prediction, by hand.
    val = MTANDataset(tmp_path, "val")
    target = torch.stack([val[i]["segmentation"] for i in range(len(val))])
    labelled = target >= 0
    expected_acc = (target == priors.labels)[labelled].double().mean().item()
    depth = torch.stack([val[i]["depth"] for i in range(len(val))])
    valid = depth > 0
    expected_abs = (depth - priors.depth).abs()[valid].double().mean().item()
    assert scored["segmentation"]["pixel_acc"] == pytest.approx(expected_acc, rel=1e-9)
    assert scored["depth"]["abs_err"] == pytest.approx(expected_abs, rel=1e-6)
    assert len(scored["segmentation"]["per_class_iou"]) == C

