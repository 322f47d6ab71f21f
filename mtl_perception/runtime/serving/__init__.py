"""ROS-free serving machinery: inference threads, latest-frame slots (one camera or several), the pipeline between them, statistics, process memory.

The node (ros/) wires these to rclpy; tests exercise them without ROS.
"""
from .camera_slots import CameraCounts, CameraSlots
from .latest_slot import LatestSlot
from .os_memory import keep_frame_buffers_in_heap, return_freed_memory
from .pipeline import ServingPipeline
from .stats import Percentiles, RateMeter, ServingStats
from .threads import InferencePlan, InferenceThread, name_os_thread, plan_inference

__all__ = ["CameraCounts", "CameraSlots", "InferencePlan", "InferenceThread", "LatestSlot", "Percentiles", "RateMeter", "ServingPipeline", "ServingStats",
           "keep_frame_buffers_in_heap", "name_os_thread", "plan_inference", "return_freed_memory"]
