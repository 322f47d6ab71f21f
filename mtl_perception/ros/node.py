"""`perception_node`: an rclpy lifecycle node serving segmentation, depth and normals.

Lifecycle: configure loads + warms up the artifact and creates the (lifecycle) publishers;
activate creates the subscriptions and starts the inference worker; deactivate removes them;
cleanup frees the model (and CUDA cache). `autostart` (default true) runs configure + activate.

The subscription callback only drops the message into a one-slot buffer; a worker loop decodes
and runs the network, and a publisher thread sends the outputs while the next frame is already
in the network, so a slow model never backs up DDS queues. Every model call (load, warm-up,
inference) runs on one InferenceThread, so torch keeps one CPU thread pool.
"""
from __future__ import annotations

import gc
import queue
import sys
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image

from ..runtime import default_model_path, load_engine, resolve_device
from .. import colors
from ..interop.camera_info import fill_scaled_camera_info, validate_intrinsics
from ..interop.encodings import mask_depth
from ..interop.image import ImageFormatError, fill_image, image_to_rgb
from . import diagnostics, params
from .qos import make_qos
from .serving import InferenceThread, LatestSlot, ServingStats

ERROR_LOG_PERIOD_S = 5.0

# output key -> (topic, task it needs)
OUTPUTS: dict[str, tuple[str, str]] = {
    "labels": ("segmentation/labels", "segmentation"),
    "seg_color": ("segmentation/color", "segmentation"),
    "overlay": ("segmentation/overlay", "segmentation"),
    "depth": ("depth/image", "depth"),
    "depth_info": ("depth/camera_info", "depth"),
    "normals": ("normals/image", "normals"),
    "normals_color": ("normals/color", "normals"),
}


@dataclass(frozen=True)
class Inferred:
    """One frame's network outputs on their way from the inference thread to the publisher thread."""

    header: Any
    rgb: np.ndarray
    prediction: Any


_SHUTTING_DOWN = object()  # a serving step's result when the ROS context is already gone


class PerceptionNode(LifecycleNode):
    """Lifecycle node: image (+ camera_info) in; DESIGN §3 outputs and /diagnostics out."""

    def __init__(self, node_name: str = "perception_node", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        params.declare(self)
        self._values: dict[str, Any] = {name: self.get_parameter(name).value for name in params.SPECS}
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.engine = None
        self.stats = ServingStats.create()
        self.slot: LatestSlot[Image] = LatestSlot()
        self.frames_received = 0
        self.views_built = {"seg_color": 0, "overlay": 0, "normals_color": 0}  # only built when subscribed
        self.last_transition_error = ""
        self._pubs: dict[str, Any] = {}
        self._subs: list[Any] = []
        self._inference = InferenceThread("perception_inference")
        self._worker: Future | None = None  # the serving loop, running on the inference thread
        self._outbox: queue.Queue[Inferred | None] = queue.Queue(maxsize=1)
        self._publisher: threading.Thread | None = None
        self._stop = threading.Event()
        self._camera_info: CameraInfo | None = None
        self._palette_lut: np.ndarray | None = None
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diag_timer = self.create_timer(self._values["diagnostics_period"], self.publish_diagnostics)
        if self._values["autostart"]:
            if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                self.trigger_activate()

    # ------------------------------------------------------------------ state and parameters
    @property
    def state(self) -> str:
        return str(self._state_machine.current_state[1])

    @property
    def camera_info(self) -> CameraInfo | None:
        """The latest valid camera_info (None until one arrives, and after deactivation)."""
        return self._camera_info

    def _on_set_parameters(self, changes: list[Any]) -> SetParametersResult:
        state = self.state
        for change in changes:
            reason = params.validate(change.name, change.value, state, self._values)
            if reason:
                self.get_logger().warn(f"rejected parameter {change.name}={change.value!r}: {reason}")
                return SetParametersResult(successful=False, reason=reason)
        for change in changes:
            if change.name in params.SPECS:
                spec = params.SPECS[change.name]
                self._values[change.name] = float(change.value) if isinstance(spec.default, float) else change.value
                if change.name == "diagnostics_period":
                    self.destroy_timer(self._diag_timer)
                    self._diag_timer = self.create_timer(float(change.value), self.publish_diagnostics)
        return SetParametersResult(successful=True)

    def _fail(self, reason: str) -> TransitionCallbackReturn:
        self.last_transition_error = reason
        self.get_logger().error(reason)
        return TransitionCallbackReturn.FAILURE

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        for name, value in self._values.items():
            reason = params.validate(name, value, "unconfigured")
            if reason:
                return self._fail(f"configure failed: {reason}")
        try:
            resolve_device(self._values["device"])
        except ValueError as exc:
            return self._fail(f"configure failed: {exc}")
        try:
            path = Path(self._values["model_path"]) if self._values["model_path"] else default_model_path()
            engine = self._inference.submit(self._load_engine, path).result()
        except Exception as exc:  # noqa: BLE001 - any load failure is a configuration failure
            return self._fail(f"configure failed: cannot load model: {exc}")
        self.engine = engine
        self._palette_lut = colors.palette_lut(engine.meta.palette)
        qos = make_qos(self._values["output_qos"], self._values["output_qos_depth"])
        wanted = {task for task in ("segmentation", "depth", "normals") if self._values[f"publish_{task}"]}
        missing = sorted(wanted - set(engine.tasks))
        if missing:
            self.get_logger().warn(f"model {engine.name!r} has no {', '.join(missing)} head; those outputs are off")
        for key, (topic, task) in OUTPUTS.items():
            if task in wanted and task in engine.tasks:
                self._pubs[key] = self.create_lifecycle_publisher(CameraInfo if key == "depth_info" else Image, topic, qos)
        self.last_transition_error = ""
        self.get_logger().info(
            f"configured: model {engine.name!r} from {path} on {engine.device}"
            f"{' fp16' if engine.half else ''}, network input {engine.input_size[1]}x{engine.input_size[0]}, "
            f"outputs {', '.join(OUTPUTS[k][0] for k in self._pubs)}"
        )
        return TransitionCallbackReturn.SUCCESS

    def _load_engine(self, path: Path) -> Any:
        engine = load_engine(path, device=self._values["device"], half=self._values["half"], backend=self._values["backend"])
        engine.warmup(self._values["warmup_iterations"])
        return engine

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        ret = super().on_activate(state)  # enables the lifecycle publishers
        if ret != TransitionCallbackReturn.SUCCESS:
            return ret
        qos = make_qos(self._values["input_qos"], self._values["input_qos_depth"])
        self.slot.reopen()
        self._stop.clear()
        self._outbox = queue.Queue(maxsize=1)
        self._publisher = threading.Thread(target=self._publish_loop, name="perception_publisher", daemon=True)
        self._publisher.start()
        self._worker = self._inference.submit(self._work)
        self._subs = [
            self.create_subscription(Image, "image", self._on_image, qos),
            self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, qos),
        ]
        self.get_logger().info(f"active: listening on {self.resolve_topic_name('image')} ({self._values['input_qos']})")
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_serving()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_serving()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_serving()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def _stop_serving(self) -> None:
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        self._stop.set()
        self.slot.close()
        if self._worker is not None and not self._inference.is_current():
            try:
                self._worker.result(timeout=30.0)
            except (FuturesTimeout, Exception) as exc:  # noqa: BLE001 - stopping must not raise
                self.get_logger().error(f"inference worker did not stop cleanly: {exc!r}")
        self._worker = None
        if self._publisher is not None and self._publisher is not threading.current_thread():
            try:
                self._outbox.put(None, timeout=30.0)  # after the worker's last frame: drain, then end
                self._publisher.join(timeout=30.0)
            except queue.Full:
                self.get_logger().error("output publisher is stuck; abandoning it")
        self._publisher = None
        self.slot.clear()
        self._camera_info = None

    def _release(self) -> None:
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        self._pubs = {}
        engine, self.engine = self.engine, None
        on_cuda = engine is not None and engine.device.type == "cuda"
        del engine
        gc.collect()
        if on_cuda:
            import torch

            torch.cuda.empty_cache()

    # ------------------------------------------------------------------ callbacks
    def _on_image(self, msg: Image) -> None:
        self.frames_received += 1
        self.stats.input_rate.tick()
        self.slot.put(msg)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        reason = validate_intrinsics(msg.width, msg.height, list(msg.k), list(msg.p))
        if reason:
            self.stats.camera_info_bad += 1
            self._camera_info = None
            self._report(f"ignoring camera_info: {reason}")
            return
        self._camera_info = msg

    def _report(self, message: str) -> None:
        self.stats.last_error = message
        self.get_logger().error(message, throttle_duration_sec=ERROR_LOG_PERIOD_S)

    def _work(self) -> None:
        """Inference loop (on the inference thread): newest frame -> network -> publisher thread."""
        while not self._stop.is_set():
            msg = self.slot.get(timeout=0.5)
            if msg is None or self._stop.is_set():
                continue
            inferred = self._guarded(self.infer, msg)
            if inferred is _SHUTTING_DOWN:
                return
            if inferred is not None:
                self._outbox.put(inferred)  # blocks while the publisher is a frame behind: bounded memory

    def _publish_loop(self) -> None:
        """Publisher thread: sends one frame's outputs while the network already runs the next."""
        while True:
            inferred = self._outbox.get()
            if inferred is None or self._guarded(self.publish_outputs, inferred) is _SHUTTING_DOWN:
                return

    def _guarded(self, step: Any, *args: Any) -> Any:
        try:
            return step(*args)
        except Exception as exc:  # noqa: BLE001 - serving must outlive any one frame
            if not self.context.ok():
                return _SHUTTING_DOWN  # publishing can only fail now
            self.stats.frames_bad += 1
            self._report(f"frame skipped: {type(exc).__name__}: {exc}")
            return None

    # ------------------------------------------------------------------ the work
    def infer(self, msg: Image) -> Inferred | None:
        """Decode and run the network on one frame; None (counted, logged) for a malformed image."""
        engine = self.engine
        if engine is None:
            return None
        try:
            rgb = image_to_rgb(msg)
        except ImageFormatError as exc:
            self.stats.frames_bad += 1
            self._report(f"frame skipped: {exc}")
            return None
        size = None if self._values["output_resolution"] == "input" else engine.input_size
        start = time.perf_counter()
        pred = engine.predict(rgb, output_size=size)
        self.stats.inference_ms.add((time.perf_counter() - start) * 1e3)
        return Inferred(msg.header, rgb, pred)

    def publish_outputs(self, inferred: Inferred) -> None:
        """Every enabled output for one frame, each with the input's header."""
        header, rgb, pred = inferred.header, inferred.rgb, inferred.prediction
        pubs = self._pubs
        if pred.segmentation is not None and "labels" in pubs:
            self._publish_image(pubs["labels"], header, pred.segmentation, "mono8")
            want_overlay = "overlay" in pubs and pubs["overlay"].get_subscription_count() > 0
            if want_overlay or ("seg_color" in pubs and pubs["seg_color"].get_subscription_count() > 0):
                colour = colors.colorize_labels(pred.segmentation, self._palette_lut)
                self.views_built["seg_color"] += 1
                self._publish_image(pubs["seg_color"], header, colour, "rgb8")
                if want_overlay:
                    self.views_built["overlay"] += 1
                    self._publish_image(pubs["overlay"], header, colors.overlay(rgb, colour, self._values["overlay_alpha"]), "rgb8")
        if pred.depth is not None and "depth" in pubs:
            depth = mask_depth(pred.depth, self._values["max_depth"])
            self._publish_image(pubs["depth"], header, depth, "32FC1")
            info = self._camera_info
            if info is not None and "depth_info" in pubs:
                pubs["depth_info"].publish(self._scaled_info(info, header, depth.shape[1], depth.shape[0], rgb.shape))
        if pred.normals is not None and "normals" in pubs:
            self._publish_image(pubs["normals"], header, pred.normals, "32FC3")
            if pubs["normals_color"].get_subscription_count() > 0:
                self.views_built["normals_color"] += 1
                self._publish_image(pubs["normals_color"], header, colors.colorize_normals(pred.normals), "rgb8")
        self.stats.frames_processed += 1
        self.stats.output_rate.tick()
        if header.stamp.sec or header.stamp.nanosec:
            age = self.get_clock().now() - Time.from_msg(header.stamp, clock_type=self.get_clock().clock_type)
            self.stats.latency_ms.add(age.nanoseconds / 1e6)

    @staticmethod
    def _publish_image(pub: Any, header: Any, array: np.ndarray, encoding: str) -> None:
        msg = Image()
        msg.header = header
        fill_image(msg, array, encoding)
        pub.publish(msg)

    @staticmethod
    def _scaled_info(info: CameraInfo, header: Any, width: int, height: int, input_shape: tuple[int, ...]) -> CameraInfo:
        out = CameraInfo()
        out.header = header
        return fill_scaled_camera_info(out, info, width, height, input_shape)

    def publish_diagnostics(self) -> None:
        engine = self.engine
        device = str(engine.device) if engine is not None else self._values["device"]
        model = engine.name if engine is not None else "(not loaded)"
        backend = engine.backend_name if engine is not None else self._values["backend"]
        extra = {"device": device, "model": model, "backend": backend, "output_resolution": self._values["output_resolution"]}
        if self.last_transition_error:
            extra["last_transition_error"] = self.last_transition_error
        array = diagnostics.build(
            self.stats,
            stamp=self.get_clock().now().to_msg(),
            name=f"{self.get_fully_qualified_name()}: mtl_perception",
            hardware_id=device,
            state=self.state,
            dropped=self.slot.dropped,
            frames_received=self.frames_received,
            extra=extra,
        )
        self._diag_pub.publish(array)

    def shutdown_serving(self) -> None:
        """Stop the worker and free the model without a lifecycle transition (process exit)."""
        self._stop_serving()
        self._release()

    def destroy_node(self) -> None:
        self._stop_serving()
        self._inference.close(timeout=30.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    rclpy.init(args=args)
    node = None
    try:
        node = PerceptionNode()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.shutdown_serving()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
