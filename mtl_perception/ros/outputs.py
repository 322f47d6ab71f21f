"""The node's output topics and the messages it builds for them from one frame's prediction."""
from __future__ import annotations

from typing import Any

import numpy as np
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField

from ..interop.camera_info import fill_scaled_camera_info
from ..interop.image import fill_image
from ..interop.pointcloud import CloudOptions, fill_point_cloud
from ..interop.topics import POINTS_TOPIC

# output key -> (topic, task it needs)
OUTPUTS: dict[str, tuple[str, str]] = {
    "labels": ("segmentation/labels", "segmentation"),
    "seg_color": ("segmentation/color", "segmentation"),
    "overlay": ("segmentation/overlay", "segmentation"),
    "confidence": ("segmentation/confidence", "segmentation"),
    "depth": ("depth/image", "depth"),
    "depth_info": ("depth/camera_info", "depth"),
    "normals": ("normals/image", "normals"),
    "normals_color": ("normals/color", "normals"),
    "points": (POINTS_TOPIC, "depth"),
}
MESSAGE_TYPES: dict[str, type] = {"depth_info": CameraInfo, "points": PointCloud2}


def message_type(key: str) -> type:
    return MESSAGE_TYPES.get(key, Image)


def image_msg(header: Any, array: np.ndarray, encoding: str) -> Image:
    msg = Image()
    msg.header = header
    return fill_image(msg, array, encoding)


def scaled_info(info: CameraInfo, header: Any, width: int, height: int, input_shape: tuple[int, ...]) -> CameraInfo:
    """`info` (for the input image) rescaled to a width × height output, with the input's header."""
    out = CameraInfo()
    out.header = header
    return fill_scaled_camera_info(out, info, width, height, input_shape)


def cloud_options(values: dict[str, Any]) -> CloudOptions:
    """The points_* parameters as CloudOptions."""
    return CloudOptions(
        stride=values["points_stride"],
        max_depth=values["points_max_depth"],
        min_confidence=values["points_min_confidence"],
        organized=values["points_organized"],
    )


def cloud_msg(header: Any, points: np.ndarray) -> PointCloud2:
    msg = PointCloud2()
    msg.header = header
    return fill_point_cloud(msg, points, PointField)
