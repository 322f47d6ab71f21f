"""A synthetic camera: publishes a renderer trajectory as image (rgb8) + camera_info at a fixed rate.

Frames are rendered up front (the renderer is numpy and slower than real time at VGA) and the
trajectory is played forwards then backwards in a loop, so it can run for any duration. Rendering
is deterministic in (seed, num_frames, height, width, fps), so a recorder in another process can
re-render the trajectory and score outputs against its ground truth (see demo.py).

Standalone: python -m mtl_perception.tools.synthetic_camera --ros-args -p fps:=15.0 -p width:=320
"""
from __future__ import annotations

import sys
from typing import Any

from rclpy.node import Node
from rclpy.qos import QoSPresetProfiles
from sensor_msgs.msg import CameraInfo, Image

from ..interop.camera_info import IDENTITY_R, pinhole_k, pinhole_p
from ..interop.image import fill_image, float_to_rgb8


def render_frames(seed: int, count: int, height: int, width: int, fps: float) -> tuple[Any, list[Any]]:
    """(Camera, frames) along one trajectory; imported lazily so ROS tools need no renderer."""
    from ..data import Camera, render_sequence

    camera = Camera.default(height, width)
    return camera, list(render_sequence(seed, count, camera, fps=fps))


def camera_info_msg(camera: Any, frame_id: str) -> CameraInfo:
    info = CameraInfo()
    info.header.frame_id = frame_id
    info.width, info.height = int(camera.width), int(camera.height)
    info.distortion_model = "plumb_bob"
    info.d = [0.0] * 5
    info.k = pinhole_k(camera)
    info.r = list(IDENTITY_R)
    info.p = pinhole_p(camera)
    return info


def pingpong(index: int, count: int) -> int:
    """Frame index for the index-th publication when playing 0..n-1, n-2..1, 0.. in a loop."""
    if count <= 1:
        return 0
    period = 2 * count - 2
    i = index % period
    return i if i < count else period - i


IMAGE_TOPIC, CAMERA_INFO_TOPIC = "image", "camera_info"
TOPICS = {  # what the node publishes (relative names: under its namespace, remappable), for --help
    IMAGE_TOPIC: "sensor_msgs/msg/Image, rgb8, sensor-data QoS (best effort)",
    CAMERA_INFO_TOPIC: "sensor_msgs/msg/CameraInfo (plumb_bob, no distortion), the image's header, sensor-data QoS",
}
PARAMETERS = {  # name: (default, meaning)
    "fps": (15.0, "frames per second, 0.1..120"),
    "seed": (0, "scene and trajectory seed"),
    "num_frames": (60, "frames rendered up front, played forwards then backwards in a loop"),
    "height": (240, "image height in pixels"),
    "width": (320, "image width in pixels"),
    "frame_id": ("camera_optical_frame", "header frame_id"),
}


def usage() -> str:
    """--help: what the camera publishes and which parameters it takes."""
    topics = "\n".join(f"  {name:<12} {kind}" for name, kind in TOPICS.items())
    parameters = "\n".join(f"  {name:<12} {meaning} (default {default!r})" for name, (default, meaning) in PARAMETERS.items())
    module = "python -m mtl_perception.tools.synthetic_camera"
    return (
        f"usage: {module} [--ros-args -p NAME:=VALUE ... -r FROM:=TO ...]\n\n"
        "Publishes a rendered camera trajectory at a fixed rate, for the perception node's `image` input.\n\n"
        f"Topics published (relative: under the node's namespace, and remappable):\n{topics}\n\n"
        f"Parameters (-p NAME:=VALUE):\n{parameters}\n\n"
        "Examples:\n"
        f"  {module} --ros-args -r __ns:=/perception -p fps:=15.0       # /perception/image, /perception/camera_info\n"
        f"  {module} --ros-args -r image:=/camera/image_raw -r camera_info:=/camera/camera_info"
    )


class SyntheticCamera(Node):
    """Publishes `image` and `camera_info` (sensor-data QoS) from pre-rendered frames."""

    def __init__(self, frames: list[Any] | None = None, camera: Any = None, *, node_name: str = "synthetic_camera", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        for name, (default, _) in PARAMETERS.items():
            self.declare_parameter(name, default)
        self.fps = float(self.get_parameter("fps").value)
        if not 0.1 <= self.fps <= 120.0:
            raise ValueError(f"fps must be in [0.1, 120], got {self.fps}")
        if frames is None:
            camera, frames = render_frames(
                int(self.get_parameter("seed").value),
                int(self.get_parameter("num_frames").value),
                int(self.get_parameter("height").value),
                int(self.get_parameter("width").value),
                self.fps,
            )
        self.frames = frames
        self.camera = camera
        self.frame_id = str(self.get_parameter("frame_id").value)
        self._images = [float_to_rgb8(f.image) for f in frames]
        self._info = camera_info_msg(camera, self.frame_id)
        qos = QoSPresetProfiles.SENSOR_DATA.value
        self.image_pub = self.create_publisher(Image, IMAGE_TOPIC, qos)
        self.info_pub = self.create_publisher(CameraInfo, CAMERA_INFO_TOPIC, qos)
        self.frames_published = 0
        self._timer = None

    def start(self) -> None:
        if self._timer is None:
            self._timer = self.create_timer(1.0 / self.fps, self.publish_next)

    def stop(self) -> None:
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None

    def publish_next(self) -> None:
        index = pingpong(self.frames_published, len(self._images))
        stamp = self.get_clock().now()
        msg = Image()
        fill_image(msg, self._images[index], "rgb8")
        msg.header.stamp = stamp.to_msg()
        msg.header.frame_id = self.frame_id
        self._info.header = msg.header
        self.info_pub.publish(self._info)
        self.image_pub.publish(msg)
        self.frames_published += 1


def main(args: list[str] | None = None) -> int:
    import rclpy
    from rclpy.executors import ExternalShutdownException

    argv = sys.argv[1:] if args is None else list(args)
    ours = argv[: argv.index("--ros-args")] if "--ros-args" in argv else argv
    if {"-h", "--help"} & set(ours):  # print usage; do not start publishing
        print(usage())
        return 0
    rclpy.init(args=args)
    node = None
    try:
        node = SyntheticCamera()
        node.start()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
