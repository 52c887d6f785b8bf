"""detectron2's ``detectron2.utils.comm``: rank, world size and collectives over torch.distributed.

The one copy for every package (data's samplers, evaluation's gathering, checkpoint's main-process
saves, engine's trainers); ``modet.engine.comm`` re-exports it under detectron2's import path.
This module needs torch, which modet.core itself does not: import it only from packages that
depend on torch (``import modet.core`` never loads it).

Every helper works in a plain single process too (world size 1, rank 0), so code written for
distributed training runs unchanged on a laptop. Under ``torchrun`` the local rank and size
come from its ``LOCAL_RANK``/``LOCAL_WORLD_SIZE`` variables when ``launch`` made no local group.
"""

from __future__ import annotations

import functools
import os
from typing import Any

__all__ = [
    "all_gather",
    "create_local_process_group",
    "gather",
    "get_local_process_group",
    "get_local_rank",
    "get_local_size",
    "get_rank",
    "get_world_size",
    "is_main_process",
    "reduce_dict",
    "reset_process_groups",
    "shared_random_seed",
    "synchronize",
    "unwrap_model",
]

import numpy as np
import torch
import torch.distributed as dist

_LOCAL_PROCESS_GROUP: dist.ProcessGroup | None = None
_MISSING_LOCAL_PG = "the local process group does not exist: start processes with modet.engine.launch or torchrun"


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_world_size() -> int:
    return dist.get_world_size() if _distributed() else 1


def get_rank() -> int:
    return dist.get_rank() if _distributed() else 0


def get_local_rank() -> int:
    """Rank of this process among the processes of its machine."""
    if not _distributed():
        return 0
    if _LOCAL_PROCESS_GROUP is not None:
        return dist.get_rank(group=_LOCAL_PROCESS_GROUP)
    if "LOCAL_RANK" in os.environ:
        return int(os.environ["LOCAL_RANK"])
    raise RuntimeError(_MISSING_LOCAL_PG)


def get_local_size() -> int:
    """Number of processes on this machine."""
    if not _distributed():
        return 1
    if _LOCAL_PROCESS_GROUP is not None:
        return dist.get_world_size(group=_LOCAL_PROCESS_GROUP)
    if "LOCAL_WORLD_SIZE" in os.environ:
        return int(os.environ["LOCAL_WORLD_SIZE"])
    raise RuntimeError(_MISSING_LOCAL_PG)


def is_main_process() -> bool:
    return get_rank() == 0


def create_local_process_group(num_workers_per_machine: int) -> None:
    """Create the group of the processes on this machine (every process must call it).

    Assumes ``num_workers_per_machine`` processes on each machine, ranked machine by machine.
    """
    global _LOCAL_PROCESS_GROUP
    if _LOCAL_PROCESS_GROUP is not None:
        raise RuntimeError("the local process group was already created")
    world_size = get_world_size()
    if world_size % num_workers_per_machine != 0:
        raise ValueError(
            f"world size {world_size} is not a multiple of {num_workers_per_machine} processes per machine"
        )
    machine_rank = get_rank() // num_workers_per_machine
    for i in range(world_size // num_workers_per_machine):
        ranks = list(range(i * num_workers_per_machine, (i + 1) * num_workers_per_machine))
        group = dist.new_group(ranks)  # every process takes part in creating every group
        if i == machine_rank and isinstance(group, dist.ProcessGroup):  # a member gets the group itself
            _LOCAL_PROCESS_GROUP = group


def reset_process_groups() -> None:
    """Forget the groups made by this module (call before ``destroy_process_group``)."""
    global _LOCAL_PROCESS_GROUP
    _LOCAL_PROCESS_GROUP = None
    _get_global_gloo_group.cache_clear()


def get_local_process_group() -> dist.ProcessGroup:
    if _LOCAL_PROCESS_GROUP is None:
        raise RuntimeError(_MISSING_LOCAL_PG)
    return _LOCAL_PROCESS_GROUP


def synchronize() -> None:
    """Barrier across all processes (no-op in a single process)."""
    if get_world_size() == 1:
        return
    if dist.get_backend() == dist.Backend.NCCL and torch.cuda.is_available():
        dist.barrier(device_ids=[torch.cuda.current_device()])
    else:
        dist.barrier()


@functools.lru_cache
def _get_global_gloo_group() -> dist.ProcessGroup:
    # Objects are gathered through a CPU (gloo) group, keeping GPU memory free.
    group = dist.new_group(backend="gloo") if dist.get_backend() == dist.Backend.NCCL else dist.group.WORLD
    if not isinstance(group, dist.ProcessGroup):
        raise RuntimeError("torch.distributed is not initialized: no process group to gather over")
    return group


def all_gather(data: Any, group: dist.ProcessGroup | None = None) -> list[Any]:
    """Every process's ``data`` (any picklable object), in rank order, on every process."""
    if get_world_size() == 1:
        return [data]
    if group is None:
        group = _get_global_gloo_group()
    world_size = dist.get_world_size(group)
    if world_size == 1:
        return [data]
    output: list[Any] = [None] * world_size
    dist.all_gather_object(output, data, group=group)
    return output


def gather(data: Any, dst: int = 0, group: dist.ProcessGroup | None = None) -> list[Any]:
    """Every process's ``data`` on rank ``dst`` (in rank order); an empty list on the others."""
    if get_world_size() == 1:
        return [data]
    if group is None:
        group = _get_global_gloo_group()
    world_size = dist.get_world_size(group=group)
    if world_size == 1:
        return [data]
    if dist.get_rank(group=group) == dst:
        output: list[Any] = [None] * world_size
        dist.gather_object(data, output, dst=dst, group=group)
        return output
    dist.gather_object(data, None, dst=dst, group=group)
    return []


def shared_random_seed() -> int:
    """A random integer in [0, 2**31) that is the same on every process."""
    seed = int(np.random.randint(2**31))
    return all_gather(seed)[0]


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside ``DistributedDataParallel`` / ``DataParallel``; any other model as it is."""
    wrappers = (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)
    return model.module if isinstance(model, wrappers) else model


def reduce_dict(input_dict: dict[str, torch.Tensor], average: bool = True) -> dict[str, torch.Tensor]:
    """Sum (or average) same-keyed scalar tensors over processes; the result is exact on rank 0."""
    world_size = get_world_size()
    if world_size < 2:
        return input_dict
    with torch.no_grad():
        names = sorted(input_dict)
        values = torch.stack([input_dict[k] for k in names], dim=0)
        dist.reduce(values, dst=0)
        if dist.get_rank() == 0 and average:
            values /= world_size
        return dict(zip(names, values))
