"""Fixtures of the node tests: rclpy initialised once per module, and a tiny artifact to serve."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def ros():
    """rclpy, initialised once per test module and shut down after it."""
    rclpy = pytest.importorskip("rclpy")
    rclpy.init()
    yield rclpy
    rclpy.try_shutdown()


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    """A tiny random-weight artifact (5 classes, 64x80), once per test module."""
    from support.artifacts import make_tiny_artifact

    return make_tiny_artifact(tmp_path_factory.mktemp("artifact") / "tiny")
