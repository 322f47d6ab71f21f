"""Inference engine: uint8 RGB frame in, per-task numpy maps out, one forward pass."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from ..model import MultiTaskNet
from ..model.network import unit_vectors
from .artifact import ArtifactMeta, load_artifact
from .backends import BACKEND_NAMES, BackendCheck, make_backend, select_backend
from .device import resolve_device
from .frame_graphs import FrameGraphs, Network
from .onnx_exports import PROCESS_EXPORTS, OnnxExports
from .trace_pool import PROCESS_TRACES, TracePool


class InputError(ValueError):
    """A frame handed to the engine has the wrong type, dtype or shape."""


@dataclass(frozen=True)
class Prediction:
    """Per-task outputs; a task the model does not have is None.

    segmentation: uint8 H×W class ids; depth: float32 H×W metres along optical z;
    normals: float32 H×W×3 unit vectors in the camera optical frame; confidence: float32 H×W,
    the largest softmax class probability (in [0, 1]) at each pixel, None when not asked for.
    """

    segmentation: np.ndarray | None = None
    depth: np.ndarray | None = None
    normals: np.ndarray | None = None
    confidence: np.ndarray | None = None


def validate_rgb(rgb: object) -> np.ndarray:
    if not isinstance(rgb, np.ndarray):
        raise InputError(f"expected a numpy array, got {type(rgb).__name__}")
    if rgb.dtype != np.uint8:
        raise InputError(f"expected dtype uint8, got {rgb.dtype}")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InputError(f"expected an H×W×3 RGB image, got shape {rgb.shape}")
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise InputError(f"image has zero size: {rgb.shape}")
    return rgb


class Engine:
    """Runs a plain MultiTaskNet on one device; pre- and post-processing stay on that device.

    `backend` is one of BACKEND_NAMES, or "auto": the fastest candidate that matches torch
    fp32 on a test input (the checks are kept in `backend_checks`). half=True means torch_fp16.
    `traces` and `exports` are where finished TorchScript traces and ONNX exports are kept for
    the next engine of the same network (None: this engine keeps its own).
    """

    def __init__(
        self,
        model: MultiTaskNet,
        meta: ArtifactMeta,
        *,
        device: str | torch.device = "auto",
        half: bool = False,
        backend: str = "torch",
        traces: TracePool | None = PROCESS_TRACES,
        exports: OnnxExports | None = PROCESS_EXPORTS,
    ) -> None:
        self.device = resolve_device(device) if isinstance(device, str) else device
        if half and self.device.type != "cuda":
            raise ValueError("half=True needs a CUDA device; fp16 is off on CPU")
        if backend not in ("auto", *BACKEND_NAMES):
            raise ValueError(f"backend must be 'auto' or one of {BACKEND_NAMES}, got {backend!r}")
        self.meta = meta
        input_size = (meta.input_height, meta.input_width)
        self.backend_checks: list[BackendCheck] = []
        if half:
            backend = "torch_fp16"
        if backend == "auto":
            self.backend, self.backend_checks = select_backend(model.eval(), self.device, input_size)
        else:
            self.backend = make_backend(backend, model.eval(), self.device, input_size, traces, exports)
        self.dtype = self.backend.dtype
        self.half = self.dtype == torch.float16
        std = torch.tensor(meta.std, dtype=torch.float32)
        mean = torch.tensor(meta.mean, dtype=torch.float32)
        # (x/255 − mean)/std as one multiply-add per pixel.
        self._scale = (1.0 / (255.0 * std)).reshape(1, 3, 1, 1).to(self.device)
        self._shift = (-mean / std).reshape(1, 3, 1, 1).to(self.device)
        # With the traced network, the whole frame runs as one traced graph too (frame_graphs.py).
        self._graphs = (FrameGraphs(self.frame_maps, self.backend.model, self.backend, traces=traces, context=(self.device, input_size, meta.mean, meta.std))
                        if self.backend.name == "torchscript" else None)

    def close(self) -> None:
        """Release what outlives the engine's objects: traces go back to their pool for the next
        engine of this network (trace_pool.py). The engine serves nothing afterwards."""
        if self._graphs is not None:
            self._graphs.close()
        self.backend.close()

    @property
    def tasks(self) -> tuple[str, ...]:
        return self.meta.tasks

    @property
    def input_size(self) -> tuple[int, int]:
        return self.meta.input_height, self.meta.input_width

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def backend_name(self) -> str:
        return self.backend.name

    def preprocess(self, rgb: np.ndarray) -> torch.Tensor:
        """uint8 H×W×3 → normalised 1×3×h×w at the network's input size, on the device."""
        return self._normalise(self._to_device(rgb))

    def _to_device(self, rgb: np.ndarray) -> torch.Tensor:
        rgb = np.ascontiguousarray(rgb)
        if not rgb.flags.writeable:
            # A read-only view of a message buffer: torch warns for one (once per process, in the
            # node's log). One 0.9 MB copy at 640×480 instead; the engine never writes its input.
            rgb = rgb.copy()
        return torch.from_numpy(rgb).to(self.device, non_blocking=True)

    def _normalise(self, image: torch.Tensor) -> torch.Tensor:
        """uint8 H×W×3 (or B×H×W×3) → the network's normalised B×3×h×w input."""
        image = (image.permute(2, 0, 1).unsqueeze(0) if image.dim() == 3 else image.permute(0, 3, 1, 2)).float()
        size = self.input_size
        if tuple(image.shape[-2:]) != size:
            shrinking = image.shape[-2] > size[0] or image.shape[-1] > size[1]
            image = F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=shrinking)
        return torch.addcmul(self._shift, image, self._scale)

    @torch.inference_mode()
    def forward(self, rgb: np.ndarray) -> dict[str, torch.Tensor]:
        """Raw network outputs at network resolution (float32)."""
        return self._run(validate_rgb(rgb))

    @torch.inference_mode()
    def predict(self, rgb: np.ndarray, *, output_size: tuple[int, int] | None = None, confidence: bool = True) -> Prediction:
        """Predict every task; outputs at `output_size` (default: the input's H×W).

        confidence=False skips the softmax (the node asks for it only while someone listens).
        """
        rgb = validate_rgb(rgb)
        size = tuple(rgb.shape[:2]) if output_size is None else tuple(output_size)
        image = self._to_device(rgb)
        if self._graphs is not None:
            return to_prediction(self._graphs(image, size, confidence))
        return to_prediction(self.frame_maps(image, size, confidence, self.backend))

    @torch.inference_mode()
    def predict_batch(self, frames: list[np.ndarray], *, output_sizes: list[tuple[int, int]] | None = None,
                      confidence: bool = True) -> list[Prediction]:
        """Frames of one size (several cameras') in one forward pass; each result is what `predict`
        gives for that frame alone, up to float rounding. `output_sizes`: one per frame (default: its H×W).

        With one output size for all (the node's case) the whole batch runs as one traced frame
        graph where the backend is torchscript; mixed output sizes resize eagerly per frame.
        """
        frames = [validate_rgb(frame) for frame in frames]
        sizes = [tuple(frame.shape[:2]) for frame in frames] if output_sizes is None else [tuple(size) for size in output_sizes]
        if len(sizes) != len(frames):
            raise ValueError(f"{len(frames)} frames but {len(sizes)} output sizes")
        if len({frame.shape for frame in frames}) > 1:
            raise InputError(f"a batch needs frames of one size, got {sorted({frame.shape[:2] for frame in frames})}")
        if len(frames) <= 1:
            return [self.predict(frame, output_size=size, confidence=confidence) for frame, size in zip(frames, sizes)]
        images = torch.stack([self._to_device(frame) for frame in frames])
        if len(set(sizes)) == 1:
            size = sizes[0]
            maps = self._graphs(images, size, confidence) if self._graphs is not None else self.frame_maps(images, size, confidence, self.backend)
            return [to_prediction({name: value[i] for name, value in maps.items()}) for i in range(len(frames))]
        raw = {task: out.float() for task, out in self.backend(self._normalise(images)).items()}
        return [to_prediction(self.output_maps({task: out[i : i + 1] for task, out in raw.items()}, size, confidence=confidence))
                for i, size in enumerate(sizes)]

    def frame_maps(self, image: torch.Tensor, size: tuple[int, int], confidence: bool, network: Network) -> dict[str, torch.Tensor]:
        """uint8 H×W×3 (or B×H×W×3) on the device → every output map at `size` (B×... for a batch), on the device (tensor ops only)."""
        raw = {task: out.float() for task, out in network(self._normalise(image)).items()}
        maps = self.batch_maps(raw, size, confidence=confidence)
        return maps if image.dim() == 4 else {name: value[0] for name, value in maps.items()}

    def _run(self, rgb: np.ndarray) -> dict[str, torch.Tensor]:
        return {task: out.float() for task, out in self.backend(self.preprocess(rgb)).items()}

    def postprocess(self, outputs: dict[str, torch.Tensor], size: tuple[int, int], *, confidence: bool = True) -> Prediction:
        """Resize network outputs to `size` on the device, then copy each map to host once."""
        return to_prediction(self.output_maps(outputs, size, confidence=confidence))

    def output_maps(self, outputs: dict[str, torch.Tensor], size: tuple[int, int], *, confidence: bool = True) -> dict[str, torch.Tensor]:
        """Network outputs of one frame → H×W label/confidence/depth and H×W×3 normal maps at `size`, on the device."""
        return {name: value[0] for name, value in self.batch_maps(outputs, size, confidence=confidence).items()}

    def batch_maps(self, outputs: dict[str, torch.Tensor], size: tuple[int, int], *, confidence: bool = True) -> dict[str, torch.Tensor]:
        """Network outputs of B frames → B×H×W label/confidence/depth and B×H×W×3 normal maps at `size`, on the device."""
        resize = tuple(next(iter(outputs.values())).shape[-2:]) != size
        fields: dict[str, torch.Tensor] = {}
        if "segmentation" in outputs:
            fields.update(segmentation_tensors(outputs["segmentation"], size if resize else None, confidence=confidence))
        continuous = [task for task in ("depth", "normals") if task in outputs]
        if continuous:
            # Depth and normals share one bilinear resize, as channels of one tensor.
            stacked = torch.cat([outputs[task] for task in continuous], 1)
            if resize:
                stacked = F.interpolate(stacked, size=size, mode="bilinear", align_corners=False)
            channel = 0
            if "depth" in outputs:
                fields["depth"] = stacked[:, 0].contiguous()
                channel = 1
            if "normals" in outputs:
                normals = stacked[:, channel : channel + 3]
                if resize:
                    normals = unit_vectors(normals)
                fields["normals"] = normals.permute(0, 2, 3, 1).contiguous()
        return fields

    def warmup(self, iterations: int = 2) -> None:
        frame = np.zeros((*self.input_size, 3), dtype=np.uint8)
        for _ in range(iterations):
            self.predict(frame)


def to_prediction(maps: dict[str, torch.Tensor]) -> Prediction:
    """Each map copied to host once."""
    return Prediction(**{name: value.cpu().numpy() for name, value in maps.items()})


def segmentation_tensors(logits: torch.Tensor, size: tuple[int, int] | None, *, confidence: bool = True) -> dict[str, torch.Tensor]:
    """Labels (uint8 argmax) and, when asked, confidence (max softmax probability) of B×C×h×w logits, each B×H×W.

    Both are resized to `size` (None = keep) by nearest neighbour, so every pixel's confidence is
    that of the label published there. Computed from the logits in the engine, so every backend
    provides it.
    """
    logits = logits.float()
    # Labels from the logits, not the probabilities: distinct logits can round to equal probabilities.
    maps = {"segmentation": logits.argmax(1, keepdim=True).to(torch.uint8)}
    if confidence:
        maps["confidence"] = torch.softmax(logits, 1).amax(1, keepdim=True)
    if size is not None:
        maps = {key: F.interpolate(value, size=size, mode="nearest-exact") for key, value in maps.items()}
    return {key: value[:, 0].contiguous() for key, value in maps.items()}


def load_engine(path: str | os.PathLike[str], device: str = "auto", half: bool = False, backend: str = "torch") -> Engine:
    """Load a deploy artifact directory into an Engine (never unpickles)."""
    model, meta = load_artifact(path)
    return Engine(model, meta, device=device, half=half, backend=backend)
