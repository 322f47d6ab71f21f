"""The one loopback-DDS environment setter for every process the tools (and tests, benchmarks) start."""
from __future__ import annotations

import os

DEFAULT_DOMAIN_ID = "87"


def loopback_env(domain_id: str | None = None, *, default_domain_id: str = DEFAULT_DOMAIN_ID) -> dict[str, str]:
    """Force DDS discovery onto loopback and a private domain in os.environ; call before rclpy starts.

    `domain_id` overrides ROS_DOMAIN_ID; otherwise an existing one is kept, else `default_domain_id`.
    Returns the updated environment, to hand to subprocesses.
    """
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    if os.environ.get("ROS_DISTRO") == "humble":  # Humble spells it ROS_LOCALHOST_ONLY
        os.environ["ROS_LOCALHOST_ONLY"] = "1"
    if domain_id is not None:
        os.environ["ROS_DOMAIN_ID"] = str(domain_id)
    os.environ.setdefault("ROS_DOMAIN_ID", str(default_domain_id))
    return dict(os.environ)
