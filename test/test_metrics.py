"""Metrics against hand-worked arrays and independent float64 computations."""
import math

import numpy as np
import pytest
import torch

from mtl_perception.metrics import (
    TASK_METRICS,
    DepthMeter,
    NormalMeter,
    SegmentationMeter,
    delta_mtl,
    make_meters,
)

# 2×3 image: one ignored pixel (target -1) that is predicted as class 2.
SEG_TARGET = np.array([[[0, 0, 1], [2, -1, 1]]])
SEG_PRED = np.array([[[0, 1, 1], [2, 2, 0]]])
# Valid (target, pred): (0,0) (0,1) (1,1) (2,2) (1,0). By hand:
# class 0: tp 1, target 2, predicted 2 -> IoU 1/3; class 1 likewise 1/3; class 2: 1/1.
SEG_IOU = [1 / 3, 1 / 3, 1.0]


def one_hot_logits(labels: np.ndarray, num_classes: int) -> torch.Tensor:
    logits = torch.nn.functional.one_hot(torch.as_tensor(labels), num_classes).permute(0, 3, 1, 2).float()
    return logits * 5.0 - 1.0


def test_segmentation_hand_worked_with_ignore():
    meter = SegmentationMeter(3)
    meter.update(SEG_PRED, SEG_TARGET)
    out = meter.compute()
    assert out["per_class_iou"] == pytest.approx(SEG_IOU)
    assert out["miou"] == pytest.approx(5 / 9)
    assert out["pixel_acc"] == pytest.approx(3 / 5)  # 5 valid pixels, 3 right; the ignored one is not counted


def test_segmentation_logits_equal_labels_and_absent_class_excluded():
    meter = SegmentationMeter(4)
    meter.update(one_hot_logits(SEG_PRED, 4), torch.as_tensor(SEG_TARGET))
    out = meter.compute()
    assert math.isnan(out["per_class_iou"][3])  # never in target nor prediction
    assert out["miou"] == pytest.approx(5 / 9)  # averaged over the 3 present classes only


def test_segmentation_streams_over_batches_and_merges():
    whole = SegmentationMeter(3)
    whole.update(SEG_PRED, SEG_TARGET)
    split = SegmentationMeter(3)
    split.update(SEG_PRED[:, :1], SEG_TARGET[:, :1])
    other = SegmentationMeter(3)
    other.update(SEG_PRED[:, 1:], SEG_TARGET[:, 1:])
    split.merge_(other)  # what an all-reduce across two ranks amounts to
    assert torch.equal(split.state_tensors()["confusion"], whole.state_tensors()["confusion"])
    split.reset()
    assert int(split.state_tensors()["confusion"].sum()) == 0


def test_segmentation_rejects_out_of_range():
    meter = SegmentationMeter(3)
    with pytest.raises(ValueError, match="class 3"):
        meter.update(np.zeros((1, 1, 2), dtype=np.int64), np.array([[[0, 3]]]))
    with pytest.raises(ValueError, match="shape"):
        meter.update(np.zeros((1, 2, 2), dtype=np.int64), np.zeros((1, 2, 3), dtype=np.int64))


def test_depth_hand_worked_with_invalid():
    target = np.array([[[[2.0, 0.0], [4.0, 1.0]]]], dtype=np.float32)  # 0 = invalid
    pred = np.array([[[[1.0, 5.0], [5.0, 1.0]]]], dtype=np.float32)
    meter = DepthMeter()
    meter.update(pred, target)
    out = meter.compute()
    # Valid pairs (p, t): (1, 2) (5, 4) (1, 1): errors 1, 1, 0.
    assert out["abs_err"] == pytest.approx(2 / 3)
    assert out["rel_err"] == pytest.approx((1 / 2 + 1 / 4 + 0) / 3)
    assert out["rmse"] == pytest.approx(math.sqrt(2 / 3))
    # Ratios 2, 1.25, 1: only the exact one is strictly below 1.25; 1.25 < 1.25² = 1.5625.
    assert out["delta_1.25"] == pytest.approx(1 / 3)
    assert out["delta_1.25^2"] == pytest.approx(2 / 3)
    assert out["delta_1.25^3"] == pytest.approx(2 / 3)


def test_depth_is_pixel_weighted_over_the_set():
    meter = DepthMeter()
    meter.update(torch.tensor([[[[1.0, 5.0], [5.0, 1.0]]]]), torch.tensor([[[[2.0, 0.0], [4.0, 1.0]]]]))
    meter.update(torch.tensor([[[[4.0]]]]), torch.tensor([[[[1.0]]]]))  # one pixel, error 3
    # (1 + 1 + 0 + 3) / 4 pixels, not the mean of the two batch means (2/3 + 3) / 2.
    assert meter.compute()["abs_err"] == pytest.approx(5 / 4)


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def test_normals_hand_worked_with_zero_targets():
    t10, t25 = math.radians(10), math.radians(25)
    target = [(0, 0, -1), (0, 0, -1), (0, 0, 0), (1, 0, 0), (0, -1, 0)]
    pred = [(0, 0, -2), (math.sin(t10), 0, -math.cos(t10)), (1, 0, 0), (0, 1, 0), (0, -math.cos(t25), math.sin(t25))]
    # Angles: 0 (length does not matter), 10, ignored (zero target), 90, 25.
    to_bchw = lambda v: torch.tensor(v, dtype=torch.float32).T.reshape(1, 3, 1, len(v))  # noqa: E731
    meter = NormalMeter()
    meter.update(to_bchw(pred), to_bchw(target))
    out = meter.compute()
    assert out["mean"] == pytest.approx((0 + 10 + 90 + 25) / 4, abs=1e-4)
    assert out["median"] == pytest.approx((10 + 25) / 2, abs=0.01)
    assert out["within_11.25"] == pytest.approx(2 / 4)
    assert out["within_22.5"] == pytest.approx(2 / 4)
    assert out["within_30"] == pytest.approx(3 / 4)


@pytest.mark.parametrize("n", [999, 1000])  # odd and even counts
def test_normals_match_exact_float64_statistics(n):
    rng = np.random.default_rng(n)
    target = np.stack([_unit(v) for v in rng.normal(size=(n, 3))])
    pred = target + rng.normal(scale=0.3, size=(n, 3))
    exact = np.degrees(np.arccos(np.clip(np.sum(target * np.stack([_unit(p) for p in pred]), axis=1), -1, 1)))
    meter = NormalMeter()
    to_bchw = lambda a: torch.from_numpy(a.T.reshape(1, 3, 1, n).astype(np.float32))  # noqa: E731
    # Two halves: streaming must give the same answer as one batch.
    meter.update(to_bchw(pred[:, :])[..., : n // 2], to_bchw(target)[..., : n // 2])
    meter.update(to_bchw(pred)[..., n // 2 :], to_bchw(target)[..., n // 2 :])
    out = meter.compute()
    assert out["mean"] == pytest.approx(exact.mean(), abs=1e-3)  # float32 inputs
    assert abs(out["median"] - np.median(exact)) <= 0.01  # 0.01° bins, read at their centres
    for thr in (11.25, 22.5, 30):
        assert out[f"within_{thr:g}"] == pytest.approx(np.mean(exact < thr))


def test_state_round_trip_and_empty_meters():
    meter = DepthMeter()
    meter.update(np.ones((1, 1, 2, 2)), np.full((1, 1, 2, 2), 2.0))
    copy = DepthMeter()
    copy.load_state_tensors({k: v.clone() for k, v in meter.state_tensors().items()})
    assert copy.compute() == meter.compute()
    assert all(math.isnan(v) for v in DepthMeter().compute().values())
    assert all(math.isnan(v) for v in NormalMeter().compute().values())
    assert math.isnan(SegmentationMeter(2).compute()["miou"])
    with pytest.raises(ValueError):
        copy.load_state_tensors({"count": torch.zeros(())})


def test_all_reduce_is_a_no_op_without_a_process_group():
    meter = SegmentationMeter(3)
    meter.update(SEG_PRED, SEG_TARGET)
    assert meter.all_reduce_().compute()["miou"] == pytest.approx(5 / 9)


def test_delta_mtl_hand_computed():
    results = {
        "segmentation": {"miou": 0.5, "pixel_acc": 0.8},
        "depth": {"abs_err": 0.4, "rel_err": 0.1, "rmse": 9.0},  # rmse is not part of Δ_MTL
        "normals": {"mean": 20, "median": 15, "within_11.25": 0.3, "within_22.5": 0.6, "within_30": 0.7},
    }
    baseline = {
        "segmentation": {"miou": 0.4, "pixel_acc": 0.8},
        "depth": {"abs_err": 0.5, "rel_err": 0.1, "rmse": 1.0},
        "normals": {"mean": 25, "median": 15, "within_11.25": 0.3, "within_22.5": 0.5, "within_30": 0.7},
    }
    # seg: (+0.25 + 0) / 2 = 0.125; depth: (+0.2 + 0) / 2 = 0.1 (lower abs_err is better);
    # normals: (+0.2 + 0 + 0 + 0.2 + 0) / 5 = 0.08. Mean over tasks, in percent:
    assert delta_mtl(results, baseline) == pytest.approx(100 * (0.125 + 0.1 + 0.08) / 3)
    assert delta_mtl(baseline, baseline) == 0.0
    assert delta_mtl({"depth": results["depth"]}, baseline) == pytest.approx(10.0)
    with pytest.raises(KeyError):
        delta_mtl({"depth": {"abs_err": 0.4}}, baseline)
    with pytest.raises(ValueError):
        delta_mtl({"depth": results["depth"]}, {"depth": {"abs_err": 0.0, "rel_err": 0.1}})


def test_task_metrics_is_immutable_and_make_meters():
    with pytest.raises(TypeError):
        TASK_METRICS["depth"] = {}  # type: ignore[index]
    with pytest.raises(TypeError):
        TASK_METRICS["depth"]["abs_err"] = False  # type: ignore[index]
    meters = make_meters(["segmentation", "depth", "normals"], num_classes=5)
    assert isinstance(meters["segmentation"], SegmentationMeter) and meters["segmentation"].num_classes == 5
    assert isinstance(meters["depth"], DepthMeter) and isinstance(meters["normals"], NormalMeter)
    with pytest.raises(ValueError):
        make_meters(["edges"], 5)
