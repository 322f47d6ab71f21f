"""ROS 2 node: `perception_node` and what only it needs.

Modules: node (the lifecycle node, `perception_node`), serving (inference thread, one-slot buffer,
publisher hand-off, statistics; ROS-free), params (declarations + validation), qos, diagnostics
(DiagnosticArray), middleware (the node's default Fast DDS profile). Message conventions live in `mtl_perception.interop`, colour views in
`mtl_perception.colors`, and the tools around the node in `mtl_perception.tools`.
"""
