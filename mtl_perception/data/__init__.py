"""Data: the procedural indoor-scene renderer, the MTAN-layout loader and augmentation.

Renderer (numpy only): ``render_dataset_frame(seed, index, camera)`` and
``render_sequence(seed, num_frames, camera, fps)`` on top of
``random_scene`` / ``random_pose`` / ``Renderer``. Loader: ``MTANDataset``.
"""
from .camera import Camera, Pose, look_at, pose_from_angles
from .classes import CLASS_NAMES, NUM_CLASSES, PALETTE
from .dataset import DatasetError, MTANDataset, read_camera, write_camera, write_sample
from .memory import InMemoryDataset
from .primitives import Box, Cylinder, Room, Sphere
from .renderer import Frame, Renderer, SensorModel, render
from .scene import Light, Opening, Scene, random_material, random_room_size, random_scene, room_scene
from .textures import Material, Pattern
from .trajectory import Trajectory, random_pose, render_dataset_frame, render_sequence
from .transforms import AugmentConfig

__all__ = [
    "AugmentConfig",
    "Box",
    "CLASS_NAMES",
    "Camera",
    "Cylinder",
    "DatasetError",
    "Frame",
    "InMemoryDataset",
    "Light",
    "MTANDataset",
    "Material",
    "NUM_CLASSES",
    "Opening",
    "PALETTE",
    "Pattern",
    "Pose",
    "Renderer",
    "Room",
    "Scene",
    "SensorModel",
    "Sphere",
    "Trajectory",
    "look_at",
    "pose_from_angles",
    "random_material",
    "random_pose",
    "random_room_size",
    "random_scene",
    "read_camera",
    "render",
    "render_dataset_frame",
    "render_sequence",
    "room_scene",
    "write_camera",
    "write_sample",
]
