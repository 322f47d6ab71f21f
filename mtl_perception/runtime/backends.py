"""Network execution backends behind one interface, and load-time selection of the fastest.

A backend maps a normalised 1×3×h×w tensor on the engine's device to {task: tensor} on that
device. Pre- and post-processing stay in the Engine, shared by every backend.
"""
from __future__ import annotations

import copy
import logging
import statistics
import time
import warnings
from dataclasses import dataclass
from typing import Callable, Protocol

import torch

from ..cpu_threads import idle_threads_spin
from ..model import MultiTaskNet
from .onnx_exports import OnnxExports
from .trace_pool import TracePool, fingerprint

LOG = logging.getLogger(__name__)
BACKEND_NAMES: tuple[str, ...] = ("torch", "torch_channels_last", "torch_fp16", "torchscript", "onnxruntime")
TRACE_WARMUP_CALLS = 3  # TorchScript's profiling executor optimises a graph on its first calls


class BackendUnavailable(RuntimeError):
    """A backend that cannot be built for this model or this torch (the caller may pick another)."""


class Backend(Protocol):
    name: str
    dtype: torch.dtype

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]: ...

    def close(self) -> None: ...


class TorchBackend:
    """Eager torch; optional channels_last memory format and CUDA fp16."""

    def __init__(self, model: MultiTaskNet, device: torch.device, *, channels_last: bool = False, half: bool = False) -> None:
        if half and device.type != "cuda":
            raise ValueError("fp16 needs a CUDA device; it is off on CPU")
        self.dtype = torch.float16 if half else torch.float32
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model = model.to(device=device, dtype=self.dtype, memory_format=self.memory_format).eval()
        self.name = "torch_fp16" if half else "torch_channels_last" if channels_last else "torch"

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.model(image.to(self.dtype).contiguous(memory_format=self.memory_format))

    def close(self) -> None:
        """Nothing is held beyond the model, which goes with the backend."""


class TorchScriptBackend:
    """The model traced to TorchScript (channels_last, fp32): the forward pass runs without the GIL.

    Eager torch takes the GIL back between every op; beside the node's publisher and executor
    threads that wait was most of a frame. The trace is fixed to `input_size`, which the engine's
    preprocessing always produces. torch 2.13 marks tracing deprecated; the eager backends stay.
    """

    def __init__(self, model: MultiTaskNet, device: torch.device, input_size: tuple[int, int], traces: TracePool | None = None) -> None:
        self.name, self.dtype, self.input_size = "torchscript", torch.float32, tuple(input_size)
        model = model.to(device=device, dtype=torch.float32, memory_format=torch.channels_last).eval()
        self.model = model  # the eager network, which the engine's whole-frame graphs trace through
        example = torch.zeros(1, model.config.in_channels, *input_size, device=device).contiguous(memory_format=torch.channels_last)
        self._traces, self._key = traces, fingerprint(model, "network", device, self.input_size)
        with torch.no_grad():
            self.module = traces.borrow(self._key, model, lambda: self._trace(model, example)) if traces else self._trace(model, example)
        self._check_against(model, example)

    @staticmethod
    def _trace(model: MultiTaskNet, example: torch.Tensor) -> torch.jit.ScriptModule:
        with warnings.catch_warnings():
            # Sizes become constants (fine for a fixed input size); tracing itself is deprecated.
            warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
            warnings.simplefilter("ignore", category=DeprecationWarning)
            try:
                module = torch.jit.trace(model, example, strict=False, check_trace=False)
                for _ in range(TRACE_WARMUP_CALLS):  # before two inference threads could optimise it at once
                    module(example)
            except Exception as exc:  # a model or a torch the tracer cannot handle
                raise BackendUnavailable(f"cannot trace the model to TorchScript: {type(exc).__name__}: {exc}") from exc
        return module

    def close(self) -> None:
        """Hand the trace back to its pool for the next engine of this network; unusable afterwards."""
        module, self.module = self.module, None
        if module is not None and self._traces is not None:
            self._traces.give_back(self._key, module)

    def _check_against(self, model: MultiTaskNet, example: torch.Tensor) -> None:
        """A trace records one path through forward; refuse it if it does not reproduce the model."""
        generator = torch.Generator().manual_seed(0)
        probe = torch.randn(example.shape, generator=generator).to(example.device).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            rel, agreement = compare_outputs(self.module(probe), model(probe))
        if not (rel <= FP32_TOLERANCE.max_rel_error and agreement >= FP32_TOLERANCE.min_label_agreement):
            raise BackendUnavailable(f"the TorchScript trace differs from the model (max rel. error {rel:.2e}, label agreement {agreement:.4f})")

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.module is None:
            raise RuntimeError("this torchscript backend has been closed")
        if tuple(image.shape[-2:]) != self.input_size:
            raise ValueError(f"torchscript backend traced at {self.input_size}, got an input of {tuple(image.shape[-2:])}")
        return self.module(image.float().contiguous(memory_format=torch.channels_last))


class OnnxRuntimeBackend:
    """ONNX Runtime on an in-memory export of the model (the artifact itself stays safetensors).

    The session runs each call on as many threads as torch has on the thread that builds it (the
    node builds it on an inference worker, so both follow the worker plan); the exported graph takes
    any batch size up to onnx_exports.MAX_BATCH.
    """

    def __init__(self, model: MultiTaskNet, device: torch.device, input_size: tuple[int, int], exports: OnnxExports | None = None) -> None:
        import onnxruntime as ort  # optional dependency

        self.name, self.dtype, self.device = "onnxruntime", torch.float32, device
        self.tasks = model.config.tasks
        exports = exports or OnnxExports(capacity=0)
        try:
            onnx = exports.get(model, tuple(self.tasks), model.config.in_channels, input_size)
        except Exception as exc:  # noqa: BLE001 - an exporter failure means "pick another backend"
            raise BackendUnavailable(f"cannot export the model to ONNX: {type(exc).__name__}: {exc}") from exc
        available = ort.get_available_providers()
        wanted = ["TensorrtExecutionProvider", "CUDAExecutionProvider"] if device.type == "cuda" else []
        providers = [p for p in wanted if p in available] + ["CPUExecutionProvider"]
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = torch.get_num_threads()
        # A spinning intra-op pool took ~40 % of a core in the node on 2 cores, away from publishing.
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if idle_threads_spin() else "0")
        self.session = ort.InferenceSession(onnx, options, providers=providers)
        self.providers = self.session.get_providers()

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        outputs = self.session.run(None, {"image": image.float().contiguous().cpu().numpy()})
        return {task: torch.from_numpy(out).to(self.device) for task, out in zip(self.tasks, outputs)}

    def close(self) -> None:
        """The session goes with the backend; nothing outlives it."""


def make_backend(name: str, model: MultiTaskNet, device: torch.device, input_size: tuple[int, int], traces: TracePool | None = None,
                 exports: OnnxExports | None = None) -> Backend:
    """Build one backend on its own copy of the model (backends change dtype and memory format).

    `traces`: where the torchscript backend borrows and returns its trace (trace_pool.py);
    `exports`: where the onnxruntime backend finds or keeps its export (onnx_exports.py).
    """
    model = copy.deepcopy(model)
    if name == "torch":
        return TorchBackend(model, device)
    if name == "torch_channels_last":
        return TorchBackend(model, device, channels_last=True)
    if name == "torch_fp16":
        return TorchBackend(model, device, channels_last=True, half=True)
    if name == "torchscript":
        return TorchScriptBackend(model, device, input_size, traces)
    if name == "onnxruntime":
        return OnnxRuntimeBackend(model, device, input_size, exports)
    raise ValueError(f"unknown backend {name!r}; choose 'auto' or one of {BACKEND_NAMES}")


def candidate_backends(device: torch.device) -> list[str]:
    names = ["torch", "torch_channels_last", "torchscript"]
    if device.type == "cuda":
        names.append("torch_fp16")
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        pass
    else:
        names.append("onnxruntime")
    return names


@dataclass(frozen=True)
class Tolerance:
    """How close a backend must be to torch fp32 to count as correct."""

    max_rel_error: float  # max |a − b| / max |b|, per continuous output
    min_label_agreement: float  # fraction of pixels whose argmax class agrees


FP32_TOLERANCE = Tolerance(max_rel_error=1e-3, min_label_agreement=0.999)
FP16_TOLERANCE = Tolerance(max_rel_error=2e-2, min_label_agreement=0.98)


@dataclass(frozen=True)
class BackendCheck:
    name: str
    passed: bool
    median_ms: float
    max_rel_error: float
    label_agreement: float
    reason: str = ""


def compare_outputs(candidate: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]) -> tuple[float, float]:
    """(max relative error over continuous outputs, argmax agreement of segmentation)."""
    rel, agreement = 0.0, 1.0
    for task, ref in reference.items():
        out = candidate[task].float()
        if task == "segmentation":
            agreement = (out.argmax(1) == ref.argmax(1)).float().mean().item()
        scale = ref.abs().max().clamp_min(1e-6)
        rel = max(rel, ((out - ref.float()).abs().max() / scale).item())
    return rel, agreement


def median_ms(run: Callable[[], object], device: torch.device, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


@torch.inference_mode()
def select_backend(
    model: MultiTaskNet, device: torch.device, input_size: tuple[int, int], *, names: list[str] | None = None, repeats: int = 5
) -> tuple[Backend, list[BackendCheck]]:
    """Build each candidate, check it against torch fp32, and keep the fastest that passes."""
    names = names or candidate_backends(device)
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(1, model.config.in_channels, *input_size, generator=generator).to(device)
    reference = {k: v.float().clone() for k, v in make_backend("torch", model, device, input_size)(image).items()}
    checks: list[BackendCheck] = []
    best: tuple[float, Backend] | None = None
    for name in names:
        try:
            backend = make_backend(name, model, device, input_size)
            backend(image)  # warm-up: allocations, kernel selection
            rel, agreement = compare_outputs(backend(image), reference)
            tolerance = FP16_TOLERANCE if backend.dtype == torch.float16 else FP32_TOLERANCE
            passed = rel <= tolerance.max_rel_error and agreement >= tolerance.min_label_agreement
            elapsed = median_ms(lambda: backend(image), device, repeats)
            checks.append(BackendCheck(name, passed, elapsed, rel, agreement, "" if passed else "outside tolerance"))
            if passed and (best is None or elapsed < best[0]):
                best = (elapsed, backend)
        except Exception as exc:  # a backend that cannot be built is skipped, not fatal
            checks.append(BackendCheck(name, False, float("nan"), float("nan"), 0.0, f"{type(exc).__name__}: {exc}"))
            LOG.warning("backend %s unavailable: %s", name, exc)
    if best is None:
        raise RuntimeError(f"no backend passed the equivalence check: {checks}")
    return best[1], checks
