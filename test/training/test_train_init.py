"""`train --init`: the initialised training form computes the source's function (issue 18 item 3)."""
import pytest
import torch

from mtl_perception.data import InMemoryDataset, MTANDataset
from mtl_perception.model.layers import conv_units
from mtl_perception.runtime import load_artifact
from mtl_perception.training.build import model_from_checkpoint, prepare_batch
from mtl_perception.training.checkpoint import load_checkpoint
from mtl_perception.training.config import load_config
from mtl_perception.training.export import export_checkpoint
from mtl_perception.training.init import unfuse_bn
from mtl_perception.training.trainer import Trainer

torch.set_num_threads(2)

COMMON = ["data.height=32", "data.width=48", "model.width=0.25", "batch_size=2", "tensorboard=false", "plots=false", "device=cpu"]


def tiny_config(root, scheme, epochs=1):
    return load_config(None, [f"data.root={root}", f"model.scheme={scheme}", f"epochs={epochs}", *COMMON])


@pytest.fixture(scope="module")
def sources(data_root, tmp_path_factory):
    """A checkpoint trained one epoch as svd_shared (BN statistics moved off their init), and its artifact."""
    run = tmp_path_factory.mktemp("init_source")
    Trainer.from_config(tiny_config(data_root, "svd_shared"), run).fit()
    export_checkpoint(run / "last.pt", run / "artifact", data_root=str(data_root), frames=1)
    return run / "last.pt", run / "artifact"


def val_images(root):
    batch = {"image": torch.stack([InMemoryDataset(MTANDataset(root, "val"))[i]["image"] for i in range(2)])}
    return prepare_batch(batch, (32, 48), torch.device("cpu"))[0]


def outputs64(model, images):
    model = model.double().eval()
    with torch.no_grad():
        return {t: v for t, v in model(images.double()).items()}


@pytest.mark.parametrize("scheme", ["none", "svd_shared"])
def test_init_from_checkpoint_keeps_the_function(data_root, sources, tmp_path, scheme):
    checkpoint, _ = sources
    source = model_from_checkpoint(load_checkpoint(checkpoint))
    trainer = Trainer.from_config(tiny_config(data_root, scheme), tmp_path / "run", init=checkpoint)
    assert trainer.model.scheme == scheme
    images = val_images(data_root)
    expected, got = outputs64(source, images), outputs64(trainer.model, images)
    for task in expected:
        scale = float(expected[task].abs().max())
        assert float((got[task] - expected[task]).abs().max()) <= 1e-6 * scale, task  # measured ~1e-8: float32 weight storage
    assert trainer.state()["init"] == str(checkpoint)


@pytest.mark.parametrize("scheme", ["none", "svd_shared"])
def test_init_from_artifact_keeps_the_function(data_root, sources, tmp_path, scheme):
    _, artifact = sources
    deploy, _meta = load_artifact(artifact)
    trainer = Trainer.from_config(tiny_config(data_root, scheme), tmp_path / "run", init=artifact)
    images = val_images(data_root)
    expected, got = outputs64(deploy, images), outputs64(trainer.model, images)
    for task in expected:
        scale = float(expected[task].abs().max())
        assert float((got[task] - expected[task]).abs().max()) <= 1e-6 * scale, task  # measured ~1e-8: float32 weight storage


def test_unfused_bn_statistics_are_measured_on_the_images(data_root, sources):
    _, artifact = sources
    deploy, _meta = load_artifact(artifact)
    images = val_images(data_root)
    compact = unfuse_bn(deploy, images)
    name, unit = conv_units(compact)[0]  # the first conv sees the images directly
    fused = dict(conv_units(deploy))[name].conv
    y = torch.nn.functional.conv2d(images.double(), fused.weight.double(), None, fused.stride, fused.padding)
    torch.testing.assert_close(unit.bn.running_mean.double(), y.mean(dim=(0, 2, 3)), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(unit.bn.running_var.double(), y.var(dim=(0, 2, 3), unbiased=False), rtol=1e-5, atol=1e-6)
    # Train mode on the same images then normalises with those very statistics: same outputs as eval.
    unit.double()
    with torch.no_grad():
        in_train_mode = unit.train()(images.double())
        in_eval_mode = unit.eval()(images.double())
    torch.testing.assert_close(in_train_mode, in_eval_mode, rtol=1e-4, atol=1e-5)


def test_init_with_another_architecture_fails_clearly(data_root, sources, tmp_path):
    checkpoint, _ = sources
    config = load_config(None, [f"data.root={data_root}", "model.scheme=none", *COMMON[:2], "model.width=0.5", *COMMON[3:]])
    with pytest.raises(ValueError, match="differs from the config"):
        Trainer.from_config(config, tmp_path / "run", init=checkpoint)


def test_cli_refuses_init_with_resume(data_root, sources, tmp_path, capsys):
    import argparse

    from mtl_perception.training import train

    checkpoint, _ = sources
    args = argparse.Namespace(config=None, out=str(tmp_path / "run"), resume=True, init=str(checkpoint),
                              overrides=[f"data.root={data_root}", *COMMON])
    assert train.run(args) == 2
    assert "give only one" in capsys.readouterr().err


def test_freeze_bn_keeps_running_statistics_and_trains_the_affine(data_root, sources, tmp_path):
    _, artifact = sources
    config = load_config(None, [f"data.root={data_root}", "model.scheme=none", "epochs=1", "optim.freeze_bn=true", *COMMON])
    trainer = Trainer.from_config(config, tmp_path / "run", init=artifact)
    norms = [m for m in trainer.model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    before = [(m.running_mean.clone(), m.running_var.clone(), m.weight.detach().clone()) for m in norms]
    trainer.train_epoch()
    assert norms and all(not m.training for m in norms)
    for m, (mean, var, weight) in zip(norms, before):
        assert torch.equal(m.running_mean, mean) and torch.equal(m.running_var, var)
    assert any(not torch.equal(m.weight.detach(), weight) for m, (_, _, weight) in zip(norms, before))
