"""Issue 31 items 5-7: checkpoints whose content is well-formed and correctly hashed but wrong in value
(NaN/Inf weights, impossible epochs, a string where NetConfig wants an int), the orphan temporary of
a kill during the very first save, and `export --frames -1`: each refused with one line."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from mtl_perception.cli import main as cli_main
from test_hostile_checkpoints import TINY, _all_refuse, _commands, _copy_run, _rewrite


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, data_root) -> Path:
    """One epoch of a tiny run; tests copy it before damaging anything."""
    out = tmp_path_factory.mktemp("run") / "run"
    assert cli_main(["train", "--out", str(out), f"data.root={data_root}", *TINY]) == 0
    return out


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


def test_artifact_num_classes_as_a_string_gives_a_clear_error(tmp_path):
    from ros_fixtures import make_tiny_artifact

    from mtl_perception.runtime import load_artifact
    from mtl_perception.runtime.artifact import ArtifactError

    artifact = make_tiny_artifact(tmp_path / "tiny")
    meta = json.loads((artifact / "model.json").read_text())
    meta["net"]["num_classes"] = str(meta["net"]["num_classes"])
    (artifact / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError) as caught:
        load_artifact(artifact)
    assert str(caught.value).endswith("invalid 'net' config: net.num_classes must be an integer, got str '5'"), caught.value
    assert "not supported" not in str(caught.value)


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
