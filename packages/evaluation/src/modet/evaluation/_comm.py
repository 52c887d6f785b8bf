"""torch.distributed helpers for gathering results (modet-evaluation does not depend on modet-engine)."""

from __future__ import annotations

from typing import Any

import torch.distributed as dist


def is_dist() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_world_size() -> int:
    return dist.get_world_size() if is_dist() else 1


def get_rank() -> int:
    return dist.get_rank() if is_dist() else 0


def is_main_process() -> bool:
    return get_rank() == 0


def synchronize() -> None:
    if get_world_size() > 1:
        dist.barrier()


def gather(data: Any, dst: int = 0) -> list[Any]:
    """``[data of rank 0, rank 1, ...]`` on ``dst``, ``[]`` on the other ranks."""
    world_size = get_world_size()
    if world_size == 1:
        return [data]
    output: list[Any] | None = [None] * world_size if get_rank() == dst else None
    dist.gather_object(data, output, dst=dst)
    return output if output is not None else []
