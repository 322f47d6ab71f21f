"""The node's Fast DDS profile: the builtin transports with a shared-memory segment sized for its images, unless someone chose otherwise.

Fast DDS reads its default XML profile when rclpy starts, so this runs in the node's `main`
before `rclpy.init`; a node embedded in another process is left to that process.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import MutableMapping

PROFILE_PATH = Path(__file__).with_name("fastdds_profile.xml")
SHM_SEGMENT_BYTES = 32 << 20  # the value in PROFILE_PATH
OPT_OUT_VARIABLE = "MTL_PERCEPTION_FASTDDS_PROFILE"  # "off": leave Fast DDS at its own defaults
PROFILE_VARIABLES = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")
TRANSPORT_VARIABLES = ("FASTDDS_BUILTIN_TRANSPORTS",)
PROFILE_FILES_IN_CWD = ("DEFAULT_FASTRTPS_PROFILES.xml", "DEFAULT_FASTDDS_PROFILES.xml")  # Fast DDS loads these by itself
FASTDDS_RMWS = ("rmw_fastrtps_cpp", "rmw_fastrtps_dynamic_cpp")


def integrator_choice(environ: MutableMapping[str, str], cwd: Path) -> str | None:
    """What already decides the node's transports (None: nothing does, so the node's profile may)."""
    if environ.get(OPT_OUT_VARIABLE, "").strip().lower() == "off":
        return f"{OPT_OUT_VARIABLE}=off"
    rmw = environ.get("RMW_IMPLEMENTATION", "").strip()
    if rmw and rmw not in FASTDDS_RMWS:
        return f"RMW_IMPLEMENTATION={rmw}"
    for name in PROFILE_VARIABLES + TRANSPORT_VARIABLES:
        if environ.get(name):
            return f"{name}={environ[name]}"
    for name in PROFILE_FILES_IN_CWD:
        if (cwd / name).is_file():
            return f"{cwd / name}"
    return None


def use_node_profile(environ: MutableMapping[str, str] = os.environ, cwd: Path | None = None) -> str:
    """Point Fast DDS at PROFILE_PATH unless the integrator chose otherwise; a line saying which, for the log."""
    choice = integrator_choice(environ, Path.cwd() if cwd is None else cwd)
    if choice is not None:
        return f"Fast DDS profile left as configured ({choice})"
    environ["FASTRTPS_DEFAULT_PROFILES_FILE"] = str(PROFILE_PATH)
    return f"Fast DDS profile: {PROFILE_PATH.name} ({SHM_SEGMENT_BYTES >> 20} MiB shared-memory segment)"
