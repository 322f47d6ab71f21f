"""Launch one mtl_perception node serving a robot's two cameras (front and rear) from one model.

    ros2 launch mtl_perception two_cameras.launch.py \
        front_image:=/front_camera/color/image_raw front_camera_info:=/front_camera/color/camera_info \
        rear_image:=/rear_camera/color/image_raw rear_camera_info:=/rear_camera/color/camera_info

The node reads config/perception.yaml, then config/two_cameras.yaml (cameras: [front, rear]),
so its inputs are front/image, front/camera_info, rear/image and rear/camera_info under the
namespace, remapped here to the cameras' topics, and each camera's outputs appear under its
name: /perception/front/segmentation/labels, /perception/rear/depth/image, ... Frames of one
size from both cameras run as one forward pass. Other arguments as perception.launch.py:
namespace, params_file (applied last), model_path, device, omp_wait_policy.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

PACKAGE = "mtl_perception"
CAMERAS = ("front", "rear")  # must match config/two_cameras.yaml


def generate_launch_description():
    share = get_package_share_directory(PACKAGE)
    arguments = [
        DeclareLaunchArgument("namespace", default_value="perception", description="namespace of the node and its outputs"),
        DeclareLaunchArgument("params_file", default_value=os.path.join(share, "config", "two_cameras.yaml"),
                              description="parameter YAML applied after the defaults (must keep cameras: [front, rear])"),
        DeclareLaunchArgument("model_path", default_value="", description="deploy artifact directory; empty = bundled model"),
        DeclareLaunchArgument("device", default_value="auto", description="auto | cpu | cuda | cuda:N"),
        DeclareLaunchArgument("omp_wait_policy", default_value="PASSIVE", description="OpenMP wait policy for CPU inference"),
    ]
    for camera in CAMERAS:
        arguments += [
            DeclareLaunchArgument(f"{camera}_image", default_value=f"/{camera}_camera/image_raw", description=f"{camera} camera's Image topic"),
            DeclareLaunchArgument(f"{camera}_camera_info", default_value=f"/{camera}_camera/camera_info",
                                  description=f"{camera} camera's CameraInfo topic"),
        ]
    node = Node(
        package=PACKAGE,
        executable="perception_node",
        name="perception_node",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        emulate_tty=True,
        parameters=[
            os.path.join(share, "config", "perception.yaml"),
            LaunchConfiguration("params_file"),
            {
                "model_path": ParameterValue(LaunchConfiguration("model_path"), value_type=str),
                "device": ParameterValue(LaunchConfiguration("device"), value_type=str),
            },
        ],
        remappings=[(f"{camera}/{topic}", LaunchConfiguration(f"{camera}_{topic}")) for camera in CAMERAS for topic in ("image", "camera_info")],
    )
    environment = [SetEnvironmentVariable("OMP_WAIT_POLICY", LaunchConfiguration("omp_wait_policy"))]
    return LaunchDescription([*arguments, *environment, node])
