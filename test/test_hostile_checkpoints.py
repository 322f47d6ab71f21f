"""Hostile checkpoints (issue 15, items 4, 7, 9): flipped bytes, missing fields, wrong shapes, bad RNG
state, empty files and orphan temporaries give one-line errors in train --resume, eval and export."""
from __future__ import annotations

import shutil
import struct
import zipfile
from pathlib import Path

import pytest
import torch

from mtl_perception.cli import main as cli_main
from mtl_perception.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

TINY = ["data.height=32", "data.width=48", "model.width=0.25", "model.scheme=none", "batch_size=4", "epochs=1",
        "tensorboard=false", "plots=false", "threads=2", "device=cpu"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, data_root) -> Path:
    """One epoch of a tiny run; tests copy it before damaging anything."""
    out = tmp_path_factory.mktemp("run") / "run"
    assert cli_main(["train", "--out", str(out), f"data.root={data_root}", *TINY]) == 0
    return out


def _copy_run(run_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run_dir, tmp_path / "run"))


def _commands(run: Path, data_root: Path, tmp_path: Path) -> dict[str, list[str]]:
    """The three readers of a checkpoint, each on run/last.pt."""
    last = str(run / "last.pt")
    return {
        "resume": ["train", "--out", str(run), "--resume", f"data.root={data_root}", *TINY],
        "eval": ["eval", last, "--data", str(data_root), "--json", str(tmp_path / "eval.json")],
        "export": ["export", last, "--out", str(tmp_path / "artifact"), "--frames", "1"],
    }


def _all_refuse(capsys, run: Path, data_root: Path, tmp_path: Path, needle: str) -> None:
    for name, argv in _commands(run, data_root, tmp_path).items():
        assert cli_main(argv) == 2, name
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "Traceback" not in err and needle in err, (name, err)
    assert not (tmp_path / "artifact").exists()


def _flip_tensor_bytes(path: Path, count: int = 64) -> None:
    """Invert `count` bytes in the middle of the largest stored tensor (not in the zip's structure)."""
    with zipfile.ZipFile(path) as archive:
        member = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    data = bytearray(path.read_bytes())
    name_length, extra_length = struct.unpack("<HH", data[member.header_offset + 26 : member.header_offset + 30])
    start = member.header_offset + 30 + name_length + extra_length + member.file_size // 2
    data[start : start + count] = bytes(b ^ 0xFF for b in data[start : start + count])
    path.write_bytes(bytes(data))


def test_flipped_bytes_are_caught_by_resume_eval_and_export(capsys, tmp_path, run_dir, data_root):
    run = _copy_run(run_dir, tmp_path)
    _flip_tensor_bytes(run / "last.pt")
    _all_refuse(capsys, run, data_root, tmp_path, "sha256")


def _rewrite(run: Path, edit) -> None:
    state = load_checkpoint(run / "last.pt")
    edit(state)
    state.pop("format"), state.pop("sha256")
    save_checkpoint(state, run / "last.pt")  # a consistent digest: the content itself is what is wrong


@pytest.mark.parametrize(
    "edit, needle",
    [
        (lambda s: s.pop("rng"), "lacks the field 'rng'"),
        (lambda s: s.pop("input_size"), "lacks the field 'input_size'"),
        (lambda s: s["rng"].update(torch=torch.zeros(5, dtype=torch.uint8)), "RNG state is malformed"),
        (lambda s: s["model"].update({k: torch.zeros(3) for k in list(s["model"])[:1]}), "do not fit"),
    ],
    ids=["no-rng", "no-input-size", "bad-rng", "wrong-shape"],
)
def test_right_tag_wrong_content(capsys, tmp_path, run_dir, data_root, edit, needle):
    run = _copy_run(run_dir, tmp_path)
    _rewrite(run, edit)
    if needle == "RNG state is malformed":  # eval and export never touch the RNG state; resume must refuse it
        assert cli_main(_commands(run, data_root, tmp_path)["resume"]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and needle in err, err
        return
    _all_refuse(capsys, run, data_root, tmp_path, needle)


def test_resume_removes_orphan_temporaries(tmp_path, run_dir, data_root):
    run = _copy_run(run_dir, tmp_path)
    orphans = [run / ".last.pt.k1ll3d.tmp", run / ".best.pt.x9y8z7.tmp"]
    for orphan in orphans:
        orphan.write_bytes(b"half a checkpoint")
    keep = run / ".notes.tmp"
    keep.write_text("not ours")
    assert cli_main(_commands(run, data_root, tmp_path)["resume"]) == 0
    assert not any(orphan.exists() for orphan in orphans) and keep.exists()


def test_empty_file_and_pickle_give_reasons(tmp_path):
    empty = tmp_path / "last.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_checkpoint(empty)
    pickled = tmp_path / "object.pt"
    torch.save({"format": "mtl_perception.checkpoint/1", "thing": Path("x")}, pickled)
    with pytest.raises(CheckpointError, match="refusing to unpickle") as caught:
        load_checkpoint(pickled)
    assert "weights_only=False" not in str(caught.value)
