"""Hostile checkpoints (issue 15, items 4, 7, 9): flipped bytes, missing fields, wrong shapes, bad RNG
state, empty files and orphan temporaries give one-line errors in train --resume, eval and export.

Issue 31 items 5-7: checkpoints whose content is well-formed and correctly hashed but wrong in value
(NaN/Inf weights, impossible epochs, a string where NetConfig wants an int), the orphan temporary of
a kill during the very first save, and `export --frames -1`: each refused with one line."""
from __future__ import annotations

import math
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


def _poison_first_weight(value: float):
    def edit(state):
        name = next(k for k, v in state["model"].items() if v.is_floating_point() and v.numel() > 1)
        state["model"][name] = state["model"][name].clone().reshape(-1).index_fill(0, torch.tensor([1]), value).reshape(state["model"][name].shape)

    return edit


@pytest.mark.parametrize("value", [math.nan, math.inf], ids=["nan", "inf"])
def test_non_finite_weights_refused_by_resume_eval_and_export(capsys, tmp_path, run_dir, data_root, value):
    """Before: resume trained on NaN losses, eval scored NaN and export wrote a NaN artifact (all exit 0)."""
    run = _copy_run(run_dir, tmp_path)
    _rewrite(run, _poison_first_weight(value))
    _all_refuse(capsys, run, data_root, tmp_path, "holds 1 NaN/Inf value(s)")


def test_non_finite_optimizer_state_refused_by_resume(capsys, tmp_path, run_dir, data_root):
    run = _copy_run(run_dir, tmp_path)

    def edit(state):
        moments = next(iter(next(o for o in state["optimizers"].values() if o["state"])["state"].values()))
        key = next(k for k, v in moments.items() if isinstance(v, torch.Tensor) and v.is_floating_point() and v.numel() > 1)
        moments[key] = torch.full_like(moments[key], math.nan)

    _rewrite(run, edit)
    assert cli_main(_commands(run, data_root, tmp_path)["resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "checkpoint field 'optimizers'" in err and "NaN/Inf" in err, err


@pytest.mark.parametrize(
    "field, value, needle",
    [("epoch", -5, "'epoch' is -5, must be in 0..1"), ("epoch", 99, "'epoch' is 99, must be in 0..1"),
     ("step", -1, "'step' is -1"), ("best_epoch", -7, "'best_epoch' is -7")],
    ids=["epoch-negative", "epoch-beyond", "step-negative", "best-epoch"],
)
def test_impossible_counters_refused(capsys, tmp_path, run_dir, data_root, field, value, needle):
    """Before: `epoch: -5` resumed at epoch -4."""
    run = _copy_run(run_dir, tmp_path)
    _rewrite(run, lambda state: state.update({field: value}))
    _all_refuse(capsys, run, data_root, tmp_path, needle)


def test_wrong_type_in_net_config_refused_in_one_line(capsys, tmp_path, run_dir, data_root):
    """Before: "weights do not fit the recorded architecture: '<=' not supported between instances of 'int' and 'str'"."""
    run = _copy_run(run_dir, tmp_path)
    _rewrite(run, lambda state: state["net"].update(num_classes="10"))
    _all_refuse(capsys, run, data_root, tmp_path, "net.num_classes must be an integer, got str '10'")


def test_resume_after_a_kill_during_the_first_save_says_what_it_found(capsys, tmp_path, data_root):
    """Before: "checkpoint not found", although a 0-byte .last.pt.*.tmp lay beside it."""
    run = tmp_path / "run"
    run.mkdir()
    orphan = run / ".last.pt.q7w8e9r0.tmp"
    orphan.write_bytes(b"")
    keep = [run / ".notes.tmp", run / "last.pt.tmp"]  # not names save_checkpoint gives: not ours to delete
    for path in keep:
        path.write_text("not ours")
    assert cli_main(_commands(run, data_root, tmp_path)["resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    assert "no last.pt, only the unfinished first save .last.pt.q7w8e9r0.tmp (0 bytes)" in err and "without --resume" in err, err
    assert not orphan.exists() and all(path.exists() for path in keep)


@pytest.mark.parametrize("frames", ["-1", "0", "100000"])
def test_export_frames_out_of_range_is_one_line(capsys, tmp_path, run_dir, frames):
    """Before: `--frames -1` said "need at least one array to stack" (after writing the artifact)."""
    out = tmp_path / "artifact"
    assert cli_main(["export", str(run_dir / "last.pt"), "--out", str(out), "--frames", frames]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--frames must be an integer in 1..1000" in err and frames in err, err
    assert not (out / "model.json").exists()


@pytest.mark.parametrize("override", ["optim.lr=[1,", "epochs={a", 'epochs="x'])
def test_yaml_override_error_is_one_line(capsys, tmp_path, override):
    """Before: PyYAML's message spanned 5-8 lines (context, problem, a caret drawing)."""
    assert cli_main(["train", "--out", str(tmp_path / "r"), override]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"override {override!r}" in err and "not valid YAML" in err, err
    assert not (tmp_path / "r").exists()
