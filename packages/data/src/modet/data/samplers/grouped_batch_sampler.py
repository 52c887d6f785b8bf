"""Batches whose samples share a group (e.g. landscape or portrait images), in sampler order."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data.sampler import BatchSampler, Sampler

__all__ = ["GroupedBatchSampler"]


class GroupedBatchSampler(BatchSampler):
    """Wrap ``sampler`` (indices in [0, N)) to yield lists of ``batch_size`` indices of one group.

    ``group_ids[i]`` is the group of sample ``i``. Indices wait in their group's buffer until it
    holds a full batch, so batches follow the sampler's order as closely as grouping allows; a
    last incomplete batch per group is never yielded. An infinite sampler gives infinite batches,
    so ``len()`` is undefined.
    """

    def __init__(self, sampler: Sampler, group_ids: Sequence[int], batch_size: int) -> None:
        if not isinstance(sampler, Sampler):
            raise ValueError(f"sampler should be a torch.utils.data.Sampler, got {type(sampler).__name__}")
        group_array = np.asarray(group_ids)
        if group_array.ndim != 1:
            raise ValueError(f"group_ids must be one id per sample (1-D), got shape {group_array.shape}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.sampler = sampler
        self.group_ids = group_array
        self.batch_size = batch_size
        self.buffer_per_group: dict[int, list[int]] = {int(g): [] for g in np.unique(group_array)}

    def __iter__(self) -> Iterator[list[int]]:
        for index in self.sampler:
            buffer = self.buffer_per_group[int(self.group_ids[index])]
            buffer.append(index)
            if len(buffer) == self.batch_size:
                yield buffer[:]
                buffer.clear()

    def __len__(self) -> int:
        raise NotImplementedError("len() of GroupedBatchSampler is not well-defined.")
