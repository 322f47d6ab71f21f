"""`perception_node`: an rclpy lifecycle node serving segmentation, depth and normals.

Lifecycle: configure loads + warms up the artifact and creates the (lifecycle) publishers;
activate creates the subscriptions and starts the inference worker; deactivate removes them;
cleanup frees the model (and CUDA cache). `autostart` (default true) runs configure + activate.

Serving is a ServingPipeline (runtime/serving/): the subscription drops each frame into a one-slot
buffer, the network runs on InferenceThreads (load and warm-up run there too, so each keeps one
CPU thread pool; `inference_workers` of them take frames in turn), and a publisher thread sends
the outputs in frame order. This module is the wiring: lifecycle, endpoints, inference workers
and diagnostics. What one frame's inference and publication are is frame_serving.py; how the
node applies its parameters (start values, sets) is node_parameters.py; several cameras in one node
(`cameras`) are camera_serving.py; all three are mixins of PerceptionNode. A configure that fails
leaves the node up and unconfigured, saying how to retry.
"""
from __future__ import annotations

import gc
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from ..runtime import default_model_path, load_engine, resolve_device
from ..runtime.backends import BackendUnavailable
from ..runtime.serving import (
    InferencePlan,
    InferenceThread,
    LatestSlot,
    ServingPipeline,
    ServingStats,
    keep_frame_buffers_in_heap,
    plan_inference,
)
from .. import colors
from . import diagnostics, params
from .camera_serving import CameraChannel, CameraServing, camera_slots
from .frame_serving import FrameServing, Inferred
from .inputs import input_endpoint
from .node_parameters import NodeParameters
from .outputs import OUTPUTS, message_type
from .publishing import FramePublisher
from .lifecycle_guard import guard_change_state
from .middleware import use_node_profile
from .qos import make_qos

INFERENCE_OS_NAME = "mtl_inference"  # every inference thread's name in top -H and /proc
GIL_SWITCH_INTERVAL_S = 0.0005


class PerceptionNode(NodeParameters, FrameServing, CameraServing, LifecycleNode):
    """Lifecycle node: image (+ camera_info) in; DESIGN §3 outputs and /diagnostics out."""

    def __init__(self, node_name: str = "perception_node", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        # Eager torch re-takes the GIL between every small op; with the default 5 ms switch
        # interval a busy executor thread (a camera flood) made each predict wait 0.3-0.8 s.
        sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL_S))
        self._values: dict[str, Any] = params.declare(self)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        given = list(self._parameter_overrides)  # the params file's and -p keys for this node (rclpy keeps them there)
        unknown = params.unknown_keys_warning(given, [*params.SPECS, *(name for name in given if self.has_parameter(name))])
        if unknown:
            self.get_logger().warn(unknown)
        guard_change_state(self, self.get_logger().warn)
        self.engine = None
        self.stats = ServingStats.create()
        self.frames_received = 0
        self.last_transition_error = ""
        self._pubs: dict[str, Any] = {}  # filled at configure, emptied at cleanup (shared with _frames)
        self._frames = FramePublisher(self._pubs, None, self._values)
        self._subs: list[Any] = []
        self._inference = InferenceThread("perception_inference", os_name=INFERENCE_OS_NAME)  # loads, warms up, infers
        self._extra_workers: list[InferenceThread] = []  # more frames at once (inference_workers), from configure
        self._torch_threads: int | None = None
        self._single_pipeline: ServingPipeline[Image | CompressedImage, Inferred] = ServingPipeline(
            self._inference, self.infer, self.publish_outputs, self._frame_failed, self._after_publish
        )
        self._pipeline: ServingPipeline[Any, Any] = self._single_pipeline  # or, while configured with cameras, theirs
        self.channels: dict[str, CameraChannel] = {}  # with `cameras`: one per camera, from configure to cleanup
        self._large_frame_done = False  # set by infer, read by the publisher thread
        self._camera_info: CameraInfo | None = None
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diag_timer = self.create_timer(self._diagnostics_period(), self.publish_diagnostics)
        if self._values["autostart"] is True:
            if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                self.trigger_activate()
        elif self._values["autostart"] is False:
            self.get_logger().info(f"unconfigured (autostart false): waiting for `ros2 lifecycle set {self.get_fully_qualified_name()} configure`")
        else:
            self._fail(f"configure not attempted: {params.validate('autostart', self._values['autostart'])}")

    # ------------------------------------------------------------------ state and workers
    @property
    def state(self) -> str:
        return str(self._state_machine.current_state[1])

    @property
    def outputs_built(self) -> dict[str, int]:
        """Messages built per output key (OUTPUTS): an output nobody subscribes to stays at 0."""
        return self._frames.built

    def has_subscriber(self, key: str) -> bool:
        """Whether output `key` (OUTPUTS) is enabled and subscribed, i.e. built for the next frame."""
        return self._frames.listened(key)

    @property
    def slot(self) -> LatestSlot[Image | CompressedImage]:
        """The single camera's one-slot input buffer (its `dropped` counts frames replaced before inference)."""
        return self._single_pipeline.slot

    @property
    def camera_info(self) -> CameraInfo | None:
        """The latest valid camera_info (None until one arrives, and after deactivation)."""
        return self._camera_info

    def _fail(self, reason: str) -> TransitionCallbackReturn:
        """One error line: what failed, and that the node is still up waiting to be configured."""
        reason = params.one_line(reason)  # an exception may quote a long path or span lines
        self.last_transition_error = reason
        name = self.get_fully_qualified_name()
        self.get_logger().error(f"{reason} -- the node stays up, unconfigured; fix it (ros2 param set {name} ...) and run `ros2 lifecycle set {name} configure`")
        return TransitionCallbackReturn.FAILURE

    def _start_workers(self, plan: InferencePlan) -> None:
        """The extra inference threads of `plan`, each with its torch thread count (torch reads it per thread)."""
        import torch

        self._stop_workers()  # a configure that failed half-way may have left some
        if self._torch_threads is None:  # torch's own default, for plans that keep it
            self._torch_threads = self._inference.submit(torch.get_num_threads).result()
        self._extra_workers = [InferenceThread(f"perception_inference{i}", os_name=INFERENCE_OS_NAME) for i in range(1, plan.workers)]
        for worker in (self._inference, *self._extra_workers):
            worker.submit(torch.set_num_threads, plan.threads_per_worker or self._torch_threads).result()
        self._pipeline.use_workers([self._inference, *self._extra_workers])

    def _stop_workers(self) -> None:
        for worker in self._extra_workers:
            worker.close(timeout=30.0)
        self._extra_workers = []
        self._pipeline.use_workers([self._inference])

    def _pipeline_for(self, cameras: list[str]) -> ServingPipeline[Any, Any]:
        """The single-camera pipeline, or for `cameras` a fresh set of channels and a pipeline over their slots."""
        self.channels = {name: CameraChannel(name, FramePublisher({}, None, self._values)) for name in cameras}
        if not cameras:
            return self._single_pipeline
        slots = camera_slots(list(cameras), self._values["batch_window_ms"])
        return ServingPipeline(self._inference, self.infer_cameras, self.publish_cameras, self._frame_failed, self._after_publish, slot=slots)

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        started = time.monotonic()
        reason = params.first_problem(self._values)
        if reason:
            return self._fail(f"configure failed: {reason}")
        try:
            device = resolve_device(self._values["device"])
        except ValueError as exc:
            return self._fail(f"configure failed: {exc}")
        plan = plan_inference(self._values["inference_workers"], device.type, os.cpu_count() or 1)
        self._pipeline = self._pipeline_for(self._values["cameras"])
        self._start_workers(plan)
        path = Path(self._values["model_path"]) if self._values["model_path"] else default_model_path()
        backends = params.backend_for(self._values["backend"], device.type)
        self.get_logger().info(f"configuring: loading {path} on {device}, backend {self._values['backend']} ({' or '.join(backends)})")
        try:
            engine = self._inference.submit(self._load_engine, path, backends).result()
        except Exception as exc:  # noqa: BLE001 - any load failure is a configuration failure
            return self._fail(f"configure failed: cannot load model: {exc}")
        if self._values["warmup_iterations"]:  # the first passes on each thread are slow, not only the first overall
            for worker in self._extra_workers:
                worker.submit(engine.warmup, self._values["warmup_iterations"]).result()
        self.engine = engine
        self._frames.palette_lut = colors.palette_lut(engine.meta.palette)
        qos = make_qos(self._values["output_qos"], self._values["output_qos_depth"])
        wanted = {task for task in ("segmentation", "depth", "normals") if self._values[f"publish_{task}"]}
        missing = sorted(wanted - set(engine.tasks))
        if missing:
            self.get_logger().warn(f"model {engine.name!r} has no {', '.join(missing)} head; those outputs are off")
        enabled = [key for key, (_, task) in OUTPUTS.items() if task in wanted and task in engine.tasks]
        if self.channels:
            for channel in self.channels.values():
                channel.frames.palette_lut = self._frames.palette_lut
                for key in enabled:
                    channel.frames.pubs[key] = self.create_lifecycle_publisher(message_type(key), channel.topic(OUTPUTS[key][0]), qos)
        else:
            for key in enabled:
                self._pubs[key] = self.create_lifecycle_publisher(message_type(key), OUTPUTS[key][0], qos)
        self.last_transition_error = ""
        self.get_logger().info(
            f"configured in {time.monotonic() - started:.2f} s: model {engine.name!r} from {path} on {engine.device}, backend {engine.backend_name}"
            f"{' fp16' if engine.half else ''}, network input {engine.input_size[1]}x{engine.input_size[0]}, "
            f"outputs {', '.join(OUTPUTS[k][0] for k in enabled)}"
            + (f" for each of cameras {', '.join(self.channels)}" if self.channels else "")
            + f"; {plan.workers} inference worker(s)"
            + (f", {plan.threads_per_worker} torch thread(s) each" if plan.threads_per_worker else "")
        )
        return TransitionCallbackReturn.SUCCESS

    def _load_engine(self, path: Path, backends: list[str]) -> Any:
        """The engine on the first of `backends` that builds for this model (more than one only for auto)."""
        for index, backend in enumerate(backends):
            try:
                engine = load_engine(path, device=self._values["device"], half=self._values["half"], backend=backend)
                break
            except BackendUnavailable as exc:
                if index + 1 == len(backends):
                    raise
                self.get_logger().warn(f"backend auto: {exc}; trying {backends[index + 1]}")
        if self._values["warmup_iterations"]:
            self.get_logger().info(f"configuring: model loaded, {self._values['warmup_iterations']} warm-up passes")
            engine.warmup(self._values["warmup_iterations"])
        return engine

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        ret = super().on_activate(state)  # enables the lifecycle publishers
        if ret != TransitionCallbackReturn.SUCCESS:
            return ret
        qos = make_qos(self._values["input_qos"], self._values["input_qos_depth"])
        self._pipeline.start()
        kind, topic = input_endpoint(self._values["input_transport"])
        if self.channels:
            for channel in self.channels.values():
                self._subs += [
                    self.create_subscription(kind, channel.topic(topic), self._camera_image_callback(channel, self._pipeline.slot), qos),
                    self.create_subscription(CameraInfo, channel.topic("camera_info"), self._camera_info_callback(channel), qos),
                ]
            topics = [self.resolve_topic_name(channel.topic(topic)) for channel in self.channels.values()]
        else:
            self._subs = [
                self.create_subscription(kind, topic, self._on_image, qos),
                self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, qos),
            ]
            topics = [self.resolve_topic_name(topic)]
        self.get_logger().info(f"active: listening on {', '.join(topics)} ({kind.__name__}, {self._values['input_qos']})")
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_serving()
        self.get_logger().info("inactive: subscriptions removed, model kept (activate to resume, cleanup to free it)")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self.get_logger().info("unconfigured: model and publishers freed (structural parameters can change now)")
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
        for problem in self._pipeline.stop():
            self.get_logger().error(problem)
        self._camera_info = None
        for channel in self.channels.values():
            channel.camera_info = None

    def _release(self) -> None:
        self._stop_workers()
        for pubs in (self._pubs, *(channel.frames.pubs for channel in self.channels.values())):
            for pub in pubs.values():
                self.destroy_lifecycle_publisher(pub)
            pubs.clear()
        self.channels.clear()
        self._pipeline = self._single_pipeline
        engine, self.engine = self.engine, None
        on_cuda = engine is not None and engine.device.type == "cuda"
        if engine is not None:
            engine.close()  # its traces go back to the process's pool: a re-configure re-uses them
        del engine
        gc.collect()
        if on_cuda:
            import torch

            torch.cuda.empty_cache()

    # ------------------------------------------------------------------ diagnostics and teardown
    def publish_diagnostics(self) -> None:
        engine = self.engine
        device = str(engine.device) if engine is not None else self._values["device"]
        model = engine.name if engine is not None else "(not loaded)"
        backend = engine.backend_name if engine is not None else self._values["backend"]
        extra = {"device": device, "model": model, "backend": backend, "output_resolution": self._values["output_resolution"],
                 "input_transport": self._values["input_transport"], "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset)"),
                 "fastdds_profile": os.environ.get("FASTRTPS_DEFAULT_PROFILES_FILE", "(unset)")}
        if self.last_transition_error:
            extra["last_transition_error"] = self.last_transition_error
        stamp, name = self.get_clock().now().to_msg(), f"{self.get_fully_qualified_name()}: mtl_perception"
        if not self.channels:
            array = diagnostics.build(self.stats, stamp=stamp, name=name, hardware_id=device, state=self.state,
                                      dropped=self.slot.dropped, frames_received=self.frames_received, extra=extra)
        else:  # one status per camera, each with its own rates, latency and counters
            counts = self._pipeline.slot.counts
            arrays = [diagnostics.build(channel.stats, stamp=stamp, name=f"{name} {camera}", hardware_id=device, state=self.state,
                                        dropped=counts[camera].dropped, frames_received=channel.frames_received, extra={**extra, "camera": camera})
                      for camera, channel in self.channels.items()]
            array = arrays[0]
            array.status = [status for each in arrays for status in each.status]
        self._diag_pub.publish(array)

    def shutdown_serving(self) -> None:
        """Stop the worker and free the model without a lifecycle transition (process exit)."""
        self._stop_serving()
        self._release()

    def destroy_node(self) -> None:
        self._stop_serving()
        self._stop_workers()
        self._inference.close(timeout=30.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    keep_frame_buffers_in_heap()  # process-wide, so here and not in the node (which may share a process)
    profile = use_node_profile()  # before rclpy.init, when Fast DDS reads its profile
    try:
        rclpy.init(args=args)
    except _rclpy.RCLError as exc:  # an unparseable -p value or params file: rcl's message, in one line
        print(f"perception_node: cannot start: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    node = None
    try:
        node = PerceptionNode()
        node.get_logger().info(profile)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        # Ctrl-C reaches the node twice (the terminal's process group, then ros2 launch's
        # forwarded SIGINT); the second must not interrupt cleanup or torch's exit handlers.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if node is not None:
            node.shutdown_serving()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
