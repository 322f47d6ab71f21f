"""ROS 2 integration. Only the node/demo modules import rclpy; image_codec is ROS-free.

Modules: image_codec (Image <-> numpy), visualize (colour views, ROS-free), serving (one-slot
buffer, statistics, CameraInfo maths; ROS-free), params (declarations + validation), qos,
diagnostics (DiagnosticArray), node (the lifecycle node, `perception_node`), synthetic_camera,
harness (in-process test/tool helpers), demo (`mtl-perception demo`).
"""
