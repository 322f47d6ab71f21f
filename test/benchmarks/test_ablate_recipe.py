"""The recipe ablation's paired comparison on hand-worked numbers (benchmarks/ablate_recipe.py)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def ablate(load_script):
    return load_script("ablate_recipe")


def result(arm: str, seed: int, miou: float) -> dict:
    return {"arm": arm, "seed": seed, "heldout": {"segmentation": {"miou": miou}}}


def test_each_arm_is_paired_with_the_recipe_of_the_same_seed(ablate):
    results = [result("recipe", s, m) for s, m in enumerate((0.5, 0.6, 0.7))]
    results += [result("basic augmentation", s, m) for s, m in enumerate((0.45, 0.55, 0.68))]  # −0.05, −0.05, −0.02
    entry = ablate.paired(results, "basic augmentation", "heldout", "segmentation", "miou")
    assert entry["mean_std"][0] == pytest.approx(0.56)
    # differences −0.05, −0.05, −0.02: mean −0.04, sd 0.01732, half-width 4.303 · 0.01732 / √3 = 0.04303
    assert entry["vs_recipe"]["mean"] == pytest.approx(-0.04)
    assert entry["vs_recipe"]["low"] == pytest.approx(-0.08303, abs=1e-4) and entry["vs_recipe"]["high"] == pytest.approx(0.00303, abs=1e-4)
    assert ablate.paired(results, "recipe", "heldout", "segmentation", "miou")["vs_recipe"] is None


def test_every_arm_trains_as_many_frames_per_epoch_as_the_recipe(ablate):
    """An arm on one dataset takes twice its frames, so no arm wins or loses by its number of steps."""
    import argparse
    from pathlib import Path

    from mtl_perception.training.config import load_config

    args = argparse.Namespace(rand=Path("rand"), classic=Path("classic"), epochs=2, train_limit=300)
    for arm in ablate.ARMS:
        config = load_config(ablate.ROOT / "config/train/default.yaml", ablate.arm_overrides(arm, 0, args))
        assert len(config.data.roots) * config.data.train_limit == 600, arm
        assert (config.seed, config.epochs) == (0, 2)
