"""Which frames a bag → dataset conversion keeps: stamp pairing, --every, and the time-block train/val split."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class Pairing:
    """One-to-one pairs of primary and secondary stamps (e.g. image and depth), with what was left over."""

    pairs: dict[int, int]  # primary stamp -> secondary stamp, in primary-stamp order
    primary: int  # messages seen on the primary topic
    secondary: int  # messages seen on the secondary topic
    duplicate_primary: int  # messages repeating a stamp already seen on that topic (dropped)
    duplicate_secondary: int
    unmatched_primary: int  # distinct primary stamps with no secondary within the window
    unmatched_secondary: int  # distinct secondary stamps that no primary took


def pair_by_stamp(primary: Sequence[int], secondary: Sequence[int], max_dt_ns: int) -> Pairing:
    """Pair each primary stamp with its nearest secondary stamp within `max_dt_ns`, one to one.

    When several primaries pick the same secondary, the closest one keeps it (the earlier on a
    tie) and the others count as unmatched: a depth frame never supervises two images.
    """
    prim = np.unique(np.asarray(primary, dtype=np.int64))
    sec = np.unique(np.asarray(secondary, dtype=np.int64))
    best: dict[int, tuple[int, int]] = {}  # secondary index -> (|dt|, primary stamp)
    if sec.size:
        right = np.clip(np.searchsorted(sec, prim), 0, sec.size - 1)
        left = np.clip(right - 1, 0, sec.size - 1)
        nearest = np.where(np.abs(sec[left] - prim) <= np.abs(sec[right] - prim), left, right)
        offsets = np.abs(sec[nearest] - prim)
        for stamp, index, offset in zip(prim.tolist(), nearest.tolist(), offsets.tolist()):
            if offset <= max_dt_ns and (index not in best or offset < best[index][0]):
                best[index] = (offset, stamp)
    pairs = dict(sorted((stamp, int(sec[index])) for index, (_, stamp) in best.items()))
    return Pairing(
        pairs=pairs,
        primary=len(primary),
        secondary=len(secondary),
        duplicate_primary=len(primary) - prim.size,
        duplicate_secondary=len(secondary) - sec.size,
        unmatched_primary=prim.size - len(pairs),
        unmatched_secondary=sec.size - len(pairs),
    )


@dataclass(frozen=True)
class Split:
    """Sample stamps per split, in time order, and how many fell in the gaps between splits."""

    train: list[int] = field(default_factory=list)
    val: list[int] = field(default_factory=list)
    dropped_at_boundaries: int = 0


def split_by_time(stamps: Sequence[int], val_fraction: float, period_ns: int, gap_ns: int) -> Split:
    """Split stamps into train and val by time blocks, not frame by frame.

    Time is cut into periods of `period_ns` (shortened to the recording's span when that is
    shorter); the first (1 − val_fraction) of each period is train and the rest val, so val is
    spread through the recording in contiguous blocks. Frames within `gap_ns` of a train/val
    boundary are dropped, so consecutive near-duplicate frames never sit on both sides.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    times = np.asarray(sorted(stamps), dtype=np.int64)
    if times.size == 0 or val_fraction == 0.0:
        return Split(train=times.tolist())
    since = times - times[0]
    period = float(min(period_ns, int(since[-1]) + 1))
    phase = np.mod(since, period)
    cut = (1.0 - val_fraction) * period
    is_val = phase >= cut
    # Boundaries: the train→val cut inside each period, and the val→train start of each period but the first.
    block = np.floor_divide(since, period)
    inf = np.inf
    to_cut = np.abs(phase - cut)
    to_start = np.where(block >= 1, phase, inf)
    to_next = np.where((block + 1) * period <= since[-1], period - phase, inf)
    near = np.minimum(to_cut, np.minimum(to_start, to_next)) < gap_ns
    return Split(
        train=times[~is_val & ~near].tolist(),
        val=times[is_val & ~near].tolist(),
        dropped_at_boundaries=int(near.sum()),
    )
