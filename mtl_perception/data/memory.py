"""An MTAN dataset held in memory in compact dtypes, read from disk (and validated) once.

Per-sample ``.npy`` reads and float32 images cost more than a small network's step on a
2-core CPU. Stored: image uint8 (the file's [0, 1] values rounded to 1/255, as a camera
delivers them), labels int16, depth float32, normals float16 (≤ 0.03° of rounding).
Samples come out in the loader's dtypes and pass through the source's augmentation with
the source's seeded randomness, so batches match the file-backed dataset's.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from .dataset import MTANDataset
from .transforms import Sample


class InMemoryDataset(Dataset):
    """The first `limit` samples of `source` (0: all) decoded once; `set_epoch` and augmentation follow `source`."""

    def __init__(self, source: MTANDataset, *, limit: int = 0, progress: bool = False) -> None:
        self.source = source
        count = min(limit, len(source)) if limit > 0 else len(source)
        first = source.load_arrays(0)
        height, width = first["image"].shape[-2:]
        self.images = torch.empty((count, 3, height, width), dtype=torch.uint8)
        self.labels = torch.empty((count, height, width), dtype=torch.int16)
        self.depth = torch.empty((count, 1, height, width), dtype=torch.float32)
        self.normals = torch.empty((count, 3, height, width), dtype=torch.float16)
        for i in tqdm(range(count), desc=f"loading {source.split_dir}", disable=not progress, leave=False, mininterval=1.0):
            arrays = first if i == 0 else source.load_arrays(i)
            self.images[i] = torch.from_numpy(np.rint(arrays["image"] * 255.0).astype(np.uint8))
            self.labels[i] = torch.from_numpy(arrays["segmentation"].astype(np.int16))
            self.depth[i] = torch.from_numpy(arrays["depth"])
            self.normals[i] = torch.from_numpy(arrays["normals"].astype(np.float16))

    def set_epoch(self, epoch: int) -> None:
        self.source.set_epoch(epoch)

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> Sample:
        i = self.source.check_index(i)
        sample = {
            "image": self.images[i].float() / 255.0,
            "segmentation": self.labels[i].long(),
            "depth": self.depth[i].clone(),
            "normals": self.normals[i].float(),
        }
        return self.source.augmented(sample, i)

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.images, self.labels, self.depth, self.normals))
