"""Partial supervision (DESIGN §3, issue 18): unlabelled samples add no loss; data.roots mixtures."""
import csv
import shutil

import pytest
import torch

from mtl_perception.data.mixture import WeightedMixtureSampler, quotas
from mtl_perception.training.checkpoint import load_checkpoint
from mtl_perception.training.config import ConfigError, load_config
from mtl_perception.training.losses import task_losses
from mtl_perception.training.trainer import Trainer

torch.set_num_threads(2)


def _batch(generator):
    """Three samples; sample 1 has no valid target for any task."""
    logits = torch.randn(3, 4, 5, 6, generator=generator, dtype=torch.float64, requires_grad=True)
    depth = torch.rand(3, 1, 5, 6, generator=generator, dtype=torch.float64, requires_grad=True)
    normals = torch.randn(3, 3, 5, 6, generator=generator, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 4, (3, 5, 6), generator=generator)
    labels[0, 0] = -1  # a few unlabelled pixels in a labelled sample too
    labels[1] = -1
    target_depth = torch.rand(3, 1, 5, 6, generator=generator, dtype=torch.float64) + 0.5
    target_depth[2, :, :2] = 0.0
    target_depth[1] = 0.0
    target_normals = torch.nn.functional.normalize(torch.randn(3, 3, 5, 6, generator=generator, dtype=torch.float64), dim=1)
    target_normals[1] = 0.0
    outputs = {"segmentation": logits, "depth": depth, "normals": normals}
    targets = {"segmentation": labels, "depth": target_depth, "normals": target_normals}
    return outputs, targets


def _by_hand(outputs, targets):
    """The same losses from samples 0 and 2 only, summed pixel by pixel in plain loops."""
    keep = (0, 2)
    outputs = {k: v.detach() for k, v in outputs.items()}
    ce, ce_n, l1, l1_n, cos, cos_n = 0.0, 0, 0.0, 0, 0.0, 0
    for s in keep:
        for y in range(5):
            for x in range(6):
                label = int(targets["segmentation"][s, y, x])
                if label >= 0:
                    logits = outputs["segmentation"][s, :, y, x]
                    ce += float(torch.logsumexp(logits, 0) - logits[label])
                    ce_n += 1
                if targets["depth"][s, 0, y, x] > 0:
                    l1 += abs(float(outputs["depth"][s, 0, y, x] - targets["depth"][s, 0, y, x]))
                    l1_n += 1
                if targets["normals"][s, :, y, x].abs().sum() > 0:
                    cos += float((outputs["normals"][s, :, y, x] * targets["normals"][s, :, y, x]).sum())
                    cos_n += 1
    return {"segmentation": ce / ce_n, "depth": l1 / l1_n, "normals": 1.0 - cos / cos_n}


def test_all_invalid_sample_adds_zero_loss_and_zero_gradient():
    outputs, targets = _batch(torch.Generator().manual_seed(0))
    losses = task_losses(outputs, targets)
    expected = _by_hand(outputs, targets)
    for task, loss in losses.items():
        # The losses compute in float32 (logits.float()), the reference in float64.
        assert float(loss.detach()) == pytest.approx(expected[task], rel=1e-6), task
        (grad,) = torch.autograd.grad(loss, outputs[task])
        assert torch.count_nonzero(grad[1]) == 0, task  # the unlabelled sample gets no gradient
        assert torch.count_nonzero(grad[0]) > 0, task


def test_batch_without_any_valid_target_gives_exact_zero():
    outputs, targets = _batch(torch.Generator().manual_seed(1))
    empty = {"segmentation": torch.full_like(targets["segmentation"], -1), "depth": torch.zeros_like(targets["depth"]),
             "normals": torch.zeros_like(targets["normals"])}
    for task, loss in task_losses(outputs, empty).items():
        (grad,) = torch.autograd.grad(loss, outputs[task])
        assert float(loss.detach()) == 0.0 and torch.count_nonzero(grad) == 0, task


def test_quotas_are_proportional_and_sum_to_total():
    assert quotas([1.0, 3.0], 8) == [2, 6]
    assert quotas([1.0, 1.0, 1.0], 10) == [4, 3, 3]  # the remainder goes to the first by tie-break
    assert sum(quotas([0.3, 0.7, 2.0], 101)) == 101


def test_weighted_sampler_draws_each_dataset_in_proportion():
    sizes, weights = [4, 40], [3.0, 1.0]  # the short dataset is drawn 3x as often as the long one
    sampler = WeightedMixtureSampler(sizes, weights, seed=7)
    sampler.set_epoch(2)
    indices = list(sampler)
    assert len(indices) == 44
    first = [i for i in indices if i < 4]
    assert len(first) == 33 and len(indices) - len(first) == 11
    counts = torch.bincount(torch.tensor(first), minlength=4).tolist()
    assert max(counts) - min(counts) <= 1  # permutations: every sample before any repeat
    assert len(set(i for i in indices if i >= 4)) == 11  # 11 of 40 drawn, none twice
    again = WeightedMixtureSampler(sizes, weights, seed=7)
    again.set_epoch(2)
    assert list(again) == indices
    again.set_epoch(3)
    assert list(again) != indices
    ranks = [list(WeightedMixtureSampler(sizes, weights, seed=7, num_replicas=3, rank=r)) for r in range(3)]
    assert [len(r) for r in ranks] == [15, 15, 15]


def _two_roots(root, tmp_path):
    """A copy of the rendered set whose train frames are unlabelled, like robot data (val keeps labels)."""
    import numpy as np

    second = tmp_path / "robot"
    shutil.copytree(root / "train", second / "train")
    shutil.copytree(root / "val", second / "val")
    for path in (second / "train" / "label").glob("*.npy"):
        np.save(path, np.full_like(np.load(path), -1))
    return second


def mixture_config(root, second, epochs=2):
    roots = f"data.roots=[{{root: '{root}', weight: 1.0, name: render}}, {{root: '{second}', weight: 3.0, name: robot}}]"
    return load_config(None, [roots, "data.height=32", "data.width=48", "model.width=0.25", "batch_size=2", f"epochs={epochs}",
                              "model.scheme=svd_shared", "schedule.phase_a=1", "schedule.phase_b=1", "data.augment=true",
                              "tensorboard=false", "plots=false", "device=cpu"])


def test_roots_config_is_type_checked():
    config = load_config(None, ["data.roots=[{root: a, weight: 2}, {root: b/c}]"])
    assert [(r.root, r.weight, r.label) for r in config.data.roots] == [("a", 2.0, "a"), ("b/c", 1.0, "c")]
    with pytest.raises(ConfigError, match="weight"):
        load_config(None, ["data.roots=[{root: a, weight: 0}]"])
    with pytest.raises(ConfigError, match="names must differ"):
        load_config(None, ["data.roots=[{root: x/a}, {root: y/a}]"])
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(None, ["data.roots=[{root: a, wieght: 2}]"])
    assert load_config(None, []).data.roots == []  # data.root alone keeps working


def test_per_dataset_val_metrics_equal_separate_validation(data_root, tmp_path):
    from mtl_perception.data import InMemoryDataset, MTANDataset
    from torch.utils.data import DataLoader

    second = _two_roots(data_root, tmp_path)
    trainer = Trainer.from_config(mixture_config(data_root, second, epochs=1), tmp_path / "run_mix")
    history = trainer.fit()
    per_dataset = history[-1]["val_datasets"]
    assert sorted(per_dataset) == ["render", "robot"]
    for label, root in (("render", data_root), ("robot", second)):
        loader = DataLoader(InMemoryDataset(MTANDataset(root, "val")), batch_size=2)
        assert (per_dataset[label]["val"], per_dataset[label]["val_loss"]) == trainer.evaluate(loader)
    with (tmp_path / "run_mix" / "metrics.csv").open() as handle:
        row = next(csv.DictReader(handle))
    assert float(row["val@robot_depth_abs_err"]) == per_dataset["robot"]["val"]["depth"]["abs_err"]
    assert float(row["val_loss_depth"]) == history[-1]["val_loss"]["depth"]  # the combined columns stay


def test_resume_with_roots_is_bit_identical(data_root, tmp_path):
    second = _two_roots(data_root, tmp_path)
    straight = Trainer.from_config(mixture_config(data_root, second), tmp_path / "straight").fit()
    Trainer.from_config(mixture_config(data_root, second), tmp_path / "killed").fit(stop_after_epoch=1)
    torch.manual_seed(999)
    resumed = Trainer.from_config(mixture_config(data_root, second), tmp_path / "killed", resume=True).fit()
    for a, b in zip(straight, resumed):
        assert (a["train"], a["val"], a["val_datasets"]) == (b["train"], b["val"], b["val_datasets"])
    final_a = load_checkpoint(tmp_path / "straight" / "last.pt")["model"]
    final_b = load_checkpoint(tmp_path / "killed" / "last.pt")["model"]
    assert all(torch.equal(final_a[k], final_b[k]) for k in final_a)
