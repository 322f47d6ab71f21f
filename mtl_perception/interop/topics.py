"""Topic names of the DESIGN §3 interface (relative to the node's namespace) and naming conventions."""
from __future__ import annotations

# task -> the node's array output topic.
TASK_TOPICS: dict[str, str] = {"segmentation": "segmentation/labels", "depth": "depth/image", "normals": "normals/image"}
DEPTH_CAMERA_INFO = "depth/camera_info"
POINTS_TOPIC = "points"  # the semantic sensor_msgs/PointCloud2
DEFAULT_IMAGE_TOPIC = "/camera/image_raw"
DEFAULT_GT_TOPICS: dict[str, str] = {
    "segmentation": "/ground_truth/segmentation",
    "depth": "/ground_truth/depth",
    "normals": "/ground_truth/normals",
}


def camera_info_beside(image_topic: str) -> str:
    """The camera_info topic a camera driver publishes next to `image_topic` (same namespace)."""
    return image_topic.rsplit("/", 1)[0] + "/camera_info"


def absolute_namespace(namespace: str) -> str:
    """'/ns' for 'ns', '/ns/' or '/ns'; '' for the root namespace."""
    stripped = namespace.strip("/")
    return "/" + stripped if stripped else ""
