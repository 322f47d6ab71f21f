"""Data: the procedural indoor-scene renderer, the MTAN-layout loader and augmentation.

Renderer (numpy; OpenCV for a styled sensor's blur): ``render_dataset_frame(seed, index, camera, style)`` and
``render_sequence(seed, num_frames, camera, fps, style)`` on top of
``random_scene`` / ``random_pose`` / ``Renderer``; ``style`` names a ``RenderStyle``
(``RENDER_STYLES``: "classic", "randomized"). Loader: ``MTANDataset``; augmentation
``AugmentConfig`` and its named ``AUGMENT_PRESETS`` ("basic", "camera").
"""
from .camera import Camera, Pose, look_at, pose_from_angles
from .classes import CLASS_NAMES, NUM_CLASSES, PALETTE
from .dataset import DatasetError, MTANDataset, read_camera, write_camera, write_sample
from .memory import InMemoryDataset
from .primitives import Box, Cylinder, Room, Sphere
from .renderer import Frame, Renderer, SensorModel, render
from .scene import Light, Opening, Scene, random_material, random_room_size, random_scene, room_scene
from .style import RENDER_STYLES, PoseStyle, RenderStyle, SceneStyle, Shading, render_style
from .textures import Material, Pattern
from .trajectory import Trajectory, random_pose, render_dataset_frame, render_sequence
from .transforms import AUGMENT_PRESETS, AugmentConfig

__all__ = [
    "AUGMENT_PRESETS",
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
    "PoseStyle",
    "RENDER_STYLES",
    "RenderStyle",
    "Renderer",
    "Room",
    "Scene",
    "SceneStyle",
    "SensorModel",
    "Shading",
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
    "render_style",
    "room_scene",
    "write_camera",
    "write_sample",
]
