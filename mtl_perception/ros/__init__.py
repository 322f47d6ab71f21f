"""ROS 2 integration. Only the node/demo modules import rclpy; image_codec is ROS-free."""
