"""Per-pixel confidence (max softmax probability): its values, every backend, and the calibration line."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mtl_perception.metrics import confidence_calibration
from mtl_perception.model import MultiTaskNet, NetConfig
from mtl_perception.runtime import Engine, load_artifact, save_artifact
from mtl_perception.runtime.backends import candidate_backends
from mtl_perception.runtime.engine import segmentation_tensors


def segmentation_maps(logits: torch.Tensor, size, *, confidence: bool = True) -> dict[str, np.ndarray]:
    """The engine's label and confidence maps, as numpy."""
    return {key: value[0].numpy() for key, value in segmentation_tensors(logits, size, confidence=confidence).items()}  # frame 0 of 1


def softmax_max(logits: np.ndarray) -> np.ndarray:
    """Max class probability of C×H×W logits in float64, the textbook way."""
    e = np.exp(logits - logits.max(0, keepdims=True))
    return (e / e.sum(0, keepdims=True)).max(0)


def test_confidence_is_the_max_softmax_probability_and_one_for_one_hot_large_logits():
    logits = torch.randn(1, 6, 9, 11, generator=torch.Generator().manual_seed(0)) * 3
    maps = segmentation_maps(logits, None)
    assert maps["confidence"].dtype == np.float32 and maps["confidence"].shape == (9, 11)
    assert ((maps["confidence"] >= 1 / 6) & (maps["confidence"] <= 1)).all()
    np.testing.assert_allclose(maps["confidence"], softmax_max(logits[0].double().numpy()), rtol=1e-6)
    np.testing.assert_array_equal(maps["segmentation"], logits[0].argmax(0).numpy())
    truth = torch.randint(0, 6, (9, 11), generator=torch.Generator().manual_seed(1))
    one_hot = torch.nn.functional.one_hot(truth, 6).permute(2, 0, 1)[None].float() * 100.0
    sure = segmentation_maps(one_hot, (18, 22))  # upsampled 2x: nearest keeps each pixel's pair
    np.testing.assert_array_equal(sure["confidence"], np.ones((18, 22), np.float32))
    np.testing.assert_array_equal(sure["segmentation"], truth.numpy().repeat(2, 0).repeat(2, 1))
    assert "confidence" not in segmentation_maps(logits, None, confidence=False)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    torch.manual_seed(0)
    net = MultiTaskNet(NetConfig(num_classes=4, base_channels=(8, 16), task_layers=1)).eval()
    return save_artifact(net, tmp_path_factory.mktemp("art"), class_names="abcd", palette=[(i, i, i) for i in range(4)], input_size=(32, 48))


@pytest.mark.parametrize("name", candidate_backends(torch.device("cpu")))
def test_every_backend_provides_confidence_of_its_own_logits(artifact, name):
    model, meta = load_artifact(artifact)
    engine = Engine(model, meta, device="cpu", backend=name)
    rgb = np.random.default_rng(2).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    pred = engine.predict(rgb)
    logits = engine.forward(rgb)["segmentation"][0].double().numpy()
    np.testing.assert_allclose(pred.confidence, softmax_max(logits), rtol=1e-5)
    assert engine.predict(rgb, confidence=False).confidence is None


def test_calibration_line_bins_by_decile():
    confidence = np.array([0.05, 0.15, 0.15, 0.95, 0.99, 1.0, 0.55])
    correct = np.array([False, True, False, True, True, False, True])
    rows = confidence_calibration(confidence, correct)
    assert [r["pixels"] for r in rows] == [1, 2, 0, 0, 0, 1, 0, 0, 0, 3]
    assert rows[1]["accuracy"] == 0.5 and rows[9]["accuracy"] == pytest.approx(2 / 3)
    assert rows[9]["confidence"] == pytest.approx((0.95 + 0.99 + 1.0) / 3)
    assert np.isnan(rows[2]["accuracy"]) and rows[0]["lo"] == 0.0 and rows[9]["hi"] == 1.0
