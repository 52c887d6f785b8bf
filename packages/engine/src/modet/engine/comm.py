"""``detectron2.utils.comm`` at the path detectron2 users look for: the helpers of ``modet.core.comm``."""

from modet.core.comm import (
    all_gather,
    create_local_process_group,
    gather,
    get_local_process_group,
    get_local_rank,
    get_local_size,
    get_rank,
    get_world_size,
    is_main_process,
    reduce_dict,
    reset_process_groups,
    shared_random_seed,
    synchronize,
    unwrap_model,
)

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
