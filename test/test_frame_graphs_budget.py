"""Issue 31 item 4: more camera sizes than the graph cache holds must not re-trace on every frame.

Before, 8 sizes cycling through the 4 cached graphs traced on every frame: 0.34 s a frame and
~8 MB of TorchScript memory never handed back per trace (+1.6 GB over 200 frames). Now an
engine traces at most TRACE_BUDGET graphs; beyond that a size is served eagerly, with the same maps.
"""
from __future__ import annotations

import torch

from mtl_perception.runtime.frame_graphs import GRAPH_CAPACITY, TRACE_BUDGET
from test_frame_graphs import artifact, assert_same_prediction, engines, frame  # noqa: F401 - fixtures


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
