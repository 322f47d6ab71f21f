"""Whole-frame graphs: normalise → network → output maps traced as one call per camera size.

Eager torch takes the GIL back between ops; on a CPU shared with a ROS executor and publisher,
pre- and post-processing at camera resolution waited for it at each of their ops (eager
`Engine.predict` at 480x640 kept 0.04 of its rate beside a busy Python thread, the traced frame
0.61: benchmarks/bench_gil.py). A traced graph runs the frame without the GIL.
Graphs are keyed by (input shape, output size, confidence) and kept for the few most recent keys.

Tracing is bounded, not only the cache: each trace costs a few hundred milliseconds and leaves
memory TorchScript never hands back (its compiled types live in a process-wide compilation
unit), so when more keys cycle than the cache holds, re-tracing on every frame grew RSS by
~8 MB a frame (+1.6 GB over 200 frames cycling 8 sizes) at 0.34 s a frame. An engine traces at
most `TRACE_BUDGET` graphs in its life; once they are spent, a key without a graph is served
eagerly (same maps, with the GIL taken between ops) and nothing more is traced or held.
With a TracePool, graphs are borrowed from and handed back to it (evicted, or on close), so the
next engine of the same network and frame re-uses them instead of tracing again.
"""
from __future__ import annotations

import logging
import threading
import warnings
from collections import OrderedDict
from typing import Callable

import torch
from torch import nn

from .trace_pool import TracePool, fingerprint

LOG = logging.getLogger(__name__)
GRAPH_CAPACITY = 4  # camera sizes × confidence on/off a node sees at once
# Frames with more pixels (all frames of a batch together) are served eagerly: a graph traced
# for a 3000×3000 frame held ~36 MB for as long as it was cached, for a size no camera streams.
MAX_GRAPH_PIXELS = 1920 * 1080 * 2
TRACE_BUDGET = 2 * GRAPH_CAPACITY  # traces in an engine's life: room to replace every cached size once
WARMUP_CALLS = 2  # TorchScript's profiling executor optimises a graph on its first calls
REL_TOLERANCE = 1e-5  # the graph runs the same ops as eager; only fused kernels may round apart

Network = Callable[[torch.Tensor], dict[str, torch.Tensor]]
FrameMaps = Callable[[torch.Tensor, tuple[int, int], bool, Network], dict[str, torch.Tensor]]
Key = tuple[tuple[int, ...], tuple[int, int], bool]


class TracedFrame(nn.Module):
    """One key's frame as a module, so the tracer sees the eager network as its submodule."""

    def __init__(self, frame_maps: FrameMaps, model: nn.Module, size: tuple[int, int], confidence: bool) -> None:
        super().__init__()
        self.model = model
        self._frame_maps, self._size, self._confidence = frame_maps, size, confidence

    def network(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.model(x.contiguous(memory_format=torch.channels_last))

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return self._frame_maps(image, self._size, self._confidence, self.network)


class FrameGraphs:
    """Runs `frame_maps(image, size, confidence, network)` through a graph traced for its key.

    `model` is the eager network (channels_last) the graphs are traced through; `network` is
    what the eager fallback calls, for a key the tracer could not handle or reproduce.
    """

    def __init__(self, frame_maps: FrameMaps, model: nn.Module, network: Network, capacity: int = GRAPH_CAPACITY,
                 trace_budget: int = TRACE_BUDGET, traces: TracePool | None = None, context: tuple = (),
                 max_pixels: int = MAX_GRAPH_PIXELS) -> None:
        """`context`: what `frame_maps` depends on besides the model (preprocessing constants, device), for the pool's key."""
        self._frame_maps, self._model, self._network, self._capacity = frame_maps, model, network, capacity
        self._max_pixels = max_pixels
        self._traces, self._context = traces, context
        self.traces_left = trace_budget
        self._graphs: OrderedDict[Key, Callable[[torch.Tensor], dict[str, torch.Tensor]] | None] = OrderedDict()
        self._lock = threading.Lock()  # one worker traces a new key; the other waits for it

    def __len__(self) -> int:
        return len(self._graphs)

    def __call__(self, image: torch.Tensor, size: tuple[int, int], confidence: bool) -> dict[str, torch.Tensor]:
        key: Key = (tuple(image.shape), tuple(size), bool(confidence))
        if image.shape[:-1].numel() > self._max_pixels:
            return self._frame_maps(image, size, confidence, self._network)
        with self._lock:
            if key in self._graphs:
                self._graphs.move_to_end(key)
                graph = self._graphs[key]
            elif self.traces_left > 0:
                self.traces_left -= 1
                if not self.traces_left:
                    LOG.warning("frame graphs: the last of this engine's traces; sizes without a graph are served eagerly from now on")
                graph = self._graphs[key] = self._trace(image, key)
                while len(self._graphs) > self._capacity:
                    self._hand_back(*self._graphs.popitem(last=False))
            else:
                graph = None  # budget spent: eager, nothing traced or kept
        return graph(image) if graph is not None else self._frame_maps(image, size, confidence, self._network)

    def close(self) -> None:
        """Hand every graph back to the pool; the engine serves nothing afterwards."""
        with self._lock:
            while self._graphs:
                self._hand_back(*self._graphs.popitem(last=False))
            self.traces_left = 0

    def _pool_key(self, key: Key) -> tuple:
        return fingerprint(self._model, "frame", key, *self._context)

    def _hand_back(self, key: Key, graph: Callable | None) -> None:
        if graph is not None and self._traces is not None:
            self._traces.give_back(self._pool_key(key), graph)

    def _trace(self, image: torch.Tensor, key: Key) -> Callable[[torch.Tensor], dict[str, torch.Tensor]] | None:
        _, size, confidence = key
        frame = TracedFrame(self._frame_maps, self._model, size, confidence).eval()

        def trace() -> torch.jit.ScriptModule:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=torch.jit.TracerWarning)  # sizes are constants per key
                warnings.simplefilter("ignore", category=DeprecationWarning)
                graph = torch.jit.trace(frame, image, strict=False, check_trace=False)
                for _ in range(WARMUP_CALLS):
                    graph(image)
            return graph

        try:
            graph = self._traces.borrow(self._pool_key(key), frame, trace) if self._traces is not None else trace()
            traced = graph(image)
        except Exception as exc:  # noqa: BLE001 - a frame the tracer cannot handle is served eagerly
            LOG.warning("frame graph for %s not traced (%s: %s); serving it eagerly", key, type(exc).__name__, exc)
            return None
        with torch.no_grad():
            eager = self._frame_maps(image, size, confidence, self._network)
        if not agrees(traced, eager):
            LOG.warning("frame graph for %s differs from eager torch; serving it eagerly", key)
            return None
        return graph


def agrees(traced: dict[str, torch.Tensor], eager: dict[str, torch.Tensor]) -> bool:
    """Same maps: labels equal, every float map within REL_TOLERANCE of its largest value."""
    if traced.keys() != eager.keys():
        return False
    for name, ref in eager.items():
        out = traced[name]
        if out.shape != ref.shape or out.dtype != ref.dtype:
            return False
        if not ref.is_floating_point():
            if not torch.equal(out, ref):
                return False
        elif (out - ref).abs().max() > REL_TOLERANCE * ref.abs().max().clamp_min(1.0):
            return False
    return True
