"""Dataset wrappers: a list as a Dataset, lazy mapping, aspect-ratio grouped batching."""

from __future__ import annotations

import copy
import itertools
import logging
import pickle
import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch.utils.data as data
from torch.utils.data.sampler import Sampler

__all__ = ["AspectRatioGroupedDataset", "DatasetFromList", "MapDataset", "ToIterableDataset"]

logger = logging.getLogger(__name__)


class MapDataset(data.Dataset):
    """Apply ``map_func`` to each element. If it returns None (a record it cannot use), another
    element is tried instead; after repeated failures a warning names the index."""

    def __init__(self, dataset: Any, map_func: Callable[[Any], Any]):
        self._dataset = dataset
        self._map_func = map_func
        self._rng = random.Random(42)
        self._fallback_candidates = set(range(len(dataset)))

    def __new__(cls, dataset: Any, map_func: Callable[[Any], Any]):
        if isinstance(dataset, data.IterableDataset):
            return _MapIterableDataset(dataset, map_func)
        return super().__new__(cls)

    def __len__(self) -> int:
        return len(self._dataset)

    def __getitem__(self, idx: int) -> Any:
        retry_count = 0
        cur_idx = int(idx)
        while True:
            result = self._map_func(self._dataset[cur_idx])
            if result is not None:
                self._fallback_candidates.add(cur_idx)
                return result
            retry_count += 1
            self._fallback_candidates.discard(cur_idx)
            if not self._fallback_candidates:
                raise RuntimeError(f"MapDataset: the mapper returned None for every element (last index {cur_idx})")
            cur_idx = self._rng.sample(sorted(self._fallback_candidates), k=1)[0]
            if retry_count >= 3:
                logger.warning("Failed to apply `_map_func` for idx: %d, retry count: %d", idx, retry_count)


class _MapIterableDataset(data.IterableDataset):
    def __init__(self, dataset: data.IterableDataset, map_func: Callable[[Any], Any]):
        self._dataset = dataset
        self._map_func = map_func

    def __iter__(self) -> Iterator[Any]:
        for x in map(self._map_func, self._dataset):
            if x is not None:
                yield x


class DatasetFromList(data.Dataset):
    """A list as a Dataset. With ``serialize``, elements are pickled into one numpy buffer so that
    dataloader workers share it instead of copying millions of Python objects."""

    def __init__(self, lst: list[Any], copy: bool = True, serialize: bool = True):
        self._lst = lst
        self._copy = copy
        self._serialize = serialize
        if serialize:
            buffers = [np.frombuffer(pickle.dumps(x, protocol=-1), dtype=np.uint8) for x in lst]
            self._addr = np.cumsum(np.asarray([len(b) for b in buffers], dtype=np.int64))
            self._buffer = np.concatenate(buffers) if buffers else np.zeros(0, dtype=np.uint8)
            self._lst = []

    def __len__(self) -> int:
        return len(self._addr) if self._serialize else len(self._lst)

    def __getitem__(self, idx: int) -> Any:
        if self._serialize:
            start = 0 if idx == 0 else int(self._addr[idx - 1])
            end = int(self._addr[idx])
            return pickle.loads(self._buffer[start:end].tobytes())
        if self._copy:
            return copy.deepcopy(self._lst[idx])
        return self._lst[idx]


class ToIterableDataset(data.IterableDataset):
    """Turn a map-style dataset plus a (possibly infinite) sampler into an iterable dataset,
    sharding the sampler across dataloader workers."""

    def __init__(self, dataset: data.Dataset, sampler: Sampler, shard_sampler: bool = True):
        if isinstance(dataset, data.IterableDataset):
            raise TypeError("ToIterableDataset wraps a map-style dataset, not an IterableDataset")
        self.dataset, self.sampler, self.shard_sampler = dataset, sampler, shard_sampler

    def __iter__(self) -> Iterator[Any]:
        sampler = iter(self.sampler)
        if self.shard_sampler:
            info = data.get_worker_info()
            if info is not None:
                sampler = itertools.islice(sampler, info.id, None, info.num_workers)
        for idx in sampler:
            yield self.dataset[idx]

    def __len__(self) -> int:
        return len(self.sampler)  # type: ignore[arg-type]  # a finite sampler; torch's Sampler type has no __len__


class AspectRatioGroupedDataset(data.IterableDataset):
    """Batch images of the same orientation (width > height or not) together, which wastes less
    padding. Yields lists of ``batch_size`` mapped dicts."""

    def __init__(self, dataset: Any, batch_size: int):
        self.dataset = dataset
        self.batch_size = batch_size
        self._buckets: list[list[Any]] = [[], []]

    def __iter__(self) -> Iterator[list[Any]]:
        for d in self.dataset:
            w, h = d["width"], d["height"]
            bucket = self._buckets[0 if w > h else 1]
            bucket.append(d)
            if len(bucket) == self.batch_size:
                batch = bucket[:]
                del bucket[:]
                yield batch
