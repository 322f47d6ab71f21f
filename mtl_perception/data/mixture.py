"""Several MTAN datasets trained as one: a concatenation at one size, and a weighted sampler.

Used for partial supervision (DESIGN §3), e.g. rendered frames that label segmentation mixed
with robot frames that supervise only depth and normals. Each dataset is drawn in proportion
to its weight, not to its length, so a small labelled set is not drowned by a long bag.
"""
from __future__ import annotations

import bisect
from typing import Iterator, Sequence

import torch
from torch.nn import functional as F
from torch.utils.data import Dataset, Sampler

from .transforms import Sample


def resize_sample(sample: Sample, size: tuple[int, int]) -> Sample:
    """One sample at `size`: the image bilinear (antialiased), the targets nearest (as prepare_batch does)."""
    if tuple(sample["image"].shape[-2:]) == tuple(size):
        return sample
    out = dict(sample)
    out["image"] = F.interpolate(sample["image"][None], size=size, mode="bilinear", align_corners=False, antialias=True)[0]
    if "segmentation" in sample:
        labels = sample["segmentation"][None, None].float()
        out["segmentation"] = F.interpolate(labels, size=size, mode="nearest-exact")[0, 0].long()
    for key in ("depth", "normals"):
        if key in sample:
            out[key] = F.interpolate(sample[key][None], size=size, mode="nearest-exact")[0]
    return out


class DatasetMixture(Dataset):
    """The datasets one after another; samples of another resolution are resized to `size`
    so that one batch can hold frames of both (the default collate stacks them)."""

    def __init__(self, datasets: Sequence[Dataset], size: tuple[int, int]) -> None:
        if not datasets:
            raise ValueError("a mixture needs at least one dataset")
        self.datasets = list(datasets)
        self.size = (int(size[0]), int(size[1]))
        self.offsets = [0]
        for dataset in self.datasets:
            self.offsets.append(self.offsets[-1] + len(dataset))

    @property
    def sizes(self) -> list[int]:
        return [len(d) for d in self.datasets]

    def set_epoch(self, epoch: int) -> None:
        for dataset in self.datasets:
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return self.offsets[-1]

    def locate(self, i: int) -> tuple[int, int]:
        """(dataset number, index inside it) of mixture index i."""
        if not 0 <= i < len(self):
            raise IndexError(f"sample {i} out of range for {len(self)} samples")
        which = bisect.bisect_right(self.offsets, i) - 1
        return which, i - self.offsets[which]

    def __getitem__(self, i: int) -> Sample:
        which, local = self.locate(i)
        return resize_sample(self.datasets[which][local], self.size)


def quotas(weights: Sequence[float], total: int) -> list[int]:
    """Draws per dataset summing to `total`, proportional to `weights` (largest remainder)."""
    scale = total / sum(weights)
    exact = [w * scale for w in weights]
    counts = [int(e) for e in exact]
    by_remainder = sorted(range(len(weights)), key=lambda k: (counts[k] - exact[k], k))
    for k in by_remainder[: total - sum(counts)]:
        counts[k] += 1
    return counts


class WeightedMixtureSampler(Sampler[int]):
    """Mixture indices, each dataset drawn `quotas(weights, num_samples)` times an epoch.

    Inside a dataset the draws walk fresh permutations (no repeat before every sample was
    seen once), then the epoch is shuffled; everything is a function of (seed, epoch), so
    resume replays it exactly. Ranks take interleaved slices of the padded epoch, like
    DistributedSampler.
    """

    def __init__(self, sizes: Sequence[int], weights: Sequence[float], *, num_samples: int | None = None, seed: int = 0,
                 num_replicas: int = 1, rank: int = 0) -> None:
        if len(sizes) != len(weights) or not sizes:
            raise ValueError("sizes and weights must be non-empty and of equal length")
        if any(n <= 0 for n in sizes) or any(w <= 0 for w in weights):
            raise ValueError(f"every dataset needs samples and a weight > 0, got sizes {list(sizes)} and weights {list(weights)}")
        self.sizes, self.weights = list(sizes), [float(w) for w in weights]
        self.num_samples = int(num_samples if num_samples is not None else sum(sizes))
        self.seed, self.num_replicas, self.rank = seed, num_replicas, rank
        self.epoch = 0
        self.per_rank = -(-self.num_samples // num_replicas)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.per_rank

    def epoch_indices(self) -> list[int]:
        """The whole epoch's mixture indices (all ranks), before the rank slice."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        offset, drawn = 0, []
        for size, count in zip(self.sizes, quotas(self.weights, self.num_samples)):
            rounds = -(-count // size)
            local = torch.cat([torch.randperm(size, generator=generator) for _ in range(rounds)])[:count] if count else torch.empty(0, dtype=torch.long)
            drawn.append(local + offset)
            offset += size
        indices = torch.cat(drawn)
        indices = indices[torch.randperm(len(indices), generator=generator)].tolist()
        padding = self.per_rank * self.num_replicas - len(indices)
        return indices + indices[:padding]

    def __iter__(self) -> Iterator[int]:
        return iter(self.epoch_indices()[self.rank::self.num_replicas])
