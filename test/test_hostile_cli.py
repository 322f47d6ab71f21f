"""Hostile input to the CLI as a whole (issue 15): outputs that cannot be written and absurd values
are refused before anything runs, in one line with exit code 2; --debug shows the traceback; every
entry point sets OpenMP's wait policy. Each test is a probe that broke the old code.

Probes of one room live beside it: interop/test_hostile_image.py, bag/test_hostile_bag.py,
runtime/test_hostile_artifact.py, training/test_hostile_checkpoints.py, training/test_eval_cli.py.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mtl_perception.cli import main as cli_main
from support.cli import one_line_error


def test_unwritable_out_for_train_make_dataset_make_bag(capsys, a_file):
    under_file = str(a_file / "out")
    one_line_error(capsys, ["train", "--out", under_file, "epochs=1"], under_file, "not a directory")
    one_line_error(capsys, ["make-dataset", "--out", under_file, "--train", "1", "--val", "1"], under_file)
    one_line_error(capsys, ["make-bag", "--out", "/proc/mtl_perception_probe", "--frames", "1", "--no-progress"], "/proc")
    assert a_file.read_text() == "not a directory"


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["make-dataset", "--out", "{tmp}/d", "--height", "100000", "--width", "100000"], "8..4096"),
        (["train", "--out", "{tmp}/r", "model.width=1e6"], "model.width"),
        (["train", "--out", "{tmp}/r", "device=tpu"], "'tpu'"),
        (["train", "--out", "{tmp}/r", "threads=-3"], "threads"),
        (["train", "--out", "{tmp}/r", "data.train_limit=-5"], "train_limit"),
        (["model-info", "--width", "0"], "width"),
        (["model-info", "--width", "1e6"], "channels"),
        (["make-bag", "--out", "{tmp}/b", "--fps", "inf", "--no-progress"], "--fps"),
        (["make-bag", "--out", "{tmp}/b", "--fps", "nan", "--no-progress"], "--fps"),
    ],
    ids=["dataset-size", "train-width", "device-tpu", "threads", "train-limit", "model-info-width", "model-info-huge", "fps-inf", "fps-nan"],
)
def test_absurd_values_give_one_line(capsys, tmp_path, argv, needle):
    one_line_error(capsys, [arg.replace("{tmp}", str(tmp_path)) for arg in argv], needle)
    assert not any(tmp_path.iterdir())  # refused before anything was created


def test_overrides_on_both_sides_of_out(capsys, tmp_path):
    err = one_line_error(capsys, ["train", "epochs=2", "--out", str(tmp_path / "r"), "threads=-3"], "threads")
    assert "unrecognized" not in err


def test_debug_flag_and_variable_show_the_traceback(monkeypatch):
    with pytest.raises(ValueError, match="width"):
        cli_main(["--debug", "model-info", "--width", "0"])
    with pytest.raises(ValueError, match="width"):
        cli_main(["model-info", "--width", "0", "--debug"])
    monkeypatch.setenv("MTL_PERCEPTION_DEBUG", "1")
    with pytest.raises(ValueError, match="width"):
        cli_main(["model-info", "--width", "0"])


# ---------------------------------------------------------------- OpenMP defaults of every entry point


@pytest.mark.parametrize("preset, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_cli_sets_passive_openmp_unless_the_user_chose(preset, expected):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if preset:
        env["OMP_WAIT_POLICY"] = preset
    code = "import mtl_perception.cli, os; print(os.environ['OMP_WAIT_POLICY'])"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == expected
