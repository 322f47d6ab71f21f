"""Whole-frame graphs (runtime/frame_graphs.py): the traced frame gives eager torch's maps, per key, bounded.

Issue 31 item 4 (the trace budget): before, 8 camera sizes cycling through the 4 cached graphs traced on every
frame: 0.34 s a frame and ~8 MB of TorchScript memory never handed back per trace (+1.6 GB over 200 frames).
Now an engine traces at most TRACE_BUDGET graphs; beyond that a size is served eagerly, with the same maps.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from mtl_perception.model import MultiTaskNet, NetConfig, collapse
from mtl_perception.runtime import Engine, load_artifact, save_artifact
from mtl_perception.runtime.frame_graphs import GRAPH_CAPACITY, TRACE_BUDGET, agrees


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    torch.manual_seed(0)
    net = collapse(MultiTaskNet(NetConfig(num_classes=4, base_channels=(8, 16), task_layers=1)), fuse_bn=True).eval()
    return save_artifact(net, tmp_path_factory.mktemp("art"), class_names="abcd", palette=[(i, i, i) for i in range(4)], input_size=(32, 48))


@pytest.fixture()
def engines(artifact):
    model, meta = load_artifact(artifact)
    return Engine(model, meta, device="cpu", backend="torchscript"), Engine(model, meta, device="cpu", backend="torch")


def frame(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def assert_same_prediction(a, b) -> None:
    for name in ("segmentation", "depth", "normals", "confidence"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is None:
            continue
        assert x.shape == y.shape and x.dtype == y.dtype, name
        if name == "segmentation":
            assert (x == y).mean() >= 0.999  # a near-tie logit may round apart in channels_last
        else:
            np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5, err_msg=name)


# camera larger than the network (antialiased shrink), equal to it, smaller, and network-size outputs
@pytest.mark.parametrize(("shape", "output_size"), [((64, 96), None), ((32, 48), None), ((20, 30), None), ((64, 96), (32, 48))])
@pytest.mark.parametrize("confidence", [True, False])
def test_traced_frame_predicts_like_eager_torch(engines, shape, output_size, confidence) -> None:
    traced, eager = engines
    rgb = frame(*shape)
    a = traced.predict(rgb, output_size=output_size, confidence=confidence)
    b = eager.predict(rgb, output_size=output_size, confidence=confidence)
    assert_same_prediction(a, b)
    assert len(traced._graphs) == 1  # the frame ran through a graph, not the eager fallback
    assert next(iter(traced._graphs._graphs.values())) is not None


def test_graphs_are_kept_per_key_and_bounded(engines, monkeypatch) -> None:
    traced, _ = engines
    calls = []
    real_trace = torch.jit.trace
    monkeypatch.setattr(torch.jit, "trace", lambda *a, **k: calls.append(1) or real_trace(*a, **k))
    for _ in range(3):
        traced.predict(frame(40, 60))
    assert len(calls) == 1  # one trace for a repeated key
    traced.predict(frame(40, 60), confidence=False)
    assert len(calls) == 2  # confidence off is its own graph
    for k in range(GRAPH_CAPACITY + 2):
        traced.predict(frame(40 + 2 * k, 60))
    assert len(traced._graphs) == GRAPH_CAPACITY


def test_untraceable_or_differing_frame_is_served_eagerly(engines, monkeypatch) -> None:
    traced, eager = engines
    rgb = frame(50, 70)
    monkeypatch.setattr(torch.jit, "trace", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("tracer says no")))
    assert_same_prediction(traced.predict(rgb), eager.predict(rgb))
    assert traced._graphs._graphs[((50, 70, 3), (50, 70), True)] is None  # remembered: not traced again

    class Shifted(torch.nn.Module):
        def forward(self, image):
            return {name: value + 1 if value.is_floating_point() else value for name, value in eager.frame_maps(image, (52, 70), True, eager.backend).items()}

    monkeypatch.setattr(torch.jit, "trace", lambda *a, **k: Shifted())
    rgb = frame(52, 70)
    assert_same_prediction(traced.predict(rgb), eager.predict(rgb))
    assert traced._graphs._graphs[((52, 70, 3), (52, 70), True)] is None


def test_two_threads_on_a_new_size_trace_once_and_agree(engines, monkeypatch) -> None:
    traced, eager = engines
    calls = []
    real_trace = torch.jit.trace
    monkeypatch.setattr(torch.jit, "trace", lambda *a, **k: calls.append(1) or real_trace(*a, **k))
    frames = [frame(36, 54, seed) for seed in range(8)]
    results: dict[int, object] = {}
    barrier = threading.Barrier(2)

    def work(offset: int) -> None:
        barrier.wait()
        for k in range(offset, len(frames), 2):
            results[k] = traced.predict(frames[k])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    for k, rgb in enumerate(frames):
        assert_same_prediction(results[k], eager.predict(rgb))


def test_cycling_more_sizes_than_the_cache_traces_a_bounded_number_of_times(engines, monkeypatch) -> None:
    traced, eager = engines
    calls = []
    real_trace = torch.jit.trace
    monkeypatch.setattr(torch.jit, "trace", lambda *a, **k: calls.append(1) or real_trace(*a, **k))
    sizes = [(24 + 4 * k, 36 + 4 * k) for k in range(2 * GRAPH_CAPACITY)]
    for _ in range(5):  # 5 rounds of 8 sizes: 40 frames, each a cache miss under plain LRU
        for k, size in enumerate(sizes):
            rgb = frame(*size, seed=k)
            assert_same_prediction(traced.predict(rgb), eager.predict(rgb))
    assert len(calls) == TRACE_BUDGET == 2 * GRAPH_CAPACITY, len(calls)
    assert len(traced._graphs) <= GRAPH_CAPACITY and traced._graphs.traces_left == 0
    # The cached sizes still run their graphs; the others eagerly, and nothing is traced any more.
    for k, size in enumerate(sizes):
        traced.predict(frame(*size, seed=k))
    assert len(calls) == TRACE_BUDGET


def test_agrees_hand_worked() -> None:
    base = {"segmentation": torch.tensor([[1, 2]], dtype=torch.uint8), "depth": torch.tensor([[2.0, 4.0]])}
    assert agrees(base, {k: v.clone() for k, v in base.items()})
    assert not agrees(dict(base, segmentation=torch.tensor([[1, 3]], dtype=torch.uint8)), base)
    assert agrees(dict(base, depth=torch.tensor([[2.0, 4.0 + 3e-5]])), base)  # 3e-5 ≤ 1e-5 × max(4, 1)
    assert not agrees(dict(base, depth=torch.tensor([[2.0, 4.0 + 5e-5]])), base)
    assert not agrees({"depth": base["depth"]}, base)


def test_a_frame_above_the_graph_pixel_limit_is_served_eagerly_and_traces_nothing(engines):
    """A graph for a huge frame held ~36 MB while cached (3000×3000); such frames skip the graphs."""
    traced, eager = engines
    traced._graphs._max_pixels = 60 * 80 - 1  # this test's 60×80 frame is one pixel over
    image = frame(60, 80)
    assert_same_prediction(traced.predict(image), eager.predict(image))
    assert len(traced._graphs) == 0 and traced._graphs.traces_left == TRACE_BUDGET
    small = frame(30, 40)
    assert_same_prediction(traced.predict(small), eager.predict(small))
    assert len(traced._graphs) == 1  # smaller frames still get their graph
