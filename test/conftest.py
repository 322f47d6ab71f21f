"""Test-wide setup. DDS must stay on loopback on a private domain before rclpy ever starts.

This conftest.py loads before every other one and before any test module, so what it sets here holds
for every test, in whichever directory. Fixtures used by one directory live in that directory's
conftest.py; the ones here are shared by several.
"""
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")

import importlib.util  # noqa: E402

import pytest  # noqa: E402

from mtl_perception.tools.env import loopback_env  # noqa: E402

loopback_env(default_domain_id="87")

# test/ on sys.path, once: the plain helpers in test/support/ import as `support.<module>` from every
# test directory, whatever pytest's import mode.
TEST_ROOT = str(Path(__file__).resolve().parent)
if TEST_ROOT not in sys.path:
    sys.path.insert(0, TEST_ROOT)


def pytest_collection_modifyitems(config, items):
    """Every `ros`-marked test skips, with the reason, where rclpy is not installed (a fresh clone)."""
    if importlib.util.find_spec("rclpy") is not None:
        return
    skip = pytest.mark.skip(reason="rclpy (ROS 2 Jazzy wheels) is not installed: `make setup` installs them")
    for item in items:
        if "ros" in item.keywords:
            item.add_marker(skip)


@pytest.fixture()
def a_file(tmp_path) -> Path:
    """A plain file, where a command is told to write under it as if it were a directory."""
    path = tmp_path / "a_file"
    path.write_text("not a directory")
    return path


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if OpenCV's decoder is reached."""
    import cv2

    def refuse(*args, **kwargs):
        raise AssertionError("cv2.imdecode ran on a payload that should have been refused from its header")

    monkeypatch.setattr(cv2, "imdecode", refuse)
