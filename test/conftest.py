"""Test-wide setup. DDS must stay on loopback on a private domain before rclpy ever starts."""
import os

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", "87")
os.environ.setdefault("OMP_NUM_THREADS", "2")
