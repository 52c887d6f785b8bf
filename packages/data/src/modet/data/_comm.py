"""The few torch.distributed queries the loaders need (modet-data does not depend on modet-engine)."""

from __future__ import annotations

import numpy as np
import torch.distributed as dist


def get_world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def get_rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def shared_random_seed() -> int:
    """A random seed that every process agrees on (rank 0's draw)."""
    seed = int(np.random.randint(2**31))
    if get_world_size() == 1:
        return seed
    seeds: list[int | None] = [None] * get_world_size()
    dist.all_gather_object(seeds, seed)
    return int(seeds[0])  # type: ignore[arg-type]
