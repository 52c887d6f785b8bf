"""``detectron2.data.samplers.grouped_batch_sampler``: ``modet.data.samplers.grouped_batch_sampler`` under detectron2's module path (the same objects)."""

from modet.data.samplers.grouped_batch_sampler import *  # noqa: F403
