"""Hostile input (issue 15): byte counts that lie, commands that would destroy data, bad CLI values.

Each test is a probe that broke the old code; each runs in a few seconds.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from mtl_perception.bag import messages as m
from mtl_perception.bag.evaluate import evaluate_bag
from mtl_perception.bag.io import BagError, BagFormatError, BagWriter, typestore
from mtl_perception.bag.make_bag import IMAGE_TOPIC, write_bag
from mtl_perception.cli import main as cli_main
from mtl_perception.interop.image import ImageFormatError, image_to_array, image_to_rgb

from bag_fixtures import FPS, FRAMES, H, SEED, W, artifact, engine  # noqa: F401 - fixtures

STEP_BOMB = 2**26  # 64 MiB of row stride announced, one byte sent


def _image(height: int, width: int, step: int, data: bytes, encoding: str = "mono8") -> SimpleNamespace:
    return SimpleNamespace(height=height, width=width, encoding=encoding, is_bigendian=0, step=step, data=data)


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    """A make-bag recording, shared read-only by the tests below (each copies what it may damage)."""
    path = tmp_path_factory.mktemp("rec") / "bag"
    write_bag(path, frames=FRAMES, fps=FPS, height=H, width=W, seed=SEED)
    return path


# ---------------------------------------------------------------- image bytes vs len(data)


def test_step_bomb_is_refused_without_allocating():
    tracemalloc.start()
    try:
        with pytest.raises(ImageFormatError, match="larger than the whole payload"):
            image_to_array(_image(1, 1, STEP_BOMB, b"\x07"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # the old decoder padded the payload out to step*height bytes first


@pytest.mark.parametrize("height, step, size", [(2, STEP_BOMB, 1), (3, 4096, 4096 * 2), (2, 2**32 - 1, 100)])
def test_short_payloads_are_refused(height, step, size):
    with pytest.raises(ImageFormatError, match="data has|larger than"):
        image_to_array(_image(height, 4, step, bytes(size)))


def test_omitted_last_row_padding_still_decodes_without_padding_copy():
    rows = np.arange(3 * 10, dtype=np.uint8).reshape(3, 10)
    data = rows.reshape(-1)[: 2 * 10 + 4].tobytes()  # last row's 6 padding bytes not sent
    assert np.array_equal(image_to_array(_image(3, 4, 10, data)), rows[:, :4])


def test_long_encoding_is_not_echoed_whole():
    with pytest.raises(ImageFormatError) as caught:
        image_to_rgb(_image(1, 1, 1, b"\x00", encoding="x" * 10_000))
    assert len(str(caught.value)) < 200 and "10000 chars" in str(caught.value)


def test_bag_eval_refuses_a_step_bomb_frame(tmp_path, engine):
    image_type = typestore().types[m.IMAGE]
    msg = image_type(header=m.make_header(1_000, "cam"), height=1, width=1, encoding="mono8", is_bigendian=0,
                     step=STEP_BOMB, data=np.zeros(1, np.uint8))
    with BagWriter(tmp_path / "bomb", "mcap") as bag:
        bag.add_topic(IMAGE_TOPIC, m.IMAGE)
        bag.write(IMAGE_TOPIC, 1_000, msg)
    with pytest.raises(BagFormatError, match="larger than the whole payload"):
        evaluate_bag(tmp_path / "bomb", engine, progress=False)


# ---------------------------------------------------------------- bag-eval --write-bag never destroys data


def _copy_tree(source: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    for file in source.iterdir():
        (target / file.name).write_bytes(file.read_bytes())
    return target


def _snapshot(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def _bag_eval(*args: str) -> int:
    return cli_main(["bag-eval", *args, "--no-progress", "--camera-info-topic", "none"])


def test_write_bag_into_its_own_input_is_refused(tmp_path, recording, engine):
    bag = _copy_tree(recording, tmp_path / "in")
    before = _snapshot(bag)
    for target in (bag, bag / "nested", tmp_path):
        with pytest.raises(ValueError, match="input bag"):
            evaluate_bag(bag, engine, write_bag=target, overwrite=True, progress=False)
    assert _snapshot(bag) == before
    bare = next(bag.glob("*.mcap"))
    with pytest.raises(ValueError, match="input bag"):
        evaluate_bag(bare, engine, write_bag=bag, overwrite=True, progress=False)
    assert _snapshot(bag) == before


def test_overwrite_refuses_directories_it_did_not_write(tmp_path, recording, engine):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work")
    with pytest.raises(BagError, match="not written by mtl-perception"):
        evaluate_bag(recording, engine, write_bag=precious, overwrite=True, progress=False)
    assert (precious / "thesis.txt").read_text() == "years of work"
    other_tool = _copy_tree(recording, tmp_path / "made")  # a make-bag output is not bag-eval's to replace
    with pytest.raises(BagError, match="written by 'make-bag'"):
        evaluate_bag(recording, engine, write_bag=other_tool, overwrite=True, progress=False)
    assert _snapshot(other_tool) == _snapshot(recording)


def test_overwrite_replaces_only_its_own_previous_output(tmp_path, recording, engine):
    out = tmp_path / "out"
    evaluate_bag(recording, engine, write_bag=out, progress=False)
    with pytest.raises(BagError, match="exists already"):
        evaluate_bag(recording, engine, write_bag=out, progress=False)
    report = evaluate_bag(recording, engine, write_bag=out, overwrite=True, progress=False)
    assert report["output_bag"]["topics"]["/camera/image_raw"] == FRAMES
    (out / "notes.txt").write_text("added by a person")  # now it holds something the bag did not
    with pytest.raises(BagError, match="notes.txt"):
        evaluate_bag(recording, engine, write_bag=out, overwrite=True, progress=False)
    assert (out / "notes.txt").exists() and (out / "metadata.yaml").exists()


def test_bag_eval_cli_refuses_its_input_with_one_line(tmp_path, recording, artifact, capsys):
    bag = _copy_tree(recording, tmp_path / "in")
    before = _snapshot(bag)
    assert _bag_eval(str(bag), "--model", str(artifact), "--write-bag", str(bag), "--overwrite") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "input bag" in err
    assert _snapshot(bag) == before


# ---------------------------------------------------------------- one-line errors, exit code 2


def _one_line_error(capsys, argv: list[str], *needles: str) -> str:
    """Run the CLI, expect exit code 2, nothing on stdout, one stderr line naming every needle."""
    assert cli_main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert captured.out == "" and "\n" not in err and "Traceback" not in err, captured
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture()
def a_file(tmp_path) -> Path:
    path = tmp_path / "a_file"
    path.write_text("not a directory")
    return path


def test_unwritable_out_for_train_make_dataset_make_bag(capsys, a_file):
    under_file = str(a_file / "out")
    _one_line_error(capsys, ["train", "--out", under_file, "epochs=1"], under_file, "not a directory")
    _one_line_error(capsys, ["make-dataset", "--out", under_file, "--train", "1", "--val", "1"], under_file)
    _one_line_error(capsys, ["make-bag", "--out", "/proc/mtl_perception_probe", "--frames", "1", "--no-progress"], "/proc")
    assert a_file.read_text() == "not a directory"


def test_eval_json_is_checked_before_evaluating(capsys, a_file, artifact, data_root):
    target = str(a_file / "eval.json")
    _one_line_error(capsys, ["eval", str(artifact), "--data", str(data_root), "--json", target], target)


def test_bag_eval_report_is_checked_before_evaluating(capsys, a_file, artifact, recording):
    target = str(a_file / "report.json")
    _one_line_error(capsys, ["bag-eval", str(recording), "--model", str(artifact), "--report", target, "--no-progress"], target)


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
    _one_line_error(capsys, [arg.replace("{tmp}", str(tmp_path)) for arg in argv], needle)
    assert not any(tmp_path.iterdir())  # refused before anything was created


def test_bag_eval_negative_max_frames(capsys, recording, artifact):
    _one_line_error(capsys, ["bag-eval", str(recording), "--model", str(artifact), "--max-frames", "-3", "--no-progress"], "--max-frames")


def test_overrides_on_both_sides_of_out(capsys, tmp_path):
    err = _one_line_error(capsys, ["train", "epochs=2", "--out", str(tmp_path / "r"), "threads=-3"], "threads")
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
