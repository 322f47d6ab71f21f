"""Hostile input to the bag tools (issue 15): a bag frame whose byte counts lie, `bag-eval --write-bag`
never destroys data, and bad bag-eval arguments give one line. Each test is a probe that broke the old code."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mtl_perception.bag import messages as m
from mtl_perception.bag.evaluate import evaluate_bag
from mtl_perception.bag.io import BagError, BagFormatError, BagWriter, typestore
from mtl_perception.bag.make_bag import IMAGE_TOPIC, write_bag
from mtl_perception.cli import main as cli_main
from support.bags import FPS, FRAMES, H, SEED, W
from support.cli import one_line_error

STEP_BOMB = 2**26  # 64 MiB of row stride announced, one byte sent


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    """A make-bag recording, shared read-only by the tests below (each copies what it may damage)."""
    path = tmp_path_factory.mktemp("rec") / "bag"
    write_bag(path, frames=FRAMES, fps=FPS, height=H, width=W, seed=SEED)
    return path


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


def test_bag_eval_report_is_checked_before_evaluating(capsys, a_file, artifact, recording):
    target = str(a_file / "report.json")
    one_line_error(capsys, ["bag-eval", str(recording), "--model", str(artifact), "--report", target, "--no-progress"], target)


def test_bag_eval_negative_max_frames(capsys, recording, artifact):
    one_line_error(capsys, ["bag-eval", str(recording), "--model", str(artifact), "--max-frames", "-3", "--no-progress"], "--max-frames")
