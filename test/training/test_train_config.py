"""The training config: YAML + dot overrides, typed, and loud about unknown or ill-typed keys."""
from pathlib import Path

import pytest

from mtl_perception.training.config import ConfigError, TrainConfig, load_config, parse_overrides

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config" / "train"


def test_defaults_are_valid():
    config = load_config()
    assert isinstance(config, TrainConfig)
    assert config.model.scheme == "none"  # the scheme comparison's winner (6346eac)


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load(path):
    config = load_config(path)
    assert config.epochs >= 1


def test_overrides_apply_with_types(tmp_path):
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("optim:\n  lr: 1e-3\nepochs: 3\n")
    config = load_config(yaml_file, ["optim.lr=3e-4", "model.tasks=[depth, normals]", "model.width=1", "model.rank=null", "amp=false"])
    assert config.optim.lr == pytest.approx(3e-4)
    assert config.epochs == 3
    assert config.model.tasks == ["depth", "normals"]
    assert isinstance(config.model.width, float) and config.model.width == 1.0  # int widens to float
    assert config.model.rank is None and config.amp is False


@pytest.mark.parametrize(
    "override, fragment",
    [
        (["optim.lrr=0.1"], "lrr"),  # unknown nested key
        (["epoch=3"], "epoch"),  # unknown top-level key
        (["model.schem.x=1"], "schem"),  # unknown section
        (["epochs=ten"], "epochs"),  # str for int
        (["epochs=2.5"], "epochs"),  # float for int: no silent truncation
        (["amp=1"], "amp"),  # int for bool
        (["model.tasks=depth"], "model.tasks"),  # scalar for list
        (["model.scheme=svd2"], "scheme"),  # valid type, invalid value
        (["loss.weighting=gradnorm"], "weighting"),
        (["optim.lr"], "section.key=value"),  # malformed override
        (["model.base_channels=[16]"], "base_channels"),  # one stage: nothing to pool
        (["model.base_channels=[16, 0, 32]"], "base_channels"),
    ],
)
def test_rejects_bad_keys_and_types(override, fragment):
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.").replace("[", r"\[")):
        load_config(None, override)


def test_base_channels_reach_the_network():
    config = load_config(None, ["model.base_channels=[32, 32, 64]", "model.width=0.5"])
    net = config.model.net_config(num_classes=13)
    assert net.base_channels == (32, 32, 64)
    assert net.channels == (16, 16, 32)  # scaled by width, rounded to multiples of 4


def test_rejects_unknown_key_in_yaml(tmp_path):
    yaml_file = tmp_path / "bad.yaml"
    yaml_file.write_text("model:\n  widht: 0.5\n")
    with pytest.raises(ConfigError, match="widht"):
        load_config(yaml_file)


def test_parse_overrides_nests():
    assert parse_overrides(["a.b.c=1", "a.d=x"]) == {"a": {"b": {"c": 1}, "d": "x"}}
