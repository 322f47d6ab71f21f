"""Checkpoints: atomic, weights_only, clear errors, and a killed-then-resumed run matches an uninterrupted one."""

import pytest
import torch

from mtl_perception.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from mtl_perception.training.config import load_config
from mtl_perception.training.trainer import Trainer

torch.set_num_threads(2)


def resume_config(root, mode="blocks"):
    # svd_shared with 1-step phases and DWA: phase, weighting history, Adam moments and the
    # cosine schedule all have to survive the restart for the losses to match bit for bit.
    return load_config(None, [f"data.root={root}", "data.height=32", "data.width=48", "model.width=0.25", "batch_size=2",
                              "epochs=3", "model.scheme=svd_shared", f"schedule.mode={mode}", "schedule.phase_a=1", "schedule.phase_b=1",
                              "loss.weighting=dwa", "data.augment=true", "tensorboard=false", "plots=false", "device=cpu"])


@pytest.mark.parametrize("mode, steps_per_batch", [("blocks", 1), ("interleaved", 2)])
def test_resume_matches_uninterrupted_run(data_root, mode, steps_per_batch):
    straight_dir, killed_dir = data_root / f"straight_{mode}", data_root / f"killed_{mode}"
    straight = Trainer.from_config(resume_config(data_root, mode), straight_dir).fit()

    Trainer.from_config(resume_config(data_root, mode), killed_dir).fit(stop_after_epoch=1)  # "killed" after epoch 1
    torch.manual_seed(12345)  # a fresh process would not share the first run's RNG state
    resumed_trainer = Trainer.from_config(resume_config(data_root, mode), killed_dir, resume=True)
    # 4 train frames at batch 2: two batches an epoch.
    assert (resumed_trainer.epoch, resumed_trainer.batches, resumed_trainer.step) == (1, 2, 2 * steps_per_batch)
    resumed = resumed_trainer.fit()

    assert [h["epoch"] for h in resumed] == [1, 2, 3]
    for a, b in zip(straight, resumed):
        assert a["train"] == b["train"], (a["epoch"], a["train"], b["train"])
        assert a["val"] == b["val"]
        assert a["weights"] == b["weights"]
    final_a = load_checkpoint(straight_dir / "last.pt")["model"]
    final_b = load_checkpoint(killed_dir / "last.pt")["model"]
    assert all(torch.equal(final_a[k], final_b[k]) for k in final_a)


def test_save_is_atomic_and_loads_weights_only(tmp_path):
    path = tmp_path / "ck.pt"
    save_checkpoint({"model": {"w": torch.ones(2)}, "epoch": 3}, path)
    save_checkpoint({"model": {"w": torch.zeros(2)}, "epoch": 4}, path)  # overwrite in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"]  # no temp files left behind
    state = load_checkpoint(path)
    assert state["epoch"] == 4 and torch.equal(state["model"]["w"], torch.zeros(2))


class _NotAllowed:
    pass


def test_corrupt_or_foreign_checkpoints_fail_clearly(tmp_path):
    path = tmp_path / "ck.pt"
    save_checkpoint({"epoch": 1, "model": {"w": torch.ones(1000)}}, path)
    data = path.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(truncated)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError):
        load_checkpoint(garbage)
    pickled = tmp_path / "object.pt"
    torch.save({"format": "mtl_perception.checkpoint/1", "thing": _NotAllowed()}, pickled)
    with pytest.raises(CheckpointError):  # weights_only refuses arbitrary classes
        load_checkpoint(pickled)
    foreign = tmp_path / "foreign.pt"
    torch.save({"w": torch.ones(1)}, foreign)
    with pytest.raises(CheckpointError, match="not an mtl_perception"):
        load_checkpoint(foreign)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
