"""Issue 30: several cameras' frames in one forward pass give each frame's own outputs.

Checked against `predict` on each frame alone (the single-camera path), for every backend that
runs here; labels may differ only where the top two classes tie within float rounding.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mtl_perception.model import MultiTaskNet, NetConfig
from mtl_perception.runtime import load_artifact, save_artifact
from mtl_perception.runtime.engine import Engine, InputError

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    torch.manual_seed(0)
    net = MultiTaskNet(NetConfig(num_classes=4, width=0.25)).eval()
    directory = save_artifact(net, tmp_path_factory.mktemp("batch") / "net", class_names=[f"c{i}" for i in range(4)],
                              palette=[(i * 50, 0, 0) for i in range(4)], input_size=(48, 64), name="batch-test")
    return load_artifact(directory)


def frames(count: int, height: int = 60, width: int = 80) -> list[np.ndarray]:
    rng = np.random.default_rng(count)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(count)]


@pytest.mark.parametrize("backend", ["torch", "torch_channels_last", "torchscript", "onnxruntime"])
def test_batched_outputs_equal_single_frame_outputs(artifact, backend):
    model, meta = artifact
    engine = Engine(model, meta, device="cpu", backend=backend, traces=None)
    batch = frames(3)
    sizes = [(60, 80), (30, 40), (120, 160)]  # each camera its own output size
    batched = engine.predict_batch(batch, output_sizes=sizes, confidence=True)
    assert len(batched) == 3
    for frame, size, got in zip(batch, sizes, batched):
        alone = engine.predict(frame, output_size=size, confidence=True)
        assert got.segmentation.shape == size and got.normals.shape == (*size, 3)
        assert np.mean(got.segmentation == alone.segmentation) >= 0.999
        for name in ("depth", "normals", "confidence"):
            np.testing.assert_allclose(getattr(got, name), getattr(alone, name), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("backend", ["torch_channels_last", "torchscript", "onnxruntime"])
@pytest.mark.parametrize("output_size", [None, (30, 40)])
def test_a_batch_with_one_output_size_runs_as_one_frame_graph_and_equals_single_frames(artifact, backend, output_size):
    """The node's case: every camera's outputs at one size (its input size, or the network's)."""
    model, meta = artifact
    engine = Engine(model, meta, device="cpu", backend=backend, traces=None)
    batch = frames(4)
    sizes = None if output_size is None else [output_size] * 4
    batched = engine.predict_batch(batch, output_sizes=sizes, confidence=True)
    if backend == "torchscript":
        assert any(key[0][0] == 4 for key in engine._graphs._graphs)  # traced once for the batch of 4
    for frame, got in zip(batch, batched):
        alone = engine.predict(frame, output_size=output_size, confidence=True)
        assert np.mean(got.segmentation == alone.segmentation) >= 0.999
        for name in ("depth", "normals", "confidence"):
            np.testing.assert_allclose(getattr(got, name), getattr(alone, name), rtol=1e-4, atol=1e-5)


def test_a_batch_of_mixed_sizes_is_refused_in_one_line(artifact):
    model, meta = artifact
    engine = Engine(model, meta, device="cpu", backend="torch", traces=None)
    with pytest.raises(InputError, match="one size"):
        engine.predict_batch([*frames(1), *frames(1, 30, 40)])
    with pytest.raises(ValueError, match="2 frames but 1 output sizes"):
        engine.predict_batch(frames(2), output_sizes=[(10, 10)])
    assert engine.predict_batch([]) == []
