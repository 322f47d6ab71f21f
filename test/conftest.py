"""Test-wide setup. DDS must stay on loopback on a private domain before rclpy ever starts."""
import os

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", "87")
os.environ.setdefault("OMP_NUM_THREADS", "2")


import argparse  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def data_root(tmp_path_factory):
    """A tiny rendered dataset in the MTAN layout (4 train, 2 val, 32×48), shared by training tests."""
    from mtl_perception.data import make_dataset

    root = tmp_path_factory.mktemp("data")
    args = argparse.Namespace(out=root, train=4, val=2, height=32, width=48, seed=0, preview=0, overwrite=False)
    assert make_dataset.run(args) == 0
    return root
