"""Launch the mtl_perception lifecycle node (ROS 2 Humble / Jazzy).

    ros2 launch mtl_perception perception.launch.py image:=/camera/color/image_raw \
        camera_info:=/camera/color/camera_info namespace:=perception device:=cuda

Arguments: image, camera_info (input topics to remap), namespace, params_file (YAML,
default: the package's config/perception.yaml), model_path (empty = the bundled model),
device (auto | cpu | cuda | cuda:N), omp_wait_policy (PASSIVE by default: PyTorch's CPU
threads sleep between layers instead of spinning, the same frame rate for about 30 % less CPU
in benchmarks/bench_node.py; ACTIVE to spin), rviz (true starts rviz2 with rviz_config, default
the package's rviz/perception.rviz, and rviz_fixed_frame, the camera's optical frame; false by
default, so no rviz2 is needed). The node autostarts (configure + activate) unless
params_file sets autostart: false; drive it then with `ros2 lifecycle set`.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

PACKAGE = "mtl_perception"
EXECUTABLE = "perception_node"
NODE_NAME = "perception_node"


def generate_launch_description():
    share = get_package_share_directory(PACKAGE)
    default_params = os.path.join(share, "config", "perception.yaml")
    arguments = [
        DeclareLaunchArgument("image", default_value="/camera/image_raw", description="input sensor_msgs/Image topic"),
        DeclareLaunchArgument("camera_info", default_value="/camera/camera_info", description="input sensor_msgs/CameraInfo topic"),
        DeclareLaunchArgument("namespace", default_value="perception", description="namespace of the node and its outputs"),
        DeclareLaunchArgument("params_file", default_value=default_params, description="parameter YAML file"),
        DeclareLaunchArgument("model_path", default_value="", description="deploy artifact directory; empty = bundled model"),
        DeclareLaunchArgument("device", default_value="auto", description="auto | cpu | cuda | cuda:N"),
        DeclareLaunchArgument("omp_wait_policy", default_value="PASSIVE", description="OpenMP wait policy for CPU inference: PASSIVE | ACTIVE"),
        DeclareLaunchArgument("rviz", default_value="false", description="true: also start rviz2 with rviz_config"),
        DeclareLaunchArgument("rviz_config", default_value=os.path.join(share, "rviz", "perception.rviz"), description="RViz config file"),
        DeclareLaunchArgument("rviz_fixed_frame", default_value="camera_optical_frame", description="RViz fixed frame: the camera's frame_id"),
    ]
    # Must be in the environment before the node process loads torch.
    environment = [SetEnvironmentVariable("OMP_WAIT_POLICY", LaunchConfiguration("omp_wait_policy"))]
    node = Node(
        package=PACKAGE,
        executable=EXECUTABLE,
        name=NODE_NAME,
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        emulate_tty=True,
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "model_path": ParameterValue(LaunchConfiguration("model_path"), value_type=str),
                "device": ParameterValue(LaunchConfiguration("device"), value_type=str),
            },
        ],
        remappings=[
            ("image", LaunchConfiguration("image")),
            ("camera_info", LaunchConfiguration("camera_info")),
        ],
    )
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        arguments=["-d", LaunchConfiguration("rviz_config"), "-f", LaunchConfiguration("rviz_fixed_frame")],
        condition=IfCondition(LaunchConfiguration("rviz")),  # rviz2 need not be installed otherwise
    )
    return LaunchDescription([*arguments, *environment, node, rviz])
