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
from .style import PoseStyle, RenderStyle, render_style

# Separate streams, so a dataset frame and a sequence never share random numbers.
_DATASET_STREAM = 0
_SEQUENCE_STREAM = 1
CAMERA_CLEARANCE = 0.3  # m between the camera and any item's footprint
# Footprints at least this wide and tall are furniture (a chair is 0.3 m by 0.9 m), not clutter.
_FURNITURE_RADIUS, _FURNITURE_HEIGHT = 0.28, 0.65


def random_pose(
    scene: Scene, rng: np.random.Generator, tries: int = 64, style: PoseStyle | None = None
) -> tuple[Scene, Pose]:
    """A hand-held-like viewpoint in free space, looking into the room (``style``: the height, pitch
    and roll ranges; default classic). Returns the scene too: if no free spot turns up, the items
    blocking the last candidate are removed so the camera is never inside an object.
    """
    style = PoseStyle() if style is None else style
    lx, ly, lz = scene.room.size
    target = _item_target(scene, rng, style)
    margin = CAMERA_CLEARANCE
    for _ in range(tries):
        if target is None:
            x, y = rng.uniform(margin, lx - margin), rng.uniform(margin, ly - margin)
        else:  # near the item, looking at it
            a, r = rng.uniform(0, 2 * math.pi), target[3] + rng.uniform(0.4, 1.6)
            x, y = target[0] + r * math.cos(a), target[1] + r * math.sin(a)
        if scene.is_free(x, y, margin):
            break
    scene = scene.without_items(scene.blocking_items(x, y, margin))  # a no-op unless every try failed
    z = rng.uniform(style.height[0], min(style.height[1], lz - style.ceiling_gap))
    if target is None:
        # Aim at a random point of the room, so views cross the room rather than face a wall up close.
        tx, ty = rng.uniform(0.15, 0.85) * lx, rng.uniform(0.15, 0.85) * ly
        if math.hypot(tx - x, ty - y) < 0.5:
            tx, ty = lx - x, ly - y
        yaw = math.atan2(ty - y, tx - x) + rng.normal(0.0, 0.3)
        pitch = math.radians(rng.uniform(*style.pitch_deg))
    else:
        tx, ty, tz = target[0] - x, target[1] - y, target[2] - z
        yaw = math.atan2(ty, tx) + rng.normal(0.0, 0.2)
        pitch = math.atan2(tz, math.hypot(tx, ty)) + math.radians(rng.normal(0.0, 6.0))
        pitch = min(max(pitch, math.radians(style.pitch_deg[0])), math.radians(style.pitch_deg[1]))
    roll = math.radians(rng.normal(0.0, style.roll_std_deg))
    return scene, pose_from_angles(np.array([x, y, z]), yaw, pitch, roll)


def _item_target(scene: Scene, rng: np.random.Generator, style: PoseStyle) -> tuple[float, float, float, float] | None:
    """With probability ``aim_at_items``, a random piece of furniture's (table, chair, cabinet)
    top centre and floor radius to look at."""
    if style.aim_at_items <= 0 or rng.random() >= style.aim_at_items:
        return None
    furniture = [f for f in scene.footprints if f.radius >= _FURNITURE_RADIUS and f.height >= _FURNITURE_HEIGHT]
    if not furniture:
        return None
    f = furniture[int(rng.integers(len(furniture)))]
    return f.x, f.y, f.height, f.radius


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


def render_dataset_frame(seed: int, index: int, camera: Camera, style: str | RenderStyle = "classic") -> Frame:
    """Frame ``index`` of dataset ``seed``: its own random room, viewpoint and sensor noise,
    in the named render ``style`` (see ``style.RENDER_STYLES``)."""
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be non-negative, got {seed}, {index}")
    style = render_style(style)
    rng = _rng(_DATASET_STREAM, seed, index)
    scene, pose = random_pose(random_scene(rng, style=style.scene), rng, style=style.pose)
    return Renderer(camera, style.sensor, style.shading).render(scene, pose, rng)


def render_sequence(
    seed: int, num_frames: int, camera: Camera, fps: float = 15.0, style: str | RenderStyle = "classic"
) -> Iterator[Frame]:
    """``num_frames`` frames at ``fps`` along one smooth trajectory through one random room
    (the trajectory is the same in every style; the room, lighting and sensor follow ``style``)."""
    if seed < 0 or num_frames < 0 or fps <= 0:
        raise ValueError(f"need seed >= 0, num_frames >= 0 and fps > 0, got {seed}, {num_frames}, {fps}")
    style = render_style(style)
    rng = _rng(_SEQUENCE_STREAM, seed)
    size = random_room_size(rng)
    trajectory = Trajectory.random(size, rng)
    # Furniture is laid out around the path; clear_path only guards the contract.
    scene = trajectory.clear_path(random_scene(rng, size=size, keep_clear=trajectory.keeps_clear, style=style.scene))
    renderer = Renderer(camera, style.sensor, style.shading)
    for i in range(num_frames):
        # Each frame's sensor noise has its own stream, so frame i does not depend on how many came before.
        yield renderer.render(scene, trajectory.pose(i / fps), _rng(_SEQUENCE_STREAM, seed, i))
