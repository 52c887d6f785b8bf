"""Dataset wrappers: a list as a Dataset, lazy mapping, aspect-ratio grouped batching."""

from __future__ import annotations

import contextlib
import copy
import itertools
import logging
import pickle
import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.utils.data as data
from torch.utils.data.sampler import Sampler

from modet.core.serialize import PicklableWrapper

__all__ = [
    "AspectRatioGroupedDataset",
    "DatasetFromList",
    "MapDataset",
    "NumpySerializedList",
    "ToIterableDataset",
    "TorchSerializedList",
    "set_default_dataset_from_list_serialize_method",
]

logger = logging.getLogger(__name__)


class MapDataset(data.Dataset):
    """Apply ``map_func`` to each element. If it returns None (a record it cannot use), another
    element is tried instead; after repeated failures a warning names the index."""

    def __init__(self, dataset: Any, map_func: Callable[[Any], Any]):
        self._dataset = dataset
        self._map_func = PicklableWrapper(map_func)  # picklable even as a lambda
        self._rng = random.Random(42)
        self._fallback_candidates = set(range(len(dataset)))

    def __new__(cls, dataset: Any, map_func: Callable[[Any], Any]):
        if isinstance(dataset, data.IterableDataset):
            return _MapIterableDataset(dataset, map_func)
        return super().__new__(cls)

    def __getnewargs__(self) -> tuple[Any, Any]:  # what unpickling passes to __new__
        return self._dataset, self._map_func

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
        self._map_func = PicklableWrapper(map_func)

    def __iter__(self) -> Iterator[Any]:
        for x in map(self._map_func, self._dataset):
            if x is not None:
                yield x


class NumpySerializedList:
    """A list kept as one numpy byte buffer of pickled elements: dataloader workers share the
    buffer instead of copying (and refcounting) millions of Python objects."""

    def __init__(self, lst: list[Any]):
        buffers = [np.frombuffer(pickle.dumps(x, protocol=-1), dtype=np.uint8) for x in lst]
        # Any: numpy arrays here, torch tensors in TorchSerializedList
        self._addr: Any = np.cumsum(np.asarray([len(b) for b in buffers], dtype=np.int64))
        self._lst: Any = np.concatenate(buffers) if buffers else np.zeros(0, dtype=np.uint8)

    def __len__(self) -> int:
        return len(self._addr)

    def __getitem__(self, idx: int) -> Any:
        start = 0 if idx == 0 else int(self._addr[idx - 1])
        end = int(self._addr[idx])
        return pickle.loads(memoryview(self._lst[start:end]))


class TorchSerializedList(NumpySerializedList):
    """``NumpySerializedList`` with torch tensors as storage: forked or spawned workers share
    the tensors' memory."""

    def __init__(self, lst: list[Any]):
        super().__init__(lst)
        self._addr = torch.from_numpy(self._addr)
        self._lst = torch.from_numpy(self._lst)

    def __getitem__(self, idx: int) -> Any:
        start = 0 if idx == 0 else int(self._addr[idx - 1].item())
        end = int(self._addr[idx].item())
        return pickle.loads(memoryview(self._lst[start:end].numpy()))


_default_serialize_method: Callable[[list[Any]], Any] = NumpySerializedList


@contextlib.contextmanager
def set_default_dataset_from_list_serialize_method(new: Callable[[list[Any]], Any]) -> Iterator[None]:
    """Within the block, ``DatasetFromList(..., serialize=True)`` serializes with ``new``
    (a callable taking the list and returning an indexable of the same length)."""
    global _default_serialize_method
    previous = _default_serialize_method
    _default_serialize_method = new
    try:
        yield
    finally:
        _default_serialize_method = previous


class DatasetFromList(data.Dataset):
    """A list as a Dataset.

    ``serialize=True`` stores the list with the default serialize method
    (``NumpySerializedList``, see ``set_default_dataset_from_list_serialize_method``); a callable
    serializes with that callable instead. Serialized elements come back freshly unpickled;
    unserialized ones are deep-copied when ``copy`` is True.
    """

    def __init__(self, lst: list[Any], copy: bool = True, serialize: bool | Callable[[list[Any]], Any] = True):
        self._lst = lst
        self._copy = copy
        if not (isinstance(serialize, bool) or callable(serialize)):
            raise TypeError(f"DatasetFromList: serialize must be a bool or a callable, got {type(serialize).__name__}")
        self._serialize = serialize is not False
        if callable(serialize):
            self._lst = serialize(self._lst)
        elif serialize:
            self._lst = _default_serialize_method(self._lst)

    def __len__(self) -> int:
        return len(self._lst)

    def __getitem__(self, idx: int) -> Any:
        if self._copy and not self._serialize:
            return copy.deepcopy(self._lst[idx])
        return self._lst[idx]


class ToIterableDataset(data.IterableDataset):
    """Turn a map-style dataset plus a (possibly infinite) sampler into an iterable dataset.

    With ``shard_sampler``, each dataloader worker takes its share of the sampler's indices:
    consecutive chunks of ``shard_chunk_size`` dealt round-robin, so that with the batch size as
    chunk size every worker makes full batches and only the very last batch can be incomplete.
    """

    def __init__(self, dataset: data.Dataset, sampler: Sampler, shard_sampler: bool = True, shard_chunk_size: int = 1):
        if isinstance(dataset, data.IterableDataset):
            raise TypeError("ToIterableDataset wraps a map-style dataset, not an IterableDataset")
        if not isinstance(sampler, Sampler):
            raise TypeError(f"ToIterableDataset: expected a Sampler, got {type(sampler).__name__}")
        if shard_chunk_size < 1:
            raise ValueError(f"ToIterableDataset: shard_chunk_size must be >= 1, got {shard_chunk_size}")
        self.dataset, self.sampler = dataset, sampler
        self.shard_sampler, self.shard_chunk_size = shard_sampler, shard_chunk_size

    def __iter__(self) -> Iterator[Any]:
        all_indices = iter(self.sampler)
        indices: Iterator[int] = all_indices
        info = data.get_worker_info() if self.shard_sampler else None
        if info is not None and info.num_workers > 1:
            chunks = iter(lambda: list(itertools.islice(all_indices, self.shard_chunk_size)), [])
            mine = itertools.islice(chunks, info.id, None, info.num_workers)
            indices = itertools.chain.from_iterable(mine)
        for idx in indices:
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
