"""Hostile artifacts (issue 15, items 4, 5, 7): a strict model.json schema, bounded configs, and a
config checked against the weights file before any network is built; a string where NetConfig wants
an int is named in one clear line (issue 31 item 6)."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

from mtl_perception.cli import main as cli_main
from mtl_perception.model import MultiTaskNet, NetConfig
from mtl_perception.runtime import ArtifactError, load_artifact, save_artifact
from mtl_perception.runtime import artifact as artifact_module


@pytest.fixture()
def artifact(tmp_path) -> Path:
    torch.manual_seed(0)
    net = MultiTaskNet(NetConfig(num_classes=2, base_channels=(8, 16), task_layers=1)).eval()
    return save_artifact(net, tmp_path / "art", class_names=("a", "b"), palette=((0, 0, 0), (9, 9, 9)), input_size=(32, 48))


def _edit(path: Path, edit: Callable[[dict[str, Any]], Any]) -> Path:
    meta_path = path / "model.json"
    meta = json.loads(meta_path.read_text())
    edit(meta)
    meta_path.write_text(json.dumps(meta))  # Python's json writes NaN / Infinity literals
    return path


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m.update(extra_key=1), r"top level: unknown key\(s\) \['extra_key'\]"),
        (lambda m: m["input"].update(gamma=2.2), r"'input': unknown key\(s\) \['gamma'\]"),
        (lambda m: m["weights"].update(url="http://x"), r"'weights': unknown key"),
        (lambda m: m["input"].update(mean=[float("nan"), 0.4, 0.4]), "finite numbers"),
        (lambda m: m["input"].update(std=[0.2, float("inf"), 0.2]), "finite numbers"),
        (lambda m: m["input"].update(mean=5), "mean/std must be lists"),
        (lambda m: m["input"].update(width=100_000), "16..4096"),
        (lambda m: m.update(tasks=["depth"]), "'tasks' disagrees"),
    ],
    ids=["top-level-key", "input-key", "weights-key", "mean-nan", "std-inf", "mean-scalar", "huge-input", "tasks"],
)
def test_schema_is_strict(artifact, edit, message):
    with pytest.raises(ArtifactError, match=message):
        load_artifact(_edit(artifact, edit))


def test_deep_nesting_gives_a_clear_error(artifact):
    (artifact / "model.json").write_text('{"training": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ArtifactError, match="nested too deeply"):
        load_artifact(artifact)


@pytest.mark.parametrize(
    "net_edit, message",
    [({"task_layers": 10_000}, "task_layers is 10000"), ({"base_channels": [4096] * 4}, "4096 channels"),
     ({"base_channels": [4] * 40}, "40 stages"), ({"in_channels": 4}, "in_channels")],
    ids=["task-layers", "channels", "stages", "in-channels"],
)
def test_absurd_configs_fail_in_milliseconds(artifact, net_edit, message):
    _edit(artifact, lambda m: m["net"].update(net_edit))
    started = time.perf_counter()
    with pytest.raises(ArtifactError, match=message):
        load_artifact(artifact)
    assert time.perf_counter() - started < 1.0  # the old loader built the network first: 68 s for 10000 layers


def test_config_is_checked_against_the_weights_before_building(artifact, monkeypatch):
    built_on: list[str] = []
    real = artifact_module.MultiTaskNet

    def recording(config: NetConfig) -> MultiTaskNet:
        built_on.append(torch.empty(0).device.type)
        return real(config)

    monkeypatch.setattr(artifact_module, "MultiTaskNet", recording)
    _edit(artifact, lambda m: m["net"].update(task_layers=3))
    with pytest.raises(ArtifactError, match="do not match the config"):
        load_artifact(artifact)
    assert built_on == ["meta"]  # only the shape-only build; no real network for a mismatched file
    _edit(artifact, lambda m: m["net"].update(task_layers=1))
    load_artifact(artifact)
    assert built_on == ["meta", "meta", "cpu"]


def test_cli_reports_a_bad_mean_in_one_line(artifact, capsys):
    _edit(artifact, lambda m: m["input"].update(mean=5))
    assert cli_main(["model-info", "--artifact", str(artifact)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "mean/std" in err and str(artifact) in err


def test_artifact_num_classes_as_a_string_gives_a_clear_error(tmp_path):
    from support.artifacts import make_tiny_artifact

    artifact = make_tiny_artifact(tmp_path / "tiny")
    meta = json.loads((artifact / "model.json").read_text())
    meta["net"]["num_classes"] = str(meta["net"]["num_classes"])
    (artifact / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError) as caught:
        load_artifact(artifact)
    assert str(caught.value).endswith("invalid 'net' config: net.num_classes must be an integer, got str '5'"), caught.value
    assert "not supported" not in str(caught.value)
