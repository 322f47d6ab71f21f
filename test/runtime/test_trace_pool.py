"""Issue 31 item 3: TorchScript traces are made once per network and re-used across engine lifetimes.

TorchScript never frees what a trace registers, so an engine per configure grew the process by
~37 MB each time. Closed engines hand their traces back; the next engine re-points them at its
own weights. Checked against eager torch on a second set of weights, not against the first trace.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mtl_perception.model import MultiTaskNet, NetConfig
from mtl_perception.runtime import load_artifact, save_artifact
from mtl_perception.runtime.engine import Engine
from mtl_perception.runtime.trace_pool import TracePool

torch.set_num_threads(1)
SIZE = (48, 64)


def artifact(tmp_path, seed: int):
    torch.manual_seed(seed)
    net = MultiTaskNet(NetConfig(num_classes=4, width=0.25)).eval()
    with torch.no_grad():  # BN statistics that differ per seed, so the weights really differ
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0.0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    directory = save_artifact(net, tmp_path / f"net{seed}", class_names=[f"c{i}" for i in range(4)],
                              palette=[(i * 50, 0, 0) for i in range(4)], input_size=SIZE, name=f"net{seed}")
    return load_artifact(directory)


def frame(seed: int, height: int = 60, width: int = 80) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def assert_same_prediction(traced, eager) -> None:
    np.testing.assert_array_equal(traced.segmentation, eager.segmentation)
    for name in ("depth", "normals", "confidence"):
        np.testing.assert_allclose(getattr(traced, name), getattr(eager, name), rtol=1e-4, atol=1e-5)


def test_closed_engines_lend_their_traces_to_the_next_engine_of_the_same_network(tmp_path):
    pool = TracePool()
    first, second = artifact(tmp_path, 0), artifact(tmp_path, 1)
    image = frame(0)
    for cycle in range(4):
        model, meta = (first, second)[cycle % 2]
        engine = Engine(model, meta, device="cpu", backend="torchscript", traces=pool)
        traced = engine.predict(image)
        engine.close()
        eager = Engine(model, meta, device="cpu", backend="torch", traces=None).predict(image)
        assert_same_prediction(traced, eager)  # a borrowed trace computes this engine's weights, not the lender's
        assert pool.traces_made == 2  # the network and one frame graph, traced in the first cycle only
    assert pool.kept() == 2
    with pytest.raises(RuntimeError, match="closed"):
        engine.backend(torch.zeros(1, 3, *SIZE))


def test_two_live_engines_never_share_a_trace(tmp_path):
    pool = TracePool()
    model, meta = artifact(tmp_path, 0)
    other_model, other_meta = artifact(tmp_path, 1)
    one = Engine(model, meta, device="cpu", backend="torchscript", traces=pool)
    two = Engine(other_model, other_meta, device="cpu", backend="torchscript", traces=pool)
    assert one.backend.module is not two.backend.module and pool.traces_made == 2
    image = frame(1)
    assert_same_prediction(one.predict(image), Engine(model, meta, device="cpu", backend="torch").predict(image))
    assert_same_prediction(two.predict(image), Engine(other_model, other_meta, device="cpu", backend="torch").predict(image))


def test_a_kept_trace_holds_no_weights(tmp_path):
    pool = TracePool()
    model, meta = artifact(tmp_path, 0)
    engine = Engine(model, meta, device="cpu", backend="torchscript", traces=pool)
    module = engine.backend.module
    assert sum(t.numel() for t in module.state_dict().values()) == sum(t.numel() for t in model.state_dict().values())
    engine.close()
    assert sum(t.numel() for t in module.state_dict().values()) == 0


def test_handing_back_an_evicted_graph_leaves_the_live_engine_whole(tmp_path):
    """Graphs traced in one engine share its network's tensors; handing one back (evicted from the
    cache) must not empty the network the engine is still serving with."""
    from mtl_perception.runtime.frame_graphs import GRAPH_CAPACITY

    pool = TracePool()
    model, meta = artifact(tmp_path, 0)
    engine = Engine(model, meta, device="cpu", backend="torchscript", traces=pool)
    eager = Engine(model, meta, device="cpu", backend="torch", traces=None)
    sizes = [(40 + 8 * i, 56 + 8 * i) for i in range(GRAPH_CAPACITY + 2)]  # more sizes than the cache keeps
    for height, width in sizes + sizes[:2]:
        image = frame(height, height, width)
        assert_same_prediction(engine.predict(image), eager.predict(image))
    assert pool.kept() >= 2  # evicted graphs went back to the pool
