"""Fixtures of the bag tests: a tiny artifact for the renderer's classes, and a CPU engine on it."""
from __future__ import annotations

from pathlib import Path

import pytest

from support.bags import make_artifact


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    """The tiny artifact (renderer classes, 48x64), once per test module."""
    return make_artifact(tmp_path_factory.mktemp("art"))


@pytest.fixture(scope="module")
def engine(artifact):
    """A CPU engine on the tiny artifact."""
    from mtl_perception.runtime import load_engine

    return load_engine(artifact, device="cpu")
