"""The process's ONNX exports: the same network and weights export once; other weights never get a stale graph."""
from __future__ import annotations

import copy
import threading

import numpy as np
import pytest
import torch

from mtl_perception.model import MultiTaskNet, NetConfig
from mtl_perception.runtime import load_artifact, save_artifact
from mtl_perception.runtime.backends import make_backend
from mtl_perception.runtime.engine import Engine
from mtl_perception.runtime.onnx_exports import OnnxExports, weights_digest

SIZE = (32, 48)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    torch.manual_seed(0)
    net = MultiTaskNet(NetConfig(num_classes=4, width=0.25)).eval()
    directory = save_artifact(net, tmp_path_factory.mktemp("onnx") / "net", class_names=[f"c{i}" for i in range(4)],
                              palette=[(i * 50, 0, 0) for i in range(4)], input_size=SIZE, name="onnx-test")
    return load_artifact(directory)


def nudged(model: MultiTaskNet) -> MultiTaskNet:
    """A copy with every weight moved a little: the same structure, another function."""
    other = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for parameter in other.parameters():
            parameter.add_(0.2 * torch.randn(parameter.shape, generator=generator))
    return other


def assert_computes(engine: Engine, model: MultiTaskNet) -> None:
    """`engine`'s network output equals eager fp32 torch on `model` (the reference it must compute)."""
    frame = np.random.default_rng(1).integers(0, 256, (*SIZE, 3), dtype=np.uint8)
    with torch.no_grad():
        expected = model.eval()(engine.preprocess(frame))
    got = engine.forward(frame)
    for task, value in expected.items():
        torch.testing.assert_close(got[task], value, rtol=1e-4, atol=1e-4)


def test_the_same_network_and_weights_export_once(artifact):
    model, meta = artifact
    exports = OnnxExports()
    first = Engine(model, meta, device="cpu", backend="onnxruntime", traces=None, exports=exports)
    second = Engine(copy.deepcopy(model), meta, device="cpu", backend="onnxruntime", traces=None, exports=exports)
    assert exports.exports_made == 1
    assert_computes(first, model)
    assert_computes(second, model)


def test_other_weights_get_their_own_export_and_compute_their_own_function(artifact):
    model, meta = artifact
    exports = OnnxExports()
    Engine(model, meta, device="cpu", backend="onnxruntime", traces=None, exports=exports)
    other = nudged(model)
    engine = Engine(other, meta, device="cpu", backend="onnxruntime", traces=None, exports=exports)
    assert exports.exports_made == 2
    assert_computes(engine, other)
    with pytest.raises(AssertionError):
        assert_computes(engine, model)  # the nudge changes the output: the check above can fail


def test_the_oldest_export_is_dropped_beyond_capacity(artifact):
    model, meta = artifact
    exports = OnnxExports(capacity=1)
    other = nudged(model)
    for net in (model, other, model):
        Engine(net, meta, device="cpu", backend="onnxruntime", traces=None, exports=exports)
    assert exports.exports_made == 3


def test_weights_digest_follows_values_not_objects(artifact):
    model, _ = artifact
    assert weights_digest(model) == weights_digest(copy.deepcopy(model))
    assert weights_digest(model) != weights_digest(nudged(model))


def test_the_session_runs_on_as_many_threads_as_torch_has_on_the_building_thread(artifact):
    """The node builds the engine on an inference worker set to its planned torch threads."""
    model, _ = artifact
    built = {}

    def build(threads: int) -> None:
        torch.set_num_threads(threads)
        built[threads] = make_backend("onnxruntime", model, torch.device("cpu"), SIZE, exports=OnnxExports())

    for threads in (1, 2):
        worker = threading.Thread(target=build, args=(threads,))
        worker.start()
        worker.join()
    assert {n: b.session.get_session_options().intra_op_num_threads for n, b in built.items()} == {1: 1, 2: 2}
