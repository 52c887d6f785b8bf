"""Samplers that shard indices across processes: infinite shuffled training streams and
ordered, non-repeating inference shards."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data.sampler import Sampler

from modet.core import comm

__all__ = ["InferenceSampler", "RepeatFactorTrainingSampler", "TrainingSampler"]


class _InfiniteShardedSampler(Sampler):
    """An infinite index stream drawn from ``seed`` on every process, of which each process keeps
    every ``world_size``-th index starting at its rank, so processes see disjoint samples.

    Subclasses yield the stream shared by all processes from ``_infinite_indices``.
    """

    def __init__(self, shuffle: bool, seed: int | None):
        self._shuffle = shuffle
        self._seed = int(comm.shared_random_seed() if seed is None else seed)
        self._rank = comm.get_rank()
        self._world_size = comm.get_world_size()

    def __iter__(self) -> Iterator[int]:
        yield from itertools.islice(self._infinite_indices(), self._rank, None, self._world_size)

    def _infinite_indices(self) -> Iterator[int]:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """The seed, which with the position a loader counts fixes every later index."""
        return {"seed": self._seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._seed = int(state["seed"])


class TrainingSampler(_InfiniteShardedSampler):
    """An infinite stream of indices, sharded across processes: each pass over ``range(size)`` is
    a fresh permutation (or ``range(size)`` itself without shuffle)."""

    def __init__(self, size: int, shuffle: bool = True, seed: int | None = None):
        if not isinstance(size, int) or size <= 0:
            raise ValueError(f"TrainingSampler(size=...) expects a positive int, got {size!r}")
        super().__init__(shuffle, seed)
        self._size = size

    def _infinite_indices(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self._seed)
        while True:
            if self._shuffle:
                yield from torch.randperm(self._size, generator=g).tolist()
            else:
                yield from range(self._size)


class RepeatFactorTrainingSampler(_InfiniteShardedSampler):
    """Like TrainingSampler, but image ``i`` appears ``repeat_factors[i]`` times per epoch on average
    (LVIS-style oversampling of images with rare categories; fractional parts are drawn at random)."""

    def __init__(self, repeat_factors: torch.Tensor, *, shuffle: bool = True, seed: int | None = None):
        super().__init__(shuffle, seed)
        repeat_factors = torch.as_tensor(repeat_factors, dtype=torch.float32)
        self._int_part = torch.trunc(repeat_factors)
        self._frac_part = repeat_factors - self._int_part

    @staticmethod
    def repeat_factors_from_category_frequency(
        dataset_dicts: list[dict[str, Any]], repeat_thresh: float, sqrt: bool = True
    ) -> torch.Tensor:
        """Per-image factor ``max over its categories of max(1, (t / f(c)) ** 0.5)`` (or without sqrt),
        where ``f(c)`` is the fraction of images containing category ``c``."""
        category_freq: dict[int, int] = defaultdict(int)
        for record in dataset_dicts:
            for cat_id in {ann["category_id"] for ann in record["annotations"]}:
                category_freq[cat_id] += 1
        num_images = len(dataset_dicts)
        category_rep = {}
        for cat_id, count in category_freq.items():
            ratio = repeat_thresh / (count / num_images)
            category_rep[cat_id] = max(1.0, math.sqrt(ratio) if sqrt else ratio)
        factors = [
            max({category_rep[ann["category_id"]] for ann in record["annotations"]}, default=1.0)
            for record in dataset_dicts
        ]
        return torch.tensor(factors, dtype=torch.float32)

    def _get_epoch_indices(self, generator: torch.Generator) -> torch.Tensor:
        rands = torch.rand(len(self._frac_part), generator=generator)
        reps = self._int_part + (rands < self._frac_part).float()
        return torch.repeat_interleave(torch.arange(len(reps)), reps.long())

    def _infinite_indices(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self._seed)
        while True:
            indices = self._get_epoch_indices(g)
            if self._shuffle:
                indices = indices[torch.randperm(len(indices), generator=g)]
            yield from indices.tolist()


class InferenceSampler(Sampler):
    """Each process gets one contiguous, ordered shard of ``range(size)``; no index repeats."""

    def __init__(self, size: int):
        if not isinstance(size, int) or size < 0:
            raise ValueError(f"InferenceSampler(size=...) expects a non-negative int, got {size!r}")
        self._size = size
        self._rank = comm.get_rank()
        self._world_size = comm.get_world_size()
        self._local_indices = self._get_local_indices(size, self._world_size, self._rank)

    @staticmethod
    def _get_local_indices(total_size: int, world_size: int, rank: int) -> range:
        shard_size = total_size // world_size
        left = total_size % world_size
        shard_sizes = [shard_size + int(r < left) for r in range(world_size)]
        begin = sum(shard_sizes[:rank])
        return range(begin, min(begin + shard_sizes[rank], total_size))

    def __iter__(self) -> Iterator[int]:
        yield from self._local_indices

    def __len__(self) -> int:
        return len(self._local_indices)
