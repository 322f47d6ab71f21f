"""In-memory ONNX exports of a network, kept per process so that exporting the same network again is free.

torch.onnx's exporter takes seconds (torch.export traces the whole network), and a node exports
its model at every configure; a lifecycle cleanup/configure cycle, or a second engine on the same
artifact, then reuses the bytes. The key holds the network's structure (trace_pool.fingerprint)
and a digest of its weights, since an export bakes the weights in.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from collections import OrderedDict

import torch
from torch import nn

from .trace_pool import fingerprint

MAX_BATCH = 64  # frames in one pass (one per camera); the exported graph accepts 1..MAX_BATCH


def weights_digest(model: nn.Module) -> str:
    """A digest of every parameter's and buffer's values, in state_dict order."""
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def export_onnx_bytes(model: nn.Module, tasks: tuple[str, ...], in_channels: int, input_size: tuple[int, int]) -> bytes:
    """`model` (fp32, CPU, eval) as an ONNX graph: input 'image' B×C×H×W with B dynamic, one output per task."""
    example = torch.zeros(1, in_channels, *input_size)
    # The exporter narrates on stdout/stderr and the logging module; keep the node's log clean.
    quiet = logging.getLogger("torch.onnx")
    previous, quiet.level = quiet.level, logging.ERROR
    try:
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            program = torch.onnx.export(
                model.cpu().float().eval(), (example,), input_names=["image"], output_names=list(tasks), dynamo=True,
                dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=MAX_BATCH)},), verbose=False,
            )
    finally:
        quiet.setLevel(previous)
    return program.model_proto.SerializeToString()


class OnnxExports:
    """The last `capacity` exports of this process, by network structure and weights."""

    def __init__(self, capacity: int = 2) -> None:
        self.capacity = capacity
        self.exports_made = 0  # how many times the exporter actually ran (tests read it)
        self._entries: OrderedDict[tuple, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, model: nn.Module, tasks: tuple[str, ...], in_channels: int, input_size: tuple[int, int]) -> bytes:
        key = (fingerprint(model, tasks, in_channels, input_size), weights_digest(model))
        with self._lock:  # two engines configuring at once export once
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            onnx = export_onnx_bytes(model, tasks, in_channels, input_size)
            self.exports_made += 1
            self._entries[key] = onnx
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
            return onnx


PROCESS_EXPORTS = OnnxExports()
