"""`mtl-perception eval` writes a report only where --json asks (issue 29), and checks that target
before evaluating (issue 15)."""
from __future__ import annotations

import json

import pytest

from mtl_perception.cli import main as cli_main
from support.cli import one_line_error


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    from support.artifacts import make_tiny_artifact

    from mtl_perception.data import CLASS_NAMES

    return make_tiny_artifact(tmp_path_factory.mktemp("model") / "tiny", num_classes=len(CLASS_NAMES), input_size=(32, 48))


def test_eval_prints_the_table_and_leaves_the_current_directory_alone(artifact, data_root, tmp_path, monkeypatch, capsys):
    """Before: eval_val.json appeared in the current directory (the repository root, for `git status`)."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert cli_main(["eval", str(artifact), "--data", str(data_root), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "| task | metric | model |" in out and "wrote" not in out
    assert list(cwd.iterdir()) == []


def test_eval_writes_json_where_asked(artifact, data_root, tmp_path, capsys):
    target = tmp_path / "reports" / "eval.json"
    target.parent.mkdir()
    assert cli_main(["eval", str(artifact), "--data", str(data_root), "--device", "cpu", "--json", str(target)]) == 0
    assert f"wrote {target}" in capsys.readouterr().out
    document = json.loads(target.read_text())
    assert document["split"] == "val" and set(document["metrics"]) == {"segmentation", "depth", "normals"}


def test_eval_json_is_checked_before_evaluating(capsys, a_file, artifact, data_root):
    target = str(a_file / "eval.json")
    one_line_error(capsys, ["eval", str(artifact), "--data", str(data_root), "--json", target], target)
