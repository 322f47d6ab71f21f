"""Depth losses: the scale-invariant log loss against hand-worked values, its per-sample averaging
under partial supervision, and task_losses' depth_si_weight."""
import math

import pytest
import torch

from mtl_perception.training.losses import depth_loss, si_log_loss, task_losses

LN2 = math.log(2.0)


def test_si_log_on_a_hand_worked_2x2_example():
    pred = torch.tensor([[[[1.0, 2.0], [4.0, 1.0]]]])
    target = torch.tensor([[[[1.0, 1.0], [2.0, 0.0]]]])  # the last pixel has no depth
    # Valid g = log p − log d: 0, ln 2, ln 2. mean(g²) = 2 ln²2 / 3, mean(g)² = 4 ln²2 / 9.
    expected = 2 * LN2**2 / 3 - 0.85 * 4 * LN2**2 / 9
    assert si_log_loss(pred, target).item() == pytest.approx(expected, rel=1e-6)
    assert si_log_loss(pred, target, lam=0.0).item() == pytest.approx(2 * LN2**2 / 3, rel=1e-6)
    assert si_log_loss(pred, target, lam=1.0).item() == pytest.approx(2 * LN2**2 / 9, rel=1e-6)


def test_a_scaled_copy_costs_nothing_when_lambda_is_one():
    target = torch.rand(2, 1, 5, 7) * 4 + 0.5
    target[0, 0, 1, 2] = 0.0  # invalid pixels are ignored
    assert si_log_loss(3.0 * target + (target == 0), target, lam=1.0).item() == pytest.approx(0.0, abs=1e-6)
    # With λ = 0.85 a global factor s costs (1 − λ)·ln²s.
    assert si_log_loss(3.0 * target + (target == 0), target).item() == pytest.approx(0.15 * math.log(3.0) ** 2, rel=1e-5)


def test_a_sample_without_valid_depth_adds_nothing():
    torch.manual_seed(0)
    target = torch.rand(3, 1, 4, 4) + 0.5
    target[1] = 0.0  # sample 1: no depth at all
    target[2, :, :2] = 0.0  # sample 2: half its pixels
    pred = (torch.rand(3, 1, 4, 4) + 0.5).requires_grad_()
    loss = si_log_loss(pred, target)
    each = [si_log_loss(pred[i : i + 1], target[i : i + 1]).item() for i in (0, 2)]
    assert loss.item() == pytest.approx(sum(each) / 2, rel=1e-6)  # a mean over samples, not pixels
    loss.backward()
    assert torch.all(pred.grad[1] == 0) and torch.all(pred.grad[2, :, :2] == 0) and pred.grad[0].abs().sum() > 0
    empty = si_log_loss(pred, torch.zeros_like(target))
    assert empty.item() == 0.0 and empty.requires_grad  # still in the graph (DDP)


def test_task_losses_adds_the_weighted_si_term_to_l1_and_defaults_to_l1():
    torch.manual_seed(1)
    outputs = {"depth": torch.rand(2, 1, 6, 6) + 0.2}
    targets = {"depth": torch.rand(2, 1, 6, 6) + 0.2}
    targets["depth"][1] = 0.0
    plain = task_losses(outputs, targets)["depth"]
    assert torch.equal(plain, depth_loss(outputs["depth"], targets["depth"]))
    assert torch.equal(task_losses(outputs, targets, depth_si_weight=0.0)["depth"], plain)
    weighted = task_losses(outputs, targets, depth_si_weight=0.5)["depth"]
    si = si_log_loss(outputs["depth"][:1], targets["depth"][:1]).item()
    assert weighted.item() == pytest.approx(plain.item() + 0.5 * si, rel=1e-6)
