"""The training loader that knows where it is, so a resumed run sees exactly the batches an
uninterrupted one would.

Three things decide which batch comes next: the sampler's index stream, the random numbers each
record is augmented with, and the records waiting in the aspect-ratio buckets. Here each of
them is a function of a position in the stream:

- records are numbered by their position in this process's share of the sampler's stream;
  a restored loader skips the positions it already consumed (the sampler replays from its seed);
- record ``p`` is mapped under Python, numpy and torch (CPU) random generators seeded from
  ``(seed, rank, p)``: the same augmentation whichever worker maps it, in any run; the caller's
  generators are left as they were;
- batches are formed in the main process, in stream order, so the buckets hold known
  positions, re-mapped on restore.

``state_dict()`` (seed, next position, positions waiting in buckets, sampler state) is a few
integers; ``DataLoader`` workers, prefetching and ``num_workers`` do not change any batch.
"""

from __future__ import annotations

import contextlib
import itertools
import operator
import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.utils.data as torchdata

from modet.core import comm

__all__ = ["PositionedSamples", "ResumableBatchLoader", "seeded_rngs"]


@contextlib.contextmanager
def seeded_rngs(*keys: int) -> Iterator[None]:
    """Seed Python's, numpy's and torch's CPU global generators from ``keys``; restore them after.

    CUDA generators are not touched: mapping a record runs on the CPU.
    """
    state = np.random.SeedSequence([int(k) for k in keys]).generate_state(4, dtype=np.uint32)
    saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
    random.seed(int(state[0]))
    np.random.seed(state[1:3])
    torch.default_generator.manual_seed(int(state[3]))
    try:
        yield
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
        torch.set_rng_state(saved[2])


class PositionedSamples(torchdata.IterableDataset):
    """``(position, index, dataset[index])`` for positions ``start, start + 1, ...`` of ``sampler``'s
    stream, each mapped under :func:`seeded_rngs` ``(seed, rank, position)``.

    In ``DataLoader`` workers, worker ``w`` of ``W`` takes positions ``start + w, start + w + W...``;
    the ``DataLoader`` returns them round-robin, so the main process sees the stream in order.
    """

    def __init__(self, dataset: Any, sampler: Any, seed: int, start: int = 0) -> None:
        self.dataset, self.sampler, self.seed, self.start = dataset, sampler, seed, start
        self.rank = comm.get_rank()

    def __iter__(self) -> Iterator[tuple[int, int, Any]]:
        info = torchdata.get_worker_info()
        worker, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        first = self.start + worker
        indices = itertools.islice(iter(self.sampler), first, None, num_workers)
        for position, index in zip(itertools.count(first, num_workers), indices):
            yield position, int(index), self.map(position, int(index))

    def map(self, position: int, index: int) -> Any:
        with seeded_rngs(self.seed, self.rank, position):
            return self.dataset[index]


def _sampler_state(sampler: Any) -> dict[str, Any] | None:
    state_dict = getattr(sampler, "state_dict", None)
    return state_dict() if callable(state_dict) else None


class ResumableBatchLoader:
    """An infinite iterable of batches (``collate_fn`` of ``batch_size`` mapped records) whose
    position is saved by ``state_dict()`` and restored by ``load_state_dict()``.

    With ``aspect_ratio_grouping``, a batch holds only landscape (width > height) or only
    portrait records, as detectron2's ``AspectRatioGroupedDataset``; otherwise consecutive
    records. ``loader_kwargs`` go to the ``DataLoader`` that maps records in ``num_workers``
    processes. A new ``iter()`` starts where the last one stopped (or where
    ``load_state_dict`` says); once a finite sampler's stream is exhausted, from its start.
    """

    def __init__(
        self,
        dataset: Any,
        sampler: Any,
        batch_size: int,
        *,
        aspect_ratio_grouping: bool,
        num_workers: int = 0,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        seed: int | None = None,
        worker_init_fn: Callable[[int], None] | None = None,
        **loader_kwargs: Any,
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.dataset = dataset
        self.sampler = sampler
        self.batch_size = batch_size
        self.aspect_ratio_grouping = aspect_ratio_grouping
        self.num_workers = num_workers
        self.collate_fn = collate_fn
        self.seed = int(comm.shared_random_seed() if seed is None else seed)
        self._worker_init_fn = worker_init_fn
        self._loader_kwargs = loader_kwargs
        self._position = 0  # the next stream position the main process has not received
        self._pending: list[tuple[int, int]] = []  # (position, index) received but not batched yet

    # -- state ------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Where the last batch returned left the stream (plain ints: a weights-only checkpoint holds it)."""
        state: dict[str, Any] = {
            "seed": self.seed,
            "position": self._position,
            "pending": [list(item) for item in self._pending],
        }
        sampler_state = _sampler_state(self.sampler)
        if sampler_state is not None:
            state["sampler"] = sampler_state
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state`` (from :meth:`state_dict`) with the next ``iter()``."""
        self.seed = int(state["seed"])
        self._position = int(state["position"])
        self._pending = [(int(p), int(i)) for p, i in state["pending"]]
        if "sampler" in state:
            load = getattr(self.sampler, "load_state_dict", None)
            if not callable(load):
                raise TypeError(
                    f"the saved loader state has a sampler state, but {type(self.sampler).__name__} cannot load one"
                )
            load(state["sampler"])

    # -- iteration --------------------------------------------------------------------------

    def _records(self, samples: PositionedSamples) -> Iterator[tuple[int, int, Any]]:
        if self.num_workers == 0:
            return iter(samples)
        loader = torchdata.DataLoader(
            samples,
            num_workers=self.num_workers,
            batch_size=1,
            collate_fn=operator.itemgetter(0),
            worker_init_fn=self._worker_init_fn,
            # The workers' base seed comes from this generator, not the global one the model uses.
            generator=torch.Generator().manual_seed(self.seed),
            **self._loader_kwargs,
        )
        return iter(loader)

    def _bucket_of(self, record: Any) -> int:
        if not self.aspect_ratio_grouping:
            return 0
        return 0 if record["width"] > record["height"] else 1

    def __len__(self) -> int:
        """The number of full batches of a finite sampler (the last, short one is dropped).

        With aspect-ratio grouping the count depends on the records' shapes, so there is none.
        """
        if self.aspect_ratio_grouping or not hasattr(self.sampler, "__len__"):
            raise TypeError(f"{type(self).__name__} has no length with this sampler or with aspect-ratio grouping")
        return len(self.sampler) // self.batch_size

    def __iter__(self) -> Iterator[Any]:
        samples = PositionedSamples(self.dataset, self.sampler, self.seed, start=self._position)
        buckets: list[list[tuple[int, int, Any]]] = [[], []]
        # Records that were waiting in buckets when the state was saved: mapped again, identically.
        for position, index in self._pending:
            record = samples.map(position, index)
            buckets[self._bucket_of(record)].append((position, index, record))
        for position, index, record in self._records(samples):
            bucket = buckets[self._bucket_of(record)]
            bucket.append((position, index, record))
            self._position = position + 1
            if len(bucket) < self.batch_size:
                self._pending = sorted(item[:2] for b in buckets for item in b)
                continue
            batch = [item[2] for item in bucket]
            bucket.clear()
            self._pending = sorted(item[:2] for b in buckets for item in b)
            yield batch if self.collate_fn is None else self.collate_fn(batch)
        # A finite sampler's stream ran out (records left in buckets are dropped, as drop_last
        # does): the next iter() is a new pass over it, as with a DataLoader.
        self._position, self._pending = 0, []
