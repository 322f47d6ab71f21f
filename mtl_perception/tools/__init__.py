"""Processes and commands around the node: demo, synthetic camera, replay-eval, bag play, make-dataset.

Built on one node-process launcher (node_process), one output recorder (recorder) and one
loopback-DDS environment setter (env). rclpy is imported lazily by what needs it.
"""
