"""Camera placement: random poses for datasets and smooth trajectories for sequences.

Both entry points derive every random number from their seed through
``numpy.random.SeedSequence``, so a (seed, index) pair is a pure function of
its arguments, independent of call order and process.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .camera import Camera, Pose, pose_from_angles
from .renderer import Frame, Renderer
from .scene import Scene, random_room_size, random_scene

# Separate streams, so a dataset frame and a sequence never share random numbers.
_DATASET_STREAM = 0
_SEQUENCE_STREAM = 1
CAMERA_CLEARANCE = 0.3  # m between the camera and any item's footprint


def random_pose(scene: Scene, rng: np.random.Generator, tries: int = 64) -> tuple[Scene, Pose]:
    """A hand-held-like viewpoint in free space, looking into the room.

    Returns the scene too: if no free spot turns up, the items blocking the
    last candidate are removed so the camera is never inside an object.
    """
    lx, ly, lz = scene.room.size
    margin = CAMERA_CLEARANCE
    for _ in range(tries):
        x, y = rng.uniform(margin, lx - margin), rng.uniform(margin, ly - margin)
        if scene.is_free(x, y, margin):
            break
    scene = scene.without_items(scene.blocking_items(x, y, margin))  # a no-op unless every try failed
    z = rng.uniform(0.7, min(1.9, lz - 0.4))
    # Aim at a random point of the room, so views cross the room rather than face a wall up close.
    tx, ty = rng.uniform(0.15, 0.85) * lx, rng.uniform(0.15, 0.85) * ly
    if math.hypot(tx - x, ty - y) < 0.5:
        tx, ty = lx - x, ly - y
    yaw = math.atan2(ty - y, tx - x) + rng.normal(0.0, 0.3)
    pitch = math.radians(rng.uniform(-38.0, 8.0))
    roll = math.radians(rng.normal(0.0, 3.0))
    return scene, pose_from_angles(np.array([x, y, z]), yaw, pitch, roll)


@dataclass(frozen=True)
class Trajectory:
    """Smooth walk on an ellipse around the room centre, looking across the room.

    All angles vary sinusoidally in time, so velocity and angular velocity are continuous.
    """

    center: tuple[float, float]
    radii: tuple[float, float]
    omega: float  # rad/s along the ellipse (sign = direction)
    phase: float
    height: float
    bob: tuple[float, float, float]  # height oscillation: amplitude (m), rad/s, phase
    yaw_swing: tuple[float, float, float]  # look-direction swing about "towards the centre": amplitude, rad/s, phase
    pitch: tuple[float, float, float]  # mean (rad), amplitude, rad/s
    roll: float  # amplitude (rad), sharing the pitch frequency

    @classmethod
    def random(
        cls, room_size: tuple[float, float, float], rng: np.random.Generator, speed: float = 0.4
    ) -> "Trajectory":
        """A random walk for a room of ``room_size`` at about ``speed`` m/s."""
        lx, ly, lz = room_size
        radii = (rng.uniform(0.22, 0.32) * lx, rng.uniform(0.22, 0.32) * ly)
        omega = speed / max(radii) * (1.0 if rng.random() < 0.5 else -1.0)
        return cls(
            center=(lx / 2, ly / 2),
            radii=radii,
            omega=omega,
            phase=rng.uniform(0.0, 2 * math.pi),
            height=rng.uniform(1.1, min(1.6, lz - 0.5)),
            bob=(rng.uniform(0.0, 0.08), rng.uniform(0.5, 1.5), rng.uniform(0.0, 2 * math.pi)),
            yaw_swing=(rng.uniform(0.3, 0.9), rng.uniform(0.15, 0.4), rng.uniform(0.0, 2 * math.pi)),
            pitch=(math.radians(rng.uniform(-25.0, -8.0)), math.radians(rng.uniform(2.0, 8.0)), rng.uniform(0.2, 0.5)),
            roll=math.radians(rng.uniform(0.0, 3.0)),
        )

    def position(self, time: float) -> np.ndarray:
        a = self.omega * time + self.phase
        z = self.height + self.bob[0] * math.sin(self.bob[1] * time + self.bob[2])
        return np.array([self.center[0] + self.radii[0] * math.cos(a), self.center[1] + self.radii[1] * math.sin(a), z])

    def pose(self, time: float) -> Pose:
        p = self.position(time)
        towards_center = math.atan2(self.center[1] - p[1], self.center[0] - p[0])
        amp, freq, phase = self.yaw_swing
        yaw = towards_center + amp * math.sin(freq * time + phase)
        mean, pamp, pfreq = self.pitch
        pitch = mean + pamp * math.sin(pfreq * time)
        roll = self.roll * math.sin(pfreq * time + 1.0)
        return pose_from_angles(p, yaw, pitch, roll)

    def _path(self, samples: int = 256) -> np.ndarray:
        """Floor-plan points (samples×2) along one lap of the ellipse."""
        a = np.linspace(0.0, 2 * math.pi, samples, endpoint=False)
        x = self.center[0] + self.radii[0] * np.cos(a)
        return np.stack([x, self.center[1] + self.radii[1] * np.sin(a)], axis=1)

    def keeps_clear(self, x: float, y: float, radius: float) -> bool:
        """Whether a floor disc stays out of the camera's way (a ``random_scene`` keep_clear)."""
        path = self._path()
        return bool(np.min(np.hypot(path[:, 0] - x, path[:, 1] - y)) >= radius + CAMERA_CLEARANCE)

    def clear_path(self, scene: Scene) -> Scene:
        """The scene without any item the ellipse would walk through."""
        blocking: set[int] = set()
        for x, y in self._path():
            blocking.update(scene.blocking_items(float(x), float(y), CAMERA_CLEARANCE))
        return scene.without_items(sorted(blocking))


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in key]))


def render_dataset_frame(seed: int, index: int, camera: Camera) -> Frame:
    """Frame ``index`` of dataset ``seed``: its own random room, viewpoint and sensor noise."""
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be non-negative, got {seed}, {index}")
    rng = _rng(_DATASET_STREAM, seed, index)
    scene, pose = random_pose(random_scene(rng), rng)
    return Renderer(camera).render(scene, pose, rng)


def render_sequence(seed: int, num_frames: int, camera: Camera, fps: float = 15.0) -> Iterator[Frame]:
    """``num_frames`` frames at ``fps`` along one smooth trajectory through one random room."""
    if seed < 0 or num_frames < 0 or fps <= 0:
        raise ValueError(f"need seed >= 0, num_frames >= 0 and fps > 0, got {seed}, {num_frames}, {fps}")
    rng = _rng(_SEQUENCE_STREAM, seed)
    size = random_room_size(rng)
    trajectory = Trajectory.random(size, rng)
    # Furniture is laid out around the path; clear_path only guards the contract.
    scene = trajectory.clear_path(random_scene(rng, size=size, keep_clear=trajectory.keeps_clear))
    renderer = Renderer(camera)
    for i in range(num_frames):
        # Each frame's sensor noise has its own stream, so frame i does not depend on how many came before.
        yield renderer.render(scene, trajectory.pose(i / fps), _rng(_SEQUENCE_STREAM, seed, i))
