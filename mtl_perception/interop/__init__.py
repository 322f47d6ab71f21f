"""ROS message conventions without rclpy, shared by ros/, bag/ and tools/.

Modules: image (Image/CompressedImage <-> numpy), stamps (Header stamps <-> ns), camera_info
(pinhole K/P, validation, rescaling), pointcloud (the semantic PointCloud2: back-projection and
packing), encodings (task arrays on topics <-> metric conventions),
topics (the node's topic names). Imports nothing of ours and no ROS package.
"""
