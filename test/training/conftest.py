"""Fixtures of the training tests: a tiny rendered dataset."""
from __future__ import annotations

import argparse

import pytest


@pytest.fixture(scope="session")
def data_root(tmp_path_factory):
    """A tiny rendered dataset in the MTAN layout (4 train, 2 val, 32×48), shared by training tests."""
    from mtl_perception.tools import make_dataset

    root = tmp_path_factory.mktemp("data")
    args = argparse.Namespace(out=root, train=4, val=2, height=32, width=48, seed=0, preview=0, overwrite=False)
    assert make_dataset.run(args) == 0
    return root
