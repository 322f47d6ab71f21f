"""Finished TorchScript traces, kept for the next engine of the same network in this process.

TorchScript registers the classes and code of every trace in one process-wide compilation unit
and never frees them: about 37 MB per configure of the bundled model (its network and one frame
graph), so a node cycling configure/cleanup grew without bound. Clearing that registry is not an
option (it frees the code of live modules too: the next call segfaults). Instead a released
engine hands its traces back here with their weights detached, and the next engine with the same
fingerprint borrows them and points them at its own weights: tracing, and its memory, happen
once per network and role.
"""
from __future__ import annotations

import threading
from typing import Callable, Hashable

import torch
from torch import nn

TraceFn = Callable[[], torch.jit.ScriptModule]


def fingerprint(model: nn.Module, *context: object) -> tuple:
    """What a trace of `model` depends on besides its weights: its config, every tensor's name,
    shape and dtype, and `context` (device, input size, preprocessing constants, ...)."""
    tensors = tuple((name, tuple(t.shape), str(t.dtype), str(t.device)) for name, t in model.state_dict().items())
    return (type(model).__qualname__, repr(getattr(model, "config", None)), tensors, *map(repr, context))


def own_tensors(module: torch.jit.ScriptModule) -> None:
    """Give a fresh trace tensor handles of its own (same storage, no copy).

    A trace shares its parameters' tensor objects with the network it was traced from, and with
    every other trace of that network; re-pointing one (attach/detach) would re-point them all,
    emptying a live engine's network when one of its graphs is handed back.
    """
    for name, tensor in module.state_dict(keep_vars=True).items():
        *path, leaf = name.split(".")
        holder = module
        for part in path:
            holder = getattr(holder, part)
        holder._c.setattr(leaf, tensor.detach())


def attach(module: torch.jit.ScriptModule, owner: nn.Module) -> None:
    """Point every parameter and buffer of a traced `module` at the same-named tensor of `owner`
    (the trace reads them by attribute at run time, so it then computes `owner`'s function)."""
    own = owner.state_dict(keep_vars=True)
    for name, tensor in module.state_dict(keep_vars=True).items():
        tensor.data = own[name].data


def detach(module: torch.jit.ScriptModule) -> None:
    """Drop the weights a kept trace points at, so a released engine's memory is freed."""
    for tensor in module.state_dict(keep_vars=True).values():
        tensor.data = torch.empty(0, dtype=tensor.dtype, device=tensor.device)


class TracePool:
    """Traces by key, each lent to one engine at a time (two live engines never share one)."""

    def __init__(self) -> None:
        self._free: dict[Hashable, list[torch.jit.ScriptModule]] = {}
        self._lock = threading.Lock()
        self.traces_made = 0  # traces made rather than borrowed: what the tests and probes count

    def borrow(self, key: Hashable, owner: nn.Module, trace: TraceFn) -> torch.jit.ScriptModule:
        """A trace for `key` computing `owner`'s function: a kept one re-pointed, or `trace()`."""
        with self._lock:
            kept = self._free.get(key)
            module = kept.pop() if kept else None
        if module is None:
            module = trace()
            own_tensors(module)
            with self._lock:
                self.traces_made += 1
        else:
            attach(module, owner)
        return module

    def give_back(self, key: Hashable, module: torch.jit.ScriptModule) -> None:
        """Keep `module` for the next borrower of `key`; the caller must not use it again."""
        detach(module)
        with self._lock:
            self._free.setdefault(key, []).append(module)

    def kept(self) -> int:
        with self._lock:
            return sum(len(modules) for modules in self._free.values())


# One per process, like the TorchScript registry whose growth it bounds.
PROCESS_TRACES = TracePool()
