"""``detectron2.data.samplers.distributed_sampler``: ``modet.data.samplers.distributed_sampler`` under detectron2's module path (the same objects)."""

from modet.data.samplers.distributed_sampler import *  # noqa: F403
