"""launch_testing description of launch/perception.launch.py: the node must reach active.

Run by test_launch_testing.py with `launch_test` (in the colcon workspace's environment); not a
pytest module itself. The bundled model on CPU, namespace from the environment.
"""
import os
import unittest

import launch
import launch_testing.actions
import launch_testing.asserts
from ament_index_python.packages import get_package_share_directory
from launch.launch_description_sources import PythonLaunchDescriptionSource

NAMESPACE = os.environ.get("MTL_TEST_NAMESPACE", "launch_test")
ACTIVE_TIMEOUT_S = 90.0


def generate_test_description():
    launch_file = os.path.join(get_package_share_directory("mtl_perception"), "launch", "perception.launch.py")
    include = launch.actions.IncludeLaunchDescription(
        PythonLaunchDescriptionSource(launch_file), launch_arguments={"namespace": NAMESPACE, "device": "cpu"}.items()
    )
    return launch.LaunchDescription([include, launch_testing.actions.ReadyToTest()])


class TestReachesActive(unittest.TestCase):
    def test_node_reports_active(self, proc_output):
        proc_output.assertWaitFor("active: listening on", timeout=ACTIVE_TIMEOUT_S, stream="stderr")


@launch_testing.post_shutdown_test()
class TestCleanExit(unittest.TestCase):
    def test_exit_code(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)
