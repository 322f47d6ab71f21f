"""Issue 16: the node's Fast DDS profile (a 32 MiB shared-memory segment), and when it stays out of the way.

The decision is checked without ROS; that Fast DDS really takes the profile is checked by
reading the shared-memory segments a subprocess's participant maps (/proc/self/maps).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mtl_perception.ros.middleware import (
    OPT_OUT_VARIABLE,
    PROFILE_PATH,
    SHM_SEGMENT_BYTES,
    integrator_choice,
    use_node_profile,
)

NS = {"dds": "http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles"}


def test_the_profile_is_fast_dds_builtin_transports_with_a_larger_segment():
    root = ET.parse(PROFILE_PATH).getroot()
    descriptors = {d.findtext("dds:transport_id", namespaces=NS): d for d in root.iterfind(".//dds:transport_descriptor", NS)}
    kinds = {name: d.findtext("dds:type", namespaces=NS) for name, d in descriptors.items()}
    assert sorted(kinds.values()) == ["SHM", "UDPv4"]
    shm = next(d for d in descriptors.values() if d.findtext("dds:type", namespaces=NS) == "SHM")
    assert int(shm.findtext("dds:segment_size", namespaces=NS)) == SHM_SEGMENT_BYTES == 32 * 1024 * 1024
    # No interface whitelist: on a robot the node must stay reachable from other hosts.
    assert root.find(".//dds:interfaceWhiteList", NS) is None
    participant = root.find(".//dds:participant", NS)
    assert participant.get("is_default_profile") == "true"
    used = [t.text for t in participant.iterfind(".//dds:userTransports/dds:transport_id", NS)]
    assert sorted(used) == sorted(descriptors)
    assert participant.findtext(".//dds:useBuiltinTransports", namespaces=NS) == "false"


def test_nobody_chose_a_profile_so_the_node_sets_its_own(tmp_path):
    environ: dict[str, str] = {"RMW_IMPLEMENTATION": "rmw_fastrtps_cpp"}
    line = use_node_profile(environ, cwd=tmp_path)
    assert environ["FASTRTPS_DEFAULT_PROFILES_FILE"] == str(PROFILE_PATH)
    assert "32 MiB" in line


@pytest.mark.parametrize(
    "environ, expected",
    [
        ({"FASTRTPS_DEFAULT_PROFILES_FILE": "/etc/robot/dds.xml"}, "FASTRTPS_DEFAULT_PROFILES_FILE=/etc/robot/dds.xml"),
        ({"FASTDDS_DEFAULT_PROFILES_FILE": "/etc/robot/dds.xml"}, "FASTDDS_DEFAULT_PROFILES_FILE=/etc/robot/dds.xml"),
        ({"FASTDDS_BUILTIN_TRANSPORTS": "UDPv4"}, "FASTDDS_BUILTIN_TRANSPORTS=UDPv4"),
        ({"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}, "RMW_IMPLEMENTATION=rmw_cyclonedds_cpp"),
        ({OPT_OUT_VARIABLE: "off"}, f"{OPT_OUT_VARIABLE}=off"),
    ],
)
def test_an_integrators_choice_is_left_alone(tmp_path, environ, expected):
    before = dict(environ)
    line = use_node_profile(environ, cwd=tmp_path)
    assert environ == before
    assert line == f"Fast DDS profile left as configured ({expected})"


def test_a_profile_file_in_the_working_directory_is_left_alone(tmp_path):
    (tmp_path / "DEFAULT_FASTRTPS_PROFILES.xml").write_text("<dds/>")
    environ: dict[str, str] = {}
    assert integrator_choice(environ, tmp_path) == str(tmp_path / "DEFAULT_FASTRTPS_PROFILES.xml")
    use_node_profile(environ, cwd=tmp_path)
    assert environ == {}


PROBE = """
import json, os, sys
from mtl_perception.ros.middleware import use_node_profile
use_node_profile()
import rclpy
from sensor_msgs.msg import Image
rclpy.init()
node = rclpy.create_node("middleware_probe")
node.create_publisher(Image, "middleware_probe", 1).publish(Image())
sizes = {}
for line in open("/proc/self/maps"):
    fields = line.split()
    if len(fields) >= 6 and fields[5].startswith("/dev/shm/fastrtps_") and "port" not in fields[5]:
        start, end = (int(v, 16) for v in fields[0].split("-"))
        sizes[fields[5]] = sizes.get(fields[5], 0) + end - start
node.destroy_node()
rclpy.shutdown()
print(json.dumps(sorted(sizes.values())))
"""


def segment_sizes(extra_env: dict[str, str]) -> list[int]:
    """Sizes of the Fast DDS shared-memory segments a fresh participant maps (LOCALHOST, this suite's domain)."""
    env = {k: v for k, v in os.environ.items() if k not in ("FASTRTPS_DEFAULT_PROFILES_FILE", OPT_OUT_VARIABLE)}
    env.update(extra_env)
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120, cwd=Path(__file__).parent)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.ros
def test_fast_dds_maps_the_profiles_segment():
    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    with_profile = segment_sizes({})
    assert max(with_profile) >= SHM_SEGMENT_BYTES
    without = segment_sizes({OPT_OUT_VARIABLE: "off"})
    assert without and max(without) < SHM_SEGMENT_BYTES // 8  # Fast DDS's own 512 KiB segment
