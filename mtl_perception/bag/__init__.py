"""rosbag2 tools: read/write bags (mcap, sqlite3), offline evaluation, playback and live replay.

Pure Python (rosbags); rclpy is imported only by `play` and `replay`, lazily.
"""
from .io import BagError, BagFormatError, BagReader, BagWriter, TopicNotFoundError

__all__ = ["BagError", "BagFormatError", "BagReader", "BagWriter", "TopicNotFoundError"]
